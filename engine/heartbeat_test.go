package engine

import (
	"context"
	"sync"
	"testing"
	"time"
)

// A long agent call says, every HeartbeatEvery, that it goes on and for
// how long; none comes once it has returned.
func TestTaskHeartbeat(t *testing.T) {
	var once sync.Once
	enough := make(chan struct{})
	a := funcAgent{work: func(ctx context.Context, j *Job) (WorkResult, error) {
		// Busy until two heartbeats came, however long that takes.
		select {
		case <-enough:
			return WorkResult{}, nil
		case <-ctx.Done():
			return WorkResult{}, ctx.Err()
		}
	}}
	count := 0
	sink := SinkFunc(func(ev Event) {
		if ev.Event == EventTaskHeartbeat {
			count++
			if count == 2 {
				once.Do(func() { close(enough) })
			}
		}
	})
	ex, evs := run(t, &Workflow{Name: "beat", Tasks: []*Task{task("a")}}, a, func(o *Options) {
		o.HeartbeatEvery = 5 * time.Millisecond
		o.Sink = teeSink{o.Sink, sink}
	})
	if s := ex.Summary().Status; s != StatusCompleted {
		t.Fatalf("status %s", s)
	}
	i, done := index(evs, EventTaskHeartbeat, "a"), index(evs, EventWorkerComplete, "a")
	if i < 0 || i > done {
		t.Fatalf("events %v", names(evs, "a"))
	}
	hb := evs[i].Data
	if hb.Phase != PhaseWorker || hb.Attempt != 1 || hb.DurationMs == nil || *hb.DurationMs < 5 || hb.Message == "" {
		t.Errorf("heartbeat %+v", hb)
	}
	for _, ev := range evs[done:] {
		if ev.Event == EventTaskHeartbeat && ev.Data.Phase == PhaseWorker {
			t.Errorf("a worker heartbeat after the worker returned: %+v", ev)
		}
	}
}

type teeSink []Sink

func (s teeSink) Emit(ev Event) {
	for _, k := range s {
		k.Emit(ev)
	}
}
