package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/notify"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

type printer interface {
	print(ev notify.Event) error
}

// jsonPrinter writes each envelope on a line of its own, for scripts.
type jsonPrinter struct{ w io.Writer }

func (p jsonPrinter) print(ev notify.Event) error {
	_, err := fmt.Fprintf(p.w, "%s\n", ev.JSON)
	return err
}

// textPrinter writes progress a person can follow: each event's message,
// prefixed with its task, and a failed QC's gap in full.
type textPrinter struct {
	w  io.Writer
	st style

	// On a terminal (st.live), a status line under the events says which
	// agents are at work and for how long, redrawn by tick.
	mu      sync.Mutex
	running map[string]activity // by task
	status  bool                // a status line is on screen
}

// activity is an agent at work on a task.
type activity struct {
	phase string
	since time.Time
}

func (p *textPrinter) print(nev notify.Event) error {
	var ev engine.Event
	if err := json.Unmarshal(nev.JSON, &ev); err != nil {
		return fmt.Errorf("print event %d: %w", nev.Seq, err)
	}
	d := ev.Data
	var b strings.Builder
	switch ev.Event {
	case engine.EventExecutionStart:
		// No more run at once than there are tasks: a one-task workflow
		// runs nothing "2 at a time".
		if d.Tasks != nil && *d.Tasks < 2 {
			fmt.Fprintf(&b, "%s  [%s]\n", d.Message, ev.ExecutionID)
		} else {
			fmt.Fprintf(&b, "%s  [%s, %d at a time]\n", d.Message, ev.ExecutionID, min(d.Parallelism, ptrOr(d.Tasks, d.Parallelism)))
		}
	case engine.EventWorkerStart:
		fmt.Fprintf(&b, "[%s] %s (attempt %d/%d)\n", d.TaskID, d.Message, d.Attempt, d.MaxAttempts)
	case engine.EventTaskHeartbeat:
		if p.st.live {
			return nil // the status line says it, second by second
		}
		fmt.Fprintf(&b, "[%s] %s\n", d.TaskID, d.Message)
	case engine.EventQCComplete, engine.EventTaskFail:
		fmt.Fprintf(&b, "[%s] %s\n", d.TaskID, d.Message)
		if d.Gap != nil && (d.Passed == nil || !*d.Passed) {
			writeGap(&b, d.Gap)
		}
	case engine.EventWorkerComplete:
		fmt.Fprintf(&b, "[%s] %s\n", d.TaskID, d.Message)
		if d.OK != nil && !*d.OK && d.Output != "" {
			writeIndented(&b, "Output:", strings.Split(strings.TrimSpace(d.Output), "\n"))
		}
	case engine.EventDeliverablesSaved:
		fmt.Fprintln(&b, d.Message)
		var results []workspace.FileResult
		if raw, err := json.Marshal(d.Results); err == nil && json.Unmarshal(raw, &results) == nil {
			b.WriteString(describeSave(results, d.Error))
		}
	case engine.EventTaskComplete:
		fmt.Fprintf(&b, "[%s] %s\n", d.TaskID, d.Message)
		if d.Changes != nil {
			for _, f := range d.Changes.Files {
				fmt.Fprintf(&b, "      %s %s\n", strings.ToUpper(f.Status[:1]), f.Path)
			}
		}
	case engine.EventChangesApplied:
		fmt.Fprintln(&b, d.Message)
		var files []workspace.AppliedFile
		if raw, err := json.Marshal(d.Results); err == nil && json.Unmarshal(raw, &files) == nil {
			b.WriteString(describeApply(workspace.ApplyReport{Files: files}))
		}
	default:
		if d.TaskID != "" {
			fmt.Fprintf(&b, "[%s] %s\n", d.TaskID, d.Message)
		} else {
			fmt.Fprintln(&b, d.Message)
		}
	}
	if !p.st.live {
		_, err := io.WriteString(p.w, p.st.paint(b.String()))
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.track(ev)
	_, err := io.WriteString(p.w, p.clearStatus()+p.st.paint(b.String())+p.statusLine(time.Now()))
	return err
}

// track notes which agents are at work after ev.
func (p *textPrinter) track(ev engine.Event) {
	if p.running == nil {
		p.running = map[string]activity{}
	}
	switch ev.Event {
	case engine.EventWorkerStart:
		p.running[ev.Data.TaskID] = activity{phase: "worker", since: time.Now()}
	case engine.EventQCStart:
		p.running[ev.Data.TaskID] = activity{phase: "QC", since: time.Now()}
	case engine.EventWorkerComplete, engine.EventQCComplete, engine.EventTaskComplete, engine.EventTaskFail, engine.EventTaskSkipped:
		delete(p.running, ev.Data.TaskID)
	case engine.EventExecutionComplete, engine.EventExecutionCancelled, engine.EventExecutionInterrupted:
		clear(p.running)
	}
}

// tick redraws the status line, for the elapsed times to move.
func (p *textPrinter) tick(now time.Time) {
	if !p.st.live {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	io.WriteString(p.w, p.clearStatus()+p.statusLine(now))
}

// done takes the status line off the screen.
func (p *textPrinter) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	io.WriteString(p.w, p.clearStatus())
}

func (p *textPrinter) clearStatus() string {
	if !p.status {
		return ""
	}
	p.status = false
	return "\r\x1b[K"
}

// statusLine is the agents at work, longest first, with their elapsed
// time; "" when none has been at it for a second yet.
func (p *textPrinter) statusLine(now time.Time) string {
	tasks := make([]string, 0, len(p.running))
	for id, a := range p.running {
		if now.Sub(a.since) >= time.Second {
			tasks = append(tasks, id)
		}
	}
	if len(tasks) == 0 {
		return ""
	}
	slices.SortFunc(tasks, func(a, b string) int { return p.running[a].since.Compare(p.running[b].since) })
	// A line that wraps could not be erased: the three at it longest.
	var parts []string
	for _, id := range tasks[:min(len(tasks), 3)] {
		a := p.running[id]
		parts = append(parts, fmt.Sprintf("[%s] %s %s", id, a.phase, now.Sub(a.since).Truncate(time.Second)))
	}
	if len(tasks) > 3 {
		parts = append(parts, fmt.Sprintf("%d more", len(tasks)-3))
	}
	p.status = true
	return p.st.text("⏳ ") + strings.Join(parts, ", ")
}

func writeGap(b *strings.Builder, g *engine.Gap) {
	if g.Feedback != "" {
		writeIndented(b, "Feedback:", strings.Split(g.Feedback, "\n"))
	}
	if len(g.Issues) > 0 {
		writeIndented(b, "📋 Issues:", g.Issues)
	}
	if len(g.RequiredFixes) > 0 {
		writeIndented(b, "🔧 Required fixes:", g.RequiredFixes)
	}
}

func writeIndented(b *strings.Builder, heading string, lines []string) {
	fmt.Fprintf(b, "      %s\n", heading)
	for _, l := range lines {
		fmt.Fprintf(b, "        %s\n", l)
	}
}

func ptrOr[T any](p *T, or T) T {
	if p == nil {
		return or
	}
	return *p
}

// describeSave says what happened to each file of a save, one per line.
// reason is the whole save's failure, already said above its files.
func describeSave(results []workspace.FileResult, reason string) string {
	var b strings.Builder
	for _, r := range results {
		switch r.Status {
		case workspace.StatusSaved:
			fmt.Fprintf(&b, "    ✓ %s\n", r.Path)
		case workspace.StatusUnchanged:
			if strings.HasSuffix(r.SavedAs, "/"+r.Path) || r.SavedAs == r.Path {
				fmt.Fprintf(&b, "    · %s (unchanged)\n", r.Path)
			} else { // a numbered copy an earlier save kept
				fmt.Fprintf(&b, "    · %s (unchanged: the same as %s)\n", r.Path, r.SavedAs)
			}
		case workspace.StatusOverwritten:
			fmt.Fprintf(&b, "    ✓ %s (overwrote %s)\n", r.Path, r.SavedAs)
		case workspace.StatusRenamed:
			fmt.Fprintf(&b, "    ✓ %s (saved as %s: a different file has its name)\n", r.Path, r.SavedAs)
		case workspace.StatusSkipped:
			fmt.Fprintf(&b, "    · %s (skipped: %s is there already)\n", r.Path, r.SavedAs)
		case workspace.StatusFailed:
			if r.Error == reason { // said above
				fmt.Fprintf(&b, "    ✗ %s\n", r.Path)
			} else {
				fmt.Fprintf(&b, "    ✗ %s: %s\n", r.Path, r.Error)
			}
		}
	}
	return b.String()
}
