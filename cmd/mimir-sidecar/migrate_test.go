package main

import (
	"os"
	"path/filepath"
	"testing"
)

// A sidecar started on a workspace whose journal an older sidecar wrote
// (schema 2: engine/journal/testdata) migrates it and lists its history,
// the execution a crash cut off found interrupted, each execution's
// events replayed as they were.
func TestSidecarMigratesAnOldJournal(t *testing.T) {
	ws := t.TempDir()
	b, err := os.ReadFile("../../engine/journal/testdata/journal-v2.db")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(ws, ".mimir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ws, ".mimir", "journal.db"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	p := startSidecar(t, ws)
	r, _ := p.call("mimir/executions", map[string]any{"limit": 3})
	page, _ := r["executions"].([]any)
	next, _ := r["nextCursor"].(string)
	if len(page) != 3 || next == "" {
		t.Fatalf("first page of 3: %v", r)
	}
	r, _ = p.call("mimir/executions", map[string]any{"limit": 3, "cursor": next})
	rest, _ := r["executions"].([]any)
	if len(rest) != 1 || r["nextCursor"] != nil {
		t.Fatalf("second page: %v", r)
	}
	var got []string
	for _, e := range append(page, rest...) {
		m := e.(map[string]any)
		got = append(got, m["workflow"].(string)+" "+m["status"].(string))
	}
	want := []string{"two interrupted", "two completed", "fails failed", "two completed"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("listed %v, want %v", got, want)
		}
	}
	failed := page[2].(map[string]any)["executionId"].(string)
	info, _ := p.call("mimir/execution", map[string]any{"executionId": failed})
	if tasks, _ := info["taskList"].([]any); len(tasks) != 3 {
		t.Errorf("the failed execution's tasks: %v", info)
	}
	if evs := replay(p, 0, failed); len(evs) != 11 || evs[0].Event != "execution-start" || evs[10].Event != "execution-complete" {
		t.Errorf("replayed %d events of %s", len(evs), failed)
	}
}
