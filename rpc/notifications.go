package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.lsp.dev/protocol"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/notify"
)

const progressPrefix = "mimir/"

// progress is one execution's work-done progress.
type progress struct {
	token    string
	ok       bool // the client accepted the token
	tasks    int
	finished int
}

// forwardEvents sends every event to the client, in seq order, from one
// goroutine: mimir/event, then the execution's progress, then a toast. It
// reads the hub at the client's pace, so a slow editor never slows the
// engine.
func (s *Server) forwardEvents(ctx context.Context) {
	live := map[string]*progress{}
	err := s.hub.Follow(ctx, 0, func(nev notify.Event, reset bool) error {
		if reset {
			s.log.Warn("the editor fell behind; some events were not forwarded", "resumed at", nev.Seq)
		}
		s.notify("mimir/event", nev.JSON)
		var ev engine.Event
		if err := json.Unmarshal(nev.JSON, &ev); err != nil {
			return fmt.Errorf("decode event %d: %w", nev.Seq, err)
		}
		s.reportProgress(ctx, live, &ev)
		s.showToast(&ev)
		return nil
	})
	if ctx.Err() == nil {
		s.log.Debug("event forwarding stopped", "err", err)
	}
}

func (s *Server) showToast(ev *engine.Event) {
	level, text, ok := toast(ev)
	s.mu.Lock()
	setting := s.settings.Toasts
	s.mu.Unlock()
	if !ok || !wanted(setting, level) {
		return
	}
	params, err := protocol.Marshal(&protocol.ShowMessageParams{Type: protocol.MessageType(level), Message: text})
	if err == nil {
		s.notify("window/showMessage", params)
	}
}

func (s *Server) reportProgress(ctx context.Context, live map[string]*progress, ev *engine.Event) {
	s.mu.Lock()
	enabled := s.progress
	s.mu.Unlock()
	if !enabled {
		return
	}
	d := &ev.Data
	if ev.Event == engine.EventExecutionStart {
		p := &progress{token: progressPrefix + ev.ExecutionID}
		if d.Tasks != nil {
			p.tasks = *d.Tasks
		}
		live[ev.ExecutionID] = p
		p.ok = s.createProgress(ctx, p.token)
		if p.ok {
			s.sendProgress(p.token, &protocol.WorkDoneProgressBegin{
				Kind:        "begin",
				Title:       "Mimir: " + d.Workflow,
				Cancellable: ptr(true),
				Message:     ptr(d.Message),
				Percentage:  ptr(uint32(0)),
			})
		}
		return
	}
	p := live[ev.ExecutionID]
	if p == nil || !p.ok {
		return
	}
	var msg string
	switch ev.Event {
	case engine.EventTaskStart:
		msg = d.TaskTitle + " · started"
	case engine.EventWorkerStart, engine.EventQCStart:
		msg = fmt.Sprintf("%s · %s · attempt %d/%d", d.TaskTitle, d.Phase, d.Attempt, d.MaxAttempts)
	case engine.EventTaskComplete, engine.EventTaskFail, engine.EventTaskSkipped:
		p.finished++
		msg = d.Message
	case engine.EventExecutionComplete, engine.EventExecutionCancelled:
		delete(live, ev.ExecutionID)
		s.sendProgress(p.token, &protocol.WorkDoneProgressEnd{Kind: "end", Message: ptr(d.Message)})
		return
	default:
		return
	}
	pct := uint32(0)
	if p.tasks > 0 {
		pct = uint32(p.finished * 100 / p.tasks)
	}
	s.sendProgress(p.token, &protocol.WorkDoneProgressReport{Kind: "report", Message: ptr(msg), Percentage: ptr(pct)})
}

// createProgress asks the client for a progress token; a client that does
// not answer within a few seconds gets no progress for this execution.
func (s *Server) createProgress(ctx context.Context, token string) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	params := &protocol.WorkDoneProgressCreateParams{Token: protocol.String(token)}
	raw, err := protocol.Marshal(params)
	if err != nil {
		return false
	}
	if _, err := s.conn.Call(ctx, "window/workDoneProgress/create", json.RawMessage(raw), nil); err != nil {
		s.log.Info("the client did not create the progress", "token", token, "err", err)
		return false
	}
	return true
}

func (s *Server) sendProgress(token string, value any) {
	v, err := protocol.Marshal(value)
	if err != nil {
		return
	}
	params, err := protocol.Marshal(&protocol.ProgressParams{Token: protocol.String(token), Value: v})
	if err == nil {
		s.notify("$/progress", params)
	}
}

func ptr[T any](v T) *T { return &v }
