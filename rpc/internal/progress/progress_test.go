package progress

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"go.lsp.dev/protocol"
)

// client answers Create when told to, and records what it is sent.
type client struct {
	answer chan error
	mu     sync.Mutex
	sent   []string
}

func (c *client) Create(ctx context.Context, token string) error {
	select {
	case err := <-c.answer:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *client) Notify(token string, value any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s string
	switch v := value.(type) {
	case *protocol.WorkDoneProgressBegin:
		s = "begin " + v.Title
		if v.Message != nil {
			s += ": " + *v.Message
		}
	case *protocol.WorkDoneProgressReport:
		s = "report " + *v.Message
	case *protocol.WorkDoneProgressEnd:
		s = "end " + *v.Message
	}
	c.sent = append(c.sent, token+" "+s)
}

// What comes before the client accepts the token waits, the latest report
// folded into the begin (a report right behind its begin is lost on some
// clients); what comes after is sent at once.
func TestQueuedUntilAccepted(t *testing.T) {
	c := &client{answer: make(chan error)}
	tr := NewTracker(c)
	wd := tr.Start(t.Context(), "t", &protocol.WorkDoneProgressBegin{Title: "work"})
	wd.Report("one", 10)
	wd.Report("two", 20)
	c.answer <- nil
	tr.Wait()
	wd.Report("three", 30)
	wd.End("done")
	want := []string{"t begin work: two", "t report three", "t end done"}
	if !slices.Equal(c.sent, want) {
		t.Errorf("sent %q, want %q", c.sent, want)
	}
}

// A refused token gets nothing, before or after the answer.
func TestRefused(t *testing.T) {
	c := &client{answer: make(chan error)}
	tr := NewTracker(c)
	wd := tr.Start(t.Context(), "t", &protocol.WorkDoneProgressBegin{Title: "work"})
	wd.Report("one", 10)
	c.answer <- errors.New("no")
	tr.Wait()
	wd.End("done")
	if len(c.sent) != 0 {
		t.Errorf("sent %q on a refused token", c.sent)
	}
}

// A nil tracker is progress turned off: nothing happens.
func TestNilTracker(t *testing.T) {
	var tr *Tracker
	wd := tr.Start(t.Context(), "t", &protocol.WorkDoneProgressBegin{})
	wd.Report("one", 1)
	wd.End("done")
	tr.Wait()
}
