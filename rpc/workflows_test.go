package rpc

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
)

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// A workflow created while the workspace is being listed is diagnosed,
// and one that both the listing and the watcher report is diagnosed once.
func TestWatchThenScanMissesNothingAndRepeatsNothing(t *testing.T) {
	var watching func(rel string) // the watcher's callback once it runs
	created := func(rel string) {
		if watching != nil { // a file created before the watcher starts goes unseen, as with fsnotify
			watching(rel)
		}
	}
	watch := func(changed func(rel string)) (io.Closer, error) {
		watching = changed
		return closerFunc(func() error { return nil }), nil
	}
	scan := func(context.Context) ([]string, error) {
		created("a.mimir.yaml")   // seen by both
		created("new.mimir.yaml") // created after the listing read its folder
		return []string{"a.mimir.yaml", "b.mimir.yaml"}, nil
	}
	var diagnosed []string
	diagnose := func(rel string) { diagnosed = append(diagnosed, rel) }

	w := watchThenScan(t.Context(), slog.New(slog.DiscardHandler), watch, scan, diagnose)
	if w == nil {
		t.Fatal("no watcher returned")
	}
	want := []string{"a.mimir.yaml", "b.mimir.yaml", "new.mimir.yaml"}
	if !slices.Equal(diagnosed, want) {
		t.Fatalf("diagnosed %q, want %q", diagnosed, want)
	}
	// Once the listing is done, a change is diagnosed as it comes.
	created("a.mimir.yaml")
	if want = append(want, "a.mimir.yaml"); !slices.Equal(diagnosed, want) {
		t.Fatalf("diagnosed %q after a change, want %q", diagnosed, want)
	}
}
