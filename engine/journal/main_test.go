package journal

import (
	"context"
	"os"
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/internal/launcher/launchertest"
)

// TestMain lets this test binary serve as the launcher of the commands its
// tests run (see launchertest.Init).
func TestMain(m *testing.M) {
	launchertest.Init()
	os.Exit(m.Run())
}

// funcAgent is an in-process agent whose behaviour a test scripts.
type funcAgent struct {
	work  func(ctx context.Context, j *engine.Job) (engine.WorkResult, error)
	check func(ctx context.Context, j *engine.Job) (engine.Verdict, error)
}

func (a funcAgent) Work(ctx context.Context, j *engine.Job) (engine.WorkResult, error) {
	if a.work == nil {
		return engine.WorkResult{}, nil
	}
	return a.work(ctx, j)
}

func (a funcAgent) Check(ctx context.Context, j *engine.Job) (engine.Verdict, error) {
	if a.check == nil {
		return engine.Verdict{Passed: true, Score: 100}, nil
	}
	return a.check(ctx, j)
}

// appendEvent journals an event written by hand with the summary a
// runner would pass along with it: running until its execution-complete.
func appendEvent(j *Journal, ev engine.Event, rec *engine.Record) error {
	sum := engine.Summary{ExecutionID: ev.ExecutionID, Workflow: "two", Status: engine.StatusRunning, StartedAt: ev.Time}
	at := ev.Time
	switch ev.Event {
	case engine.EventExecutionComplete:
		sum.Status, sum.FinishedAt = ev.Data.Status, &at
	case engine.EventExecutionInterrupted:
		sum.Status, sum.FinishedAt = engine.StatusInterrupted, &at
	}
	return j.Append(ev, rec, sum)
}
