package rpc

import (
	"encoding/json"
	"strings"
	"testing"
)

// A problem deep in the params is named by its path, with the fields
// known there.
func TestParamsProblemNested(t *testing.T) {
	type inner struct {
		Parallelism int    `json:"parallelism"`
		Target      string `json:"target,omitempty"`
	}
	var v struct {
		Options []inner `json:"options"`
	}
	for params, want := range map[string]string{
		`{"options": [{"parallel": 2}]}`:      `unknown field "options.0.parallel" (known fields: parallelism, target)`,
		`{"options": [{"parallelism": "2"}]}`: `options.0.parallelism must be a whole number, not a string`,
		`{"options": `:                        `not valid JSON`,
	} {
		err := decode("m", json.RawMessage(params), &v)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "Go ") {
			t.Errorf("%s: %v, want %q", params, err, want)
		}
	}
}
