package rpc

import (
	"testing"
)

// mimir/downloads lists the saves, newest first, each with its files'
// outcomes, a page at a time.
func TestDownloadsHistory(t *testing.T) {
	ws := workspaceWith(t, "ok.yaml", "name: ok\ntasks:\n  - {id: a, worker: {command: 'echo hi > a.txt'}}\n")
	c := startServer(t, Options{})
	c.initialize(ws, map[string]any{"toasts": "none"})
	id := c.result("mimir/execute", map[string]any{"workflow": "ok.yaml"})["executionId"].(string)
	c.until(isEvent("execution-complete"))
	for range 3 {
		c.result("mimir/saveDeliverables", map[string]any{"executionId": id})
	}
	r := c.result("mimir/downloads", map[string]any{"limit": 2})
	page := r["downloads"].([]any)
	if len(page) != 2 || r["nextCursor"] == nil {
		t.Fatalf("first page: %v", r)
	}
	newest := page[0].(map[string]any)
	files := newest["files"].([]any)
	if newest["executionId"] != id || newest["saved"] != float64(1) || len(files) != 1 || files[0].(map[string]any)["status"] != "unchanged" || newest["time"] == "" {
		t.Errorf("newest save: %v", newest)
	}
	r = c.result("mimir/downloads", map[string]any{"limit": 2, "cursor": r["nextCursor"]})
	page = r["downloads"].([]any)
	if len(page) != 1 || r["nextCursor"] != nil {
		t.Fatalf("second page: %v", r)
	}
	if st := page[0].(map[string]any)["files"].([]any)[0].(map[string]any)["status"]; st != "saved" {
		t.Errorf("the first save's file: %v", st)
	}
	if resp, _ := c.call("mimir/downloads", map[string]any{"cursor": "x"}); errorCode(resp) != -32602 {
		t.Errorf("a bad cursor: %v", resp)
	}
}
