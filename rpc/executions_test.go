package rpc

import (
	"slices"
	"testing"
)

// mimir/executions pages through the history, newest first: a client
// follows nextCursor until there is none, and sees each execution once.
func TestExecutionsArePaged(t *testing.T) {
	ws := workspaceWith(t, "ok.yaml", "name: ok\ntasks:\n  - {id: a, worker: {command: 'echo hi > a.txt'}}\n")
	c := startServer(t, Options{})
	c.initialize(ws, map[string]any{"toasts": "none"})
	var ids []string
	for range 5 {
		ids = append(ids, c.result("mimir/execute", map[string]any{"workflow": "ok.yaml"})["executionId"].(string))
		c.until(isEvent("execution-complete"))
	}
	slices.Reverse(ids)
	var listed []string
	params := map[string]any{"limit": 2}
	for pages := 1; ; pages++ {
		r := c.result("mimir/executions", params)
		page := r["executions"].([]any)
		if len(page) > 2 {
			t.Fatalf("a page of 2 holds %d", len(page))
		}
		for _, e := range page {
			listed = append(listed, e.(map[string]any)["executionId"].(string))
		}
		next, ok := r["nextCursor"].(string)
		if !ok {
			if pages != 3 {
				t.Errorf("%d pages of 2 for 5 executions", pages)
			}
			break
		}
		if pages > 5 {
			t.Fatal("the cursor never ends")
		}
		params = map[string]any{"limit": 2, "cursor": next}
	}
	if !slices.Equal(listed, ids) {
		t.Errorf("paged %v, want %v", listed, ids)
	}
	for _, bad := range []map[string]any{{"cursor": "nope"}, {"cursor": "0"}, {"limit": 100000}} {
		if resp, _ := c.call("mimir/executions", bad); errorCode(resp) != -32602 {
			t.Errorf("mimir/executions %v: %v, want invalid params", bad, resp)
		}
	}
}
