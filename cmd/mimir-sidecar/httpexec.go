package main

import (
	"errors"
	"fmt"
	"io/fs"

	"go.yaml.in/yaml/v3"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// httpExecute says whether Mimir's POST /api/execute-workflow runs
// workflows: the --http-execute flag, or httpExecute: true in the user's
// own configuration. Never the workspace's: a cloned repository must not
// open a way to run commands.
func httpExecute(flagSet bool) (bool, error) {
	if flagSet {
		return true, nil
	}
	path := engine.UserConfigFile()
	if path == "" {
		return false, nil
	}
	data, err := engine.ReadUserConfig(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var cfg struct {
		HTTPExecute *bool `yaml:"httpExecute"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return false, fmt.Errorf("read httpExecute in %s: %w (it must be true or false)", path, err)
	}
	return cfg.HTTPExecute != nil && *cfg.HTTPExecute, nil
}
