package rpc

import (
	"fmt"
	"strings"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// Toast levels, as LSP's MessageType.
const (
	levelError   = 1
	levelWarning = 2
	levelInfo    = 3
)

// toast is what an editor shows for an event: docs/protocol.md's Toasts
// table; the VS Code extension and the Neovim plugin implement the same
// mapping, all tested against testdata/toasts.json.
func toast(ev *engine.Event) (level int, text string, ok bool) {
	d := &ev.Data
	switch ev.Event {
	case engine.EventWorkerStart, engine.EventQCStart:
		return levelInfo, d.Message, true
	case engine.EventWorkerComplete:
		if d.OK != nil && !*d.OK {
			return levelWarning, d.Message, true
		}
		return levelInfo, d.Message, true
	case engine.EventQCComplete:
		if d.Passed != nil && *d.Passed {
			return levelInfo, d.Message, true
		}
		return levelWarning, qcFailedToast(d), true
	case engine.EventTaskFail:
		// Why it failed is in no other toast when the task could not even
		// start or collect its deliverables; a client with no plugin has
		// nothing else.
		if d.Error != "" {
			return levelError, d.Message + ": " + d.Error, true
		}
		return levelError, d.Message, true
	case engine.EventExecutionComplete:
		if d.Status == engine.StatusCompleted {
			return levelInfo, d.Message, true
		}
		return levelError, d.Message, true
	case engine.EventExecutionCancelled, engine.EventExecutionWarning, engine.EventTaskWaiting:
		return levelWarning, d.Message, true
	case engine.EventDeliverablesSaved:
		if d.Error != "" {
			return levelError, d.Message, true // nothing could be saved
		}
		if d.Failed != nil && *d.Failed > 0 {
			return levelWarning, d.Message, true
		}
		return levelInfo, d.Message, true
	}
	return 0, "", false
}

// qcFailedToast is the seed's "⚠️ QC failed (Score: 35/100)" with the retry
// and the gap's issues and required fixes.
func qcFailedToast(d *engine.EventData) string {
	var b strings.Builder
	score := 0
	if d.Score != nil {
		score = *d.Score
	}
	fmt.Fprintf(&b, "⚠️ QC failed (Score: %d/100)", score)
	if d.Attempt < d.MaxAttempts {
		fmt.Fprintf(&b, " - Retrying (%d/%d)", d.Attempt, d.MaxAttempts-1)
	}
	if d.Gap != nil {
		if len(d.Gap.Issues) > 0 {
			b.WriteString("\n\n📋 Issues:\n")
			b.WriteString(strings.Join(d.Gap.Issues, "\n"))
		}
		if len(d.Gap.RequiredFixes) > 0 {
			b.WriteString("\n\n🔧 Required fixes:\n")
			b.WriteString(strings.Join(d.Gap.RequiredFixes, "\n"))
		}
	}
	return b.String()
}

// wanted applies the client's toasts setting.
func wanted(setting string, level int) bool {
	switch setting {
	case toastsNone:
		return false
	case toastsFailures:
		return level <= levelWarning
	}
	return true
}
