package rpc

import (
	"strings"
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

// A workflow that requires the sandbox on a system that cannot fence is
// refused with a code of its own and what to do, and nothing runs.
func TestSandboxRequiredWithoutLandlock(t *testing.T) {
	noLandlock := func(*workspace.Workspace) (engine.SandboxSettings, []string, error) {
		return engine.SandboxSettings{Available: func() int { return 0 }}, nil, nil
	}
	c := startServer(t, Options{Sandbox: noLandlock})
	c.initialize(t.TempDir(), map[string]any{"toasts": "none"})
	wf := "name: fenced\nsandbox: required\ntasks:\n  - id: a\n    worker: {command: 'true'}\n"
	resp, _ := c.call("mimir/execute", map[string]any{"inline": wf})
	if errorCode(resp) != -31008 || !strings.Contains(errorMessage(resp), "no Landlock") {
		t.Fatalf("execute = %v", resp)
	}
}
