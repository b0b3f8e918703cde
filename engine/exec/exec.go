package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"github.com/mimir-sidecar/mimir-sidecar/internal/launcher"
)

// Output bounds: a chatty command must not grow the sidecar's memory.
const (
	maxOutputTail = 64 << 10 // what is kept of a command's combined output
	maxQCStdout   = 1 << 20  // what is kept of a QC command's stdout, for its verdict
)

// ExecAgent runs commands. As a worker, a command succeeds by exiting 0; as
// QC, exit 0 passes unless stdout holds a JSON verdict, which then decides.
func ExecAgent() AgentKind {
	return AgentKind{
		Worker: func(_ *Task, spec *AgentSpec) (Worker, error) { return execWorker{spec}, nil },
		QC: func(task *Task, spec *AgentSpec) (QC, error) {
			return execQC{spec: spec, threshold: task.Threshold()}, nil
		},
	}
}

type execWorker struct{ spec *AgentSpec }

func (w execWorker) Work(ctx context.Context, job *Job) (WorkResult, error) {
	out := newTail(maxOutputTail)
	err := runCommand(ctx, job, w.spec.Command, w.spec.Env, PhaseWorker, out, out)
	return WorkResult{Output: out.String()}, err
}

type execQC struct {
	spec      *AgentSpec
	threshold int
}

func (q execQC) Check(ctx context.Context, job *Job) (Verdict, error) {
	stdout := newHead(maxQCStdout)
	combined := newTail(maxOutputTail)
	runErr := runCommand(ctx, job, q.spec.Command, q.spec.Env, PhaseQC, multiWriter(stdout, combined), combined)
	if err := ctx.Err(); err != nil {
		// Cancelled or timed out, even if the command exited 0 just as it
		// happened: an error says which, where an empty verdict would say
		// "failed" with no reason.
		if runErr == nil {
			runErr = err
		}
		return Verdict{}, runErr
	}
	var exitErr *exec.ExitError
	if runErr != nil && !errors.As(runErr, &exitErr) {
		return Verdict{}, runErr // it did not run at all
	}
	v, found, err := parseVerdict(stdout.Bytes(), q.threshold)
	if err != nil {
		return Verdict{}, err
	}
	if found {
		return v, nil
	}
	if runErr == nil {
		return Verdict{Passed: true, Score: 100}, nil
	}
	return Verdict{Score: 0, Gap: Gap{
		Feedback:      strings.TrimSpace("The QC command failed (" + runErr.Error() + ").\n" + combined.String()),
		Issues:        lastLines(combined.String(), 10),
		RequiredFixes: []string{},
	}}, nil
}

// verdictJSON is the verdict a QC command may print; pointers tell "absent"
// from zero.
type verdictJSON struct {
	Passed        *bool    `json:"passed"`
	Score         *float64 `json:"score"`
	Feedback      string   `json:"feedback"`
	Issues        []string `json:"issues"`
	RequiredFixes []string `json:"requiredFixes"`
}

