// Package progress tracks LSP work-done progress, as gopls'
// internal/progress does: a Tracker asks the client for a token, and the
// WorkDone it returns reports begin, report and end on it. The client must
// accept the token before anything is reported on it; what comes while it
// is being asked is kept (begin, updated by the latest report, and end) and
// sent once it has, so the caller never waits for the client's answer.
package progress

import (
	"context"
	"sync"

	"go.lsp.dev/protocol"
)

// Client is the editor end of the progress.
type Client interface {
	// Create asks the client to create token (window/workDoneProgress/create);
	// an error means the client will show nothing on it.
	Create(ctx context.Context, token string) error
	// Notify sends one $/progress value on token.
	Notify(token string, value any)
}

// Tracker starts work-done progress on a client. It owns the goroutines
// that ask for tokens: Wait returns when they have.
type Tracker struct {
	client Client
	asking sync.WaitGroup
}

// NewTracker returns a tracker reporting to client.
func NewTracker(client Client) *Tracker { return &Tracker{client: client} }

// Start asks the client for token and begins the work on it. A nil
// tracker (progress turned off) starts nothing and returns a nil WorkDone,
// on which every method does nothing.
func (t *Tracker) Start(ctx context.Context, token string, begin *protocol.WorkDoneProgressBegin) *WorkDone {
	if t == nil {
		return nil
	}
	begin.Kind = "begin"
	wd := &WorkDone{client: t.client, token: token, pending: []any{begin}}
	t.asking.Add(1)
	go func() {
		defer t.asking.Done()
		wd.created(t.client.Create(ctx, token) == nil)
	}()
	return wd
}

// Wait waits for the client's answers to the tokens asked for (or for the
// contexts given to Start to end).
func (t *Tracker) Wait() {
	if t != nil {
		t.asking.Wait()
	}
}

type state int

const (
	creating state = iota
	ready
	refused
)

// WorkDone is one piece of work's progress.
type WorkDone struct {
	client Client
	token  string

	mu      sync.Mutex
	state   state
	pending []any // begin (with the latest report folded in), then end
}

// Token is the progress token, as the client sees it.
func (wd *WorkDone) Token() string { return wd.token }

// Report says where the work stands.
func (wd *WorkDone) Report(message string, percentage uint32) {
	if wd != nil {
		wd.send(&protocol.WorkDoneProgressReport{Kind: "report", Message: &message, Percentage: &percentage})
	}
}

// End ends the work with a last message.
func (wd *WorkDone) End(message string) {
	if wd != nil {
		wd.send(&protocol.WorkDoneProgressEnd{Kind: "end", Message: &message})
	}
}

// send reports value, or keeps it until the client has accepted the
// token. A report that comes meanwhile is folded into the begin, which
// then says where the work stands: a report sent right behind its begin
// is dropped by some clients (coc.nvim), which had not yet set the
// progress up.
func (wd *WorkDone) send(value any) {
	wd.mu.Lock()
	defer wd.mu.Unlock()
	switch wd.state {
	case ready:
		wd.client.Notify(wd.token, value)
	case creating:
		report, isReport := value.(*protocol.WorkDoneProgressReport)
		if n := len(wd.pending); isReport && n == 1 {
			if begin, ok := wd.pending[0].(*protocol.WorkDoneProgressBegin); ok {
				if report.Message != nil {
					begin.Message = report.Message
				}
				if report.Percentage != nil {
					begin.Percentage = report.Percentage
				}
				return
			}
		}
		wd.pending = append(wd.pending, value)
	}
}

// created records the client's answer to the token and sends what waited.
func (wd *WorkDone) created(ok bool) {
	wd.mu.Lock()
	defer wd.mu.Unlock()
	if !ok {
		wd.state, wd.pending = refused, nil
		return
	}
	wd.state = ready
	for _, v := range wd.pending {
		wd.client.Notify(wd.token, v)
	}
	wd.pending = nil
}
