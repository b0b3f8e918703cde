package engine

import (
	"fmt"
	"strings"
	"time"
)

// The message texts below are a requirement (the seed's and docs/protocol.md's
// wording); clients show them verbatim.

func msgWorkerStart(title string) string { return "🤖 Worker executing: " + title }

// msgWorkerComplete counts the tool calls of a worker that makes them
// (toolCalls not nil).
func msgWorkerComplete(d time.Duration, toolCalls *int) string {
	if toolCalls == nil {
		return fmt.Sprintf("✅ Worker completed (%s)", seconds(d))
	}
	return fmt.Sprintf("✅ Worker completed (%s, %d %s)", seconds(d), *toolCalls, plural(*toolCalls, "tool call", "tool calls"))
}

func msgWorkerFailed(d time.Duration, err string, attempt, maxAttempts int) string {
	return fmt.Sprintf("❌ Worker failed (%s): %s", seconds(d), err) + retrySuffix(attempt, maxAttempts)
}

func msgQCStart(title string) string { return "🔍 QC verifying: " + title }

func msgQCPassed(score int) string { return fmt.Sprintf("✅ QC passed (Score: %d/100)", score) }

func msgQCFailed(score, attempt, maxAttempts int) string {
	if attempt >= maxAttempts {
		return fmt.Sprintf("❌ QC failed (Score: %d/100) - No retries left", score)
	}
	return fmt.Sprintf("❌ QC failed (Score: %d/100)", score) + retrySuffix(attempt, maxAttempts)
}

// retrySuffix counts retries, not attempts: the seed's "Retrying (1/2)" is the
// first of two retries after attempt 1 of 3.
func retrySuffix(attempt, maxAttempts int) string {
	if attempt >= maxAttempts {
		return ""
	}
	return fmt.Sprintf(" - Retrying (%d/%d)", attempt, maxAttempts-1)
}

func msgTaskHeartbeat(phase, title string, d time.Duration) string {
	who := "Worker"
	if phase == PhaseQC {
		who = "QC"
	}
	return fmt.Sprintf("⏳ %s still at work: %s (%s)", who, title, d.Round(time.Second))
}

func msgTaskStart(title string) string { return "▶️ Task started: " + title }

func msgTaskComplete(title string, attempt, maxAttempts int) string {
	return fmt.Sprintf("✅ Task completed: %s (attempt %d/%d)", title, attempt, maxAttempts)
}

func msgTaskFail(title string, attempts int) string {
	unit := "attempts"
	if attempts == 1 {
		unit = "attempt"
	}
	return fmt.Sprintf("❌ Task failed: %s after %d %s", title, attempts, unit)
}

func msgTaskSkipped(title, dep string) string {
	return fmt.Sprintf("⏭️ Task skipped: %s (dependency %s did not complete)", title, dep)
}

func msgExecutionStart(workflow string, tasks int) string {
	return fmt.Sprintf("🚀 Execution started: %s (%d %s)", workflow, tasks, plural(tasks, "task", "tasks"))
}

func msgExecutionComplete(completed, total, deliverables int) string {
	return fmt.Sprintf("✅ Execution completed: %d/%d tasks, %d %s", completed, total, deliverables,
		plural(deliverables, "deliverable", "deliverables"))
}

func msgExecutionFailed(failed, total, skipped int) string {
	return fmt.Sprintf("❌ Execution failed: %d of %d tasks failed, %d skipped", failed, total, skipped)
}

func msgExecutionCancelled(reason string) string { return "⏹️ Execution cancelled: " + reason }

const msgExecutionInterrupted = "⚠️ Execution interrupted: the sidecar stopped while it ran"

func msgExecutionResumed(workflow string, remaining int) string {
	return fmt.Sprintf("🔁 Execution resumed: %s (%d %s to run)", workflow, remaining, plural(remaining, "task", "tasks"))
}

// SavedMessage is the deliverables-saved text, shared by every caller that
// saves (the run command, the RPC server's save and auto-save). results,
// when they can count their statuses (workspace.FileResults), say how
// many of the saved files were new: "saved 6" must not hide that they
// were all there already.
func SavedMessage(saved, failed int, target string, results any) string {
	detail := ""
	if c, ok := results.(interface{ StatusCounts() map[string]int }); ok {
		detail = savedDetail(c.StatusCounts())
	}
	if failed == 0 {
		if detail != "" {
			detail = " (" + detail + ")"
		}
		return fmt.Sprintf("✅ Saved %d %s to %s%s", saved, plural(saved, "deliverable", "deliverables"), target, detail)
	}
	if detail != "" {
		detail += ", "
	}
	return fmt.Sprintf("⚠️ Saved %d of %d deliverables to %s (%s%d failed)", saved, saved+failed, target, detail, failed)
}

// savedDetail counts the outcomes of a save when they were not all new
// files, "" when they were.
func savedDetail(n map[string]int) string {
	if n["unchanged"]+n["renamed"]+n["overwritten"]+n["skipped"] == 0 {
		return ""
	}
	var parts []string
	for _, s := range []struct{ status, say string }{
		{"saved", "new"},
		{"unchanged", "unchanged"},
		{"overwritten", "overwritten"},
		{"renamed", "kept beside a different file as a numbered copy"},
		{"skipped", "skipped"},
	} {
		if n[s.status] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[s.status], s.say))
		}
	}
	return strings.Join(parts, ", ")
}

// SaveFailedMessage is the deliverables-saved text of a save that could
// not be attempted: what failed, why, and what to do.
func SaveFailedMessage(failed int, target, reason string) string {
	return fmt.Sprintf("❌ Could not save %d %s to %s: %s. Make it a folder inside the workspace (not a link out of it), or save them into another folder: they are kept with the execution.",
		failed, plural(failed, "deliverable", "deliverables"), target, reason)
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// AppliedMessage is the changes-applied text.
func AppliedMessage(status, branch string, applied, conflicts int) string {
	switch {
	case status == "branch":
		return fmt.Sprintf("✅ Committed the changes to %d %s on branch %s", applied, plural(applied, "file", "files"), branch)
	case conflicts > 0:
		return fmt.Sprintf("⚠️ Nothing applied: %d %s conflict with your edits; resolve them, or apply on a branch", conflicts, plural(conflicts, "file", "files"))
	}
	return fmt.Sprintf("✅ Applied the changes to %d %s", applied, plural(applied, "file", "files"))
}
