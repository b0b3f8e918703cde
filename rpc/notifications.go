package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.lsp.dev/protocol"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/internal/events"
	"github.com/mimir-sidecar/mimir-sidecar/notify"
	"github.com/mimir-sidecar/mimir-sidecar/rpc/internal/progress"
)

const progressPrefix = "mimir/"

// Notices about the journal, sent as mimir/event with seq 0: they are not
// an execution's events, are not journaled (the journal is what failed)
// and are never replayed. See docs/protocol.md.
const (
	eventJournalError     = "journal-error"
	eventJournalRecovered = "journal-recovered"
)

// eventSink hands the engine's events to the hub, and tells the client
// when the journal cannot write. Its methods are called by the engine and
// the journal's writer, which must never wait for the client.
type eventSink struct{ s *server }

func (k eventSink) Emit(ev engine.Event) {
	if err := events.Publish(k.s.hub, ev); err != nil {
		k.s.log.Error("an event could not be sent", "err", err)
	}
}

func (k eventSink) JournalFailed(err error) {
	ws, _ := k.s.session()
	dir := ".mimir"
	if ws != nil {
		dir = ws.StateDir()
	}
	text := fmt.Sprintf("Mimir cannot write its journal in %s (%v). Events are held, and executions wait, until it can: free disk space there (or make it writable).", dir, err)
	k.s.journalNotice(eventJournalError, protocol.MessageTypeWarning, err.Error(), text)
}

func (k eventSink) JournalRecovered() {
	k.s.journalNotice(eventJournalRecovered, protocol.MessageTypeInfo, "", "Mimir writes its journal again; the events it held are saved and sent.")
}

// journalNotice sends a journal notice and its toast from a goroutine of
// the server's: the journal's writer must not wait on the client. One
// notice is sent at a time; one that comes while another is still on its
// way is dropped (the client is being told already).
func (s *server) journalNotice(name string, level protocol.MessageType, errText, text string) {
	if !s.noticing.CompareAndSwap(false, true) {
		s.log.Warn("journal notice not sent: the previous one is still on its way", "notice", name)
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.noticing.Store(false)
		ev := engine.Event{Event: name, Time: time.Now().UTC(), Data: engine.EventData{Error: errText, Message: text}}
		if envelope, err := json.Marshal(ev); err == nil {
			s.notify("mimir/event", envelope)
		}
		if params, err := protocol.Marshal(&protocol.ShowMessageParams{Type: level, Message: text}); err == nil {
			s.notify("window/showMessage", params)
		}
	}()
}

// execProgress is one execution's work-done progress: where it stands, in
// tasks finished.
type execProgress struct {
	wd       *progress.WorkDone
	tasks    int
	finished map[string]bool // tasks that completed, failed or were skipped
}

// forwarder is the state of forwardEvents: the progress of the executions
// it has seen start.
type forwarder struct {
	progress *progress.Tracker // nil when the client shows no progress
	live     map[string]*execProgress
}

// forwardEvents sends every event after seq from to the client, in seq
// order, from one goroutine: mimir/event, then the execution's progress,
// then a toast. It reads at the client's pace, so a slow editor never slows
// the engine; one that falls so far behind that the hub no longer holds
// what it missed catches up from the journal.
func (s *server) forwardEvents(ctx context.Context, from uint64) {
	f := &forwarder{live: map[string]*execProgress{}}
	s.mu.Lock()
	if s.progress {
		f.progress = progress.NewTracker(progressClient{s})
	}
	journal := s.journal
	s.mu.Unlock()
	// The progress tokens asked for are the forwarder's to wait for.
	defer f.progress.Wait()
	cur := notify.NewCursor(ctx, s.hub, events.Backlog(journal), from)
	batch := make([]notify.Event, 0, 64)
	for {
		evs, gap, err := cur.Next(ctx, batch[:0], cap(batch))
		if gap != nil {
			s.log.Warn("the editor fell behind and missed events", "gap", gap.String())
		}
		for _, ev := range evs {
			if err := s.forward(ctx, f, ev); err != nil {
				s.log.Warn("forward an event", "seq", ev.Seq, "err", err)
			}
		}
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, notify.ErrClosed) {
				s.log.Debug("event forwarding stopped", "err", err)
			}
			return
		}
	}
}

