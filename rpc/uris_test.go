package rpc

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/internal/fileuri"
)

// An editor may name a workflow by its file URI (file:///C:/… on Windows)
// where a path is asked for: mimir.execute takes it as the path it names.
func TestExecuteCommandTakesAFileURI(t *testing.T) {
	ws := exampleWorkspace(t)
	c := startServer(t, Options{})
	c.initialize(ws, map[string]any{"toasts": "none"})
	u := fileuri.FromPath(filepath.Join(ws, filepath.FromSlash(exampleWorkflow)))
	r := c.result("workspace/executeCommand", map[string]any{"command": "mimir.execute", "arguments": []any{u}})
	if id, _ := r["executionId"].(string); !strings.HasPrefix(id, "ex_") {
		t.Fatalf("mimir.execute %s = %v", u, r)
	}
	c.until(isEvent("execution-complete"))
}
