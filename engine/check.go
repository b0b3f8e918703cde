package engine

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/mimir-sidecar/mimir-sidecar/internal/pathname"
)

// A journal comes with the workspace, so its author may have written any
// row in it: everything read back is checked, against what the engine
// writes, as a request parameter would be, and a row that fails is
// skipped, never trusted.

// executionIDPattern is what Prepare makes: "ex_" and a ULID.
var executionIDPattern = regexp.MustCompile(`^ex_[0-9A-HJKMNP-TV-Z]{26}$`)

// CheckExecutionID refuses an id the sidecar would not have made; an
// execution's id names its folder, so nothing else may reach the disk.
func CheckExecutionID(id string) error {
	if !executionIDPattern.MatchString(id) {
		return fmt.Errorf("execution id %q is not one the sidecar makes (ex_ and 26 letters and digits)", truncate(id, 80))
	}
	return nil
}

// CheckTaskID refuses an id a workflow could not give a task; a task's id
// names its folder.
func CheckTaskID(id string) error {
	if !taskID.MatchString(id) {
		return fmt.Errorf("task id %q is not one a workflow allows", truncate(id, 80))
	}
	return nil
}

// maxStoredText bounds a workflow's name, path or folder and an event's
// texts, as a journal keeps them.
const maxStoredText = 64 << 10

// Check refuses a record the sidecar would not have written.
func (r *Record) Check() error {
	if err := CheckExecutionID(r.ID); err != nil {
		return err
	}
	for field, v := range map[string]string{"workflow": r.Workflow, "workflow_path": r.Path, "workflow_dir": r.Dir} {
		if err := checkText(field, v); err != nil {
			return err
		}
	}
	if len(r.Source) > MaxWorkflowSize {
		return fmt.Errorf("its workflow source is %d bytes, more than %d", len(r.Source), MaxWorkflowSize)
	}
	return nil
}

func checkText(field, v string) error {
	switch {
	case len(v) > maxStoredText:
		return fmt.Errorf("%s is %d bytes, more than %d", field, len(v), maxStoredText)
	case !utf8.ValidString(v):
		return fmt.Errorf("%s is not valid UTF-8", field)
	case strings.ContainsRune(v, 0):
		return fmt.Errorf("%s holds a NUL", field)
	}
	return nil
}

// knownStatus reports whether an event named name may carry status s:
// changes-applied carries an apply's, every other one an execution's.
func knownStatus(name, s string) bool {
	if name == EventChangesApplied {
		return s == "applied" || s == "conflict" || s == "branch"
	}
	switch s {
	case "", StatusRunning, StatusCompleted, StatusFailed, StatusCancelled, StatusInterrupted:
		return true
	}
	return false
}

// CheckEvent refuses an event of execution id the engine would not have
// emitted: a foreign execution, an unknown name or status, a task id or
// deliverable path that the workflow rules refuse, a size out of range.
func CheckEvent(ev *Event, id string) error {
	d := &ev.Data
	var errs []error
	if ev.ExecutionID != id {
		errs = append(errs, fmt.Errorf("it belongs to execution %q", truncate(ev.ExecutionID, 80)))
	}
	if !knownEvent(ev.Event) {
		errs = append(errs, fmt.Errorf("unknown event %q", truncate(ev.Event, 80)))
	}
	if !knownStatus(ev.Event, d.Status) {
		errs = append(errs, fmt.Errorf("unknown status %q", truncate(d.Status, 80)))
	}
	for _, t := range append([]string{d.TaskID, d.FailedDependency}, d.DependsOn...) {
		if t != "" && !taskID.MatchString(t) {
			errs = append(errs, fmt.Errorf("task id %q breaks the workflow's rules", truncate(t, 80)))
		}
	}
	if d.Attempt < 0 || d.MaxAttempts < 0 || d.Attempt > 1<<16 || d.MaxAttempts > 1<<16 {
		errs = append(errs, fmt.Errorf("attempt %d of %d is out of range", d.Attempt, d.MaxAttempts))
	}
	if c := d.Changes; c != nil {
		// A repository's paths need not be ones every OS can hold, so
		// only what any text must be is checked; applying reads them
		// from git again.
		for _, f := range c.Files {
			if err := checkText("changes.files", f.Path); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, del := range d.Deliverables {
		if err := pathname.Check(del.Path); err != nil {
			errs = append(errs, fmt.Errorf("deliverable: %w", err))
		}
		if del.Size < 0 {
			errs = append(errs, fmt.Errorf("deliverable %q has size %d", del.Path, del.Size))
		}
	}
	for field, v := range map[string]string{"taskTitle": d.TaskTitle, "error": d.Error, "output": d.Output, "message": d.Message, "workflowPath": d.WorkflowPath, "target": d.Target} {
		if err := checkText(field, v); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