// parseVerdict finds a JSON verdict in a QC command's stdout: the whole of it,
// or else its last line (so a script may log before it answers). Without
// "passed" the score decides against the task's threshold; without a score,
// a pass is 100 and a failure 0. A verdict decides whatever the command's
// exit status (the exec agent's contract), so that status is not asked for.
func parseVerdict(stdout []byte, threshold int) (Verdict, bool, error) {
	text := bytes.TrimSpace(stdout)
	candidates := [][]byte{text}
	if i := bytes.LastIndexByte(text, '\n'); i >= 0 {
		candidates = append(candidates, bytes.TrimSpace(text[i+1:]))
	}
	for _, c := range candidates {
		if len(c) == 0 || c[0] != '{' {
			continue
		}
		var vj verdictJSON
		if json.Unmarshal(c, &vj) != nil || (vj.Passed == nil && vj.Score == nil) {
			continue
		}
		v := Verdict{Gap: Gap{Feedback: vj.Feedback, Issues: nonNil(vj.Issues), RequiredFixes: nonNil(vj.RequiredFixes)}}
		if vj.Score != nil {
			if *vj.Score < 0 || *vj.Score > 100 {
				return Verdict{}, true, fmt.Errorf("the QC verdict's score %g is outside 0–100", *vj.Score)
			}
			v.Score = int(*vj.Score + 0.5)
		}
		switch {
		case vj.Passed != nil:
			v.Passed = *vj.Passed
		default:
			v.Passed = v.Score >= threshold
		}
		if vj.Score == nil {
			v.Score = map[bool]int{true: 100, false: 0}[v.Passed]
		}
		return v, true, nil
	}
	return Verdict{}, false, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// RunCommand runs command for job in its staging folder under the exec
// agent's limits, for agents that run commands of their own (an llm
// worker's tool): the same environment (MIMIR_* plus env, whose entries
// win over the sidecar's own, so an empty value hides a variable), a
// launcher that kills all it started when the call ends, and ctx for the
// timeout. It returns the last 64 KiB of the combined output.
func RunCommand(ctx context.Context, job *Job, command Command, env map[string]string, phase string) (string, error) {
	if command.IsZero() {
		return "", fmt.Errorf("%s command: nothing to run", phase)
	}
	out := newTail(maxOutputTail)
	err := runCommand(ctx, job, command, env, phase, out, out)
	return out.String(), err
}

// runCommand runs command for job in its staging folder, through the
// launcher, so that cancelling it, or its end, stops everything it started.
func runCommand(ctx context.Context, job *Job, command Command, env map[string]string, phase string, stdout, stderr interface{ Write([]byte) (int, error) }) error {
	if err := job.EnsureDir(); err != nil {
		return err
	}
	fence, err := fenceFor(job, phase)
	if err != nil {
		return err
	}
	defer fence.Close()
	stderr = fence.Watch(stderr)
	argv := command.Argv
	if command.Shell != "" {
		argv = []string{"/bin/sh", "-c", command.Shell}
	}
	cmd, err := launcher.Command(ctx, launcher.Spec{Argv: argv, Dir: job.Dir, Env: append(commandEnv(job, env, phase), fence.Env...), Sandbox: fence.Policy})
	if err != nil {
		return fmt.Errorf("%s command %q: %w", phase, command.String(), err)
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Stdin = nil
	if err := cmd.Start(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s command %q: %w", phase, command.String(), err)
	}
	err = cmd.Wait()
	if errors.Is(err, exec.ErrWaitDelay) {
		// The command exited, but something it started held its output
		// open; that straggler is killed by Finish and the command's own
		// result stands.
		err = nil
	}
	// Whatever the command left running in the background dies with it:
	// a task's processes never outlive its attempt.
	launcher.Finish(cmd)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fence.Explain(fmt.Errorf("%s command %q: %w", phase, command.String(), err))
	}
	return nil
}

func commandEnv(job *Job, extra map[string]string, phase string) []string {
	env := os.Environ()
	env = append(env,
		"MIMIR_EXECUTION_ID="+job.ExecutionID,
		"MIMIR_TASK_ID="+job.Task.ID,
		"MIMIR_TASK_TITLE="+job.Task.DisplayTitle(),
		"MIMIR_PHASE="+phase,
		"MIMIR_ATTEMPT="+strconv.Itoa(job.Attempt),
		"MIMIR_MAX_ATTEMPTS="+strconv.Itoa(job.MaxAttempts),
		"MIMIR_STAGING_DIR="+job.Dir,
		"MIMIR_STAGING_ROOT="+job.StagingRoot,
		"MIMIR_WORKFLOW_DIR="+job.WorkflowDir,
		"MIMIR_WORKSPACE="+job.Workspace,
		"MIMIR_GAP_FILE="+job.GapFile,
	)
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

// tail keeps the last n bytes written: the end of a failing command's output
// is where the reason is.
type tail struct {
	mu  sync.Mutex
	n   int
	buf []byte
	cut bool
}

func newTail(n int) *tail { return &tail{n: n} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.n; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.cut = true
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cut {
		return "…" + string(t.buf)
	}
	return string(t.buf)
}

// head keeps the first n bytes written and drops the rest.
type head struct {
	mu  sync.Mutex
	n   int
	buf []byte
}

func newHead(n int) *head { return &head{n: n} }

func (h *head) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if room := h.n - len(h.buf); room > 0 {
		h.buf = append(h.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (h *head) Bytes() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.buf
}

type writers []interface{ Write([]byte) (int, error) }

func multiWriter(ws ...interface{ Write([]byte) (int, error) }) writers { return writers(ws) }

func (ws writers) Write(p []byte) (int, error) {
	for _, w := range ws {
		if _, err := w.Write(p); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func lastLines(s string, n int) []string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return []string{}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}