func (s *server) forward(ctx context.Context, f *forwarder, nev notify.Event) error {
	s.notify("mimir/event", nev.JSON)
	// The engine's own value when the hub has it; decoded only for what
	// the journal replays.
	ev, ok := nev.Value.(engine.Event)
	if !ok {
		if err := json.Unmarshal(nev.JSON, &ev); err != nil {
			return fmt.Errorf("decode event %d: %w", nev.Seq, err)
		}
	}
	s.reportProgress(ctx, f, &ev)
	s.showToast(&ev)
	return nil
}

func (s *server) showToast(ev *engine.Event) {
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

func (s *server) reportProgress(ctx context.Context, f *forwarder, ev *engine.Event) {
	if f.progress == nil {
		return
	}
	d := &ev.Data
	if ev.Event == engine.EventExecutionStart {
		p := &execProgress{finished: map[string]bool{}}
		if d.Tasks != nil {
			p.tasks = *d.Tasks
		}
		if d.Resumed {
			// A resumed execution reruns only what had not completed.
			_, runner := s.session()
			if ex, ok := runner.Get(ev.ExecutionID); ok {
				for _, t := range ex.Info().TaskList {
					if t.Status == engine.TaskCompleted {
						p.finished[t.ID] = true
					}
				}
			}
		}
		f.live[ev.ExecutionID] = p
		p.wd = f.progress.Start(ctx, progressPrefix+ev.ExecutionID, &protocol.WorkDoneProgressBegin{
			Title:       "Mimir: " + d.Workflow,
			Cancellable: ptr(true),
			Message:     ptr(d.Message),
			Percentage:  ptr(p.percentage()),
		})
		return
	}
	p := f.live[ev.ExecutionID]
	if p == nil {
		return
	}
	var msg string
	switch ev.Event {
	case engine.EventTaskStart:
		msg = d.TaskTitle + " · started"
	case engine.EventWorkerStart, engine.EventQCStart:
		msg = fmt.Sprintf("%s · %s · attempt %d/%d", d.TaskTitle, d.Phase, d.Attempt, d.MaxAttempts)
	case engine.EventTaskHeartbeat:
		var ms int64
		if d.DurationMs != nil {
			ms = *d.DurationMs
		}
		msg = fmt.Sprintf("%s · %s · %s", d.TaskTitle, d.Phase, (time.Duration(ms) * time.Millisecond).Round(time.Second))
	case engine.EventTaskWaiting:
		msg = d.TaskTitle + " · ⏳ waiting for a worker"
	case engine.EventWorkerToolCall, engine.EventAgentPermission:
		// What an agent is doing, as it does it: the bar's message is
		// where an editor shows it without opening anything.
		msg = d.TaskTitle + " · " + d.Message
	case engine.EventTaskComplete, engine.EventTaskFail, engine.EventTaskSkipped:
		p.finished[d.TaskID] = true
		msg = d.Message
	case engine.EventExecutionComplete, engine.EventExecutionCancelled, engine.EventExecutionInterrupted:
		delete(f.live, ev.ExecutionID)
		p.wd.End(d.Message)
		return
	default:
		return
	}
	p.wd.Report(msg, p.percentage())
}

func (p *execProgress) percentage() uint32 {
	if p.tasks <= 0 {
		return 0
	}
	return uint32(min(len(p.finished), p.tasks) * 100 / p.tasks)
}

// progressClient is the editor end of the progress tracker.
type progressClient struct{ s *server }

// Create asks the client for a progress token; a client that does not
// answer within a few seconds gets no progress for this execution.
func (c progressClient) Create(ctx context.Context, token string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	params := &protocol.WorkDoneProgressCreateParams{Token: protocol.String(token)}
	raw, err := protocol.Marshal(params)
	if err != nil {
		return fmt.Errorf("encode progress token %s: %w", token, err)
	}
	if _, err := c.s.conn.Call(ctx, "window/workDoneProgress/create", json.RawMessage(raw), nil); err != nil {
		c.s.log.Info("the client did not create the progress", "token", token, "err", err)
		return fmt.Errorf("create progress %s: %w", token, err)
	}
	return nil
}

func (c progressClient) Notify(token string, value any) {
	v, err := protocol.Marshal(value)
	if err != nil {
		return
	}
	params, err := protocol.Marshal(&protocol.ProgressParams{Token: protocol.String(token), Value: v})
	if err == nil {
		c.s.notify("$/progress", params)
	}
}

func ptr[T any](v T) *T { return &v }
