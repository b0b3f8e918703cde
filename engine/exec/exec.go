// Package exec provides the exec agent: a workflow's commands, run in the
// task's staging folder with the attempt and the last QC gap handed over
// (MIMIR_* variables and MIMIR_GAP_FILE). It needs no network.
//
// The engine knows nothing of it; whoever wires the engine up adds it:
//
//	agents := engine.Agents{"exec": exec.Agent()}
package exec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	osexec "os/exec"
	"strings"
	"sync"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// maxQCStdout is what is kept of a QC command's stdout, for its verdict: a
// chatty command must not grow the sidecar's memory.
const maxQCStdout = 1 << 20

// Agent runs commands. As a worker, a command succeeds by exiting 0; as
// QC, exit 0 passes unless stdout holds a JSON verdict, which then decides.
func Agent() engine.AgentKind {
	return engine.AgentKind{
		Worker: func(_ *engine.Task, spec *engine.AgentSpec) (engine.Worker, error) { return worker{spec}, nil },
		QC: func(task *engine.Task, spec *engine.AgentSpec) (engine.QC, error) {
			return qc{spec: spec, threshold: task.Threshold()}, nil
		},
		NoToolCalls: true,
	}
}

type worker struct{ spec *engine.AgentSpec }

func (w worker) Work(ctx context.Context, job *engine.Job) (engine.WorkResult, error) {
	out, err := engine.RunCommand(ctx, job, w.spec.Command, w.spec.Env, engine.PhaseWorker, nil)
	return engine.WorkResult{Output: out}, err
}

type qc struct {
	spec      *engine.AgentSpec
	threshold int
}

func (q qc) Check(ctx context.Context, job *engine.Job) (engine.Verdict, error) {
	stdout := newHead(maxQCStdout)
	combined, runErr := engine.RunCommand(ctx, job, q.spec.Command, q.spec.Env, engine.PhaseQC, stdout)
	if err := ctx.Err(); err != nil {
		// Cancelled or timed out, even if the command exited 0 just as it
		// happened: an error says which, where an empty verdict would say
		// "failed" with no reason.
		if runErr == nil {
			runErr = err
		}
		return engine.Verdict{}, runErr
	}
	var exitErr *osexec.ExitError
	if runErr != nil && !errors.As(runErr, &exitErr) {
		return engine.Verdict{}, runErr // it did not run at all
	}
	v, found, err := ParseVerdict(stdout.Bytes(), q.threshold)
	if err != nil {
		return engine.Verdict{}, err
	}
	if found {
		return v, nil
	}
	if runErr == nil {
		return engine.Verdict{Passed: true, Score: 100}, nil
	}
	return engine.Verdict{Score: 0, Gap: engine.Gap{
		Feedback:      strings.TrimSpace("The QC command failed (" + runErr.Error() + ").\n" + combined),
		Issues:        engine.OutputIssues(combined),
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

// ParseVerdict finds a JSON verdict in a QC command's stdout (or any QC
// agent's answer): the whole of it,
// or else its last line (so a script may log before it answers). Without
// "passed" the score decides against the task's threshold; without a score,
// a pass is 100 and a failure 0. A verdict decides whatever the command's
// exit status (the exec agent's contract), so that status is not asked for.
func ParseVerdict(stdout []byte, threshold int) (engine.Verdict, bool, error) {
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
		v := engine.Verdict{Gap: engine.Gap{Feedback: vj.Feedback, Issues: vj.Issues, RequiredFixes: vj.RequiredFixes}}
		if vj.Score != nil {
			if *vj.Score < 0 || *vj.Score > 100 {
				return engine.Verdict{}, true, fmt.Errorf("the QC verdict's score %g is outside 0–100", *vj.Score)
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
	return engine.Verdict{}, false, nil
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
