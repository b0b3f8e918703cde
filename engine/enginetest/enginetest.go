// Package enginetest holds what the tests of the engine's own packages
// (the journal, the agents) share.
package enginetest

import (
	"slices"
	"sync"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// Recorder is a Sink that keeps every event.
type Recorder struct {
	mu  sync.Mutex
	evs []engine.Event
}

func (r *Recorder) Emit(ev engine.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, ev)
}

// Events is what it has kept so far.
func (r *Recorder) Events() []engine.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.evs)
}

// Index is the position of the first event called name of task taskID in
// evs, or -1.
func Index(evs []engine.Event, name, taskID string) int {
	return slices.IndexFunc(evs, func(ev engine.Event) bool { return ev.Event == name && ev.Data.TaskID == taskID })
}
