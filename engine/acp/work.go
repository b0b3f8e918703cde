package acp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/engine/exec"
	"github.com/mimir-sidecar/mimir-sidecar/internal/safefile"
)

type worker struct{ agent }

// Work runs one attempt: one agent process, one session, one turn.
func (w worker) Work(ctx context.Context, job *engine.Job) (engine.WorkResult, error) {
	s, err := w.start(ctx, job, engine.PhaseWorker)
	if err != nil {
		return engine.WorkResult{}, err
	}
	defer s.close()
	t, err := s.prompt(ctx, w.brief(job))
	res := engine.WorkResult{ToolCalls: s.cl.toolCallCount(), Output: tailString(t.text, 4<<10)}
	if err != nil {
		return res, err
	}
	return res, stopError(t.stop)
}

// brief is the prompt of an attempt: the task, where to work, what the
// tasks it builds on produced and, on a retry, the gap.
func (w worker) brief(job *engine.Job) string {
	var b strings.Builder
	engine.WriteTaskBrief(&b, job, w.spec.Prompt)
	b.WriteString("\n## How to work\n")
	fmt.Fprintf(&b, "Your working directory is the task's folder, %s. Write every file the task asks for there; only the files in that folder count as your work, and you cannot write outside it.\n", job.Dir)
	writeDependencies(&b, job)
	engine.WriteGapBrief(&b, job)
	b.WriteString("\nWhen the work is done, answer with a short summary of it.\n")
	return b.String()
}

type qc struct {
	agent
	threshold int
}

// Check asks the agent for a verdict on the worker's files, once more
// when its answer is not one.
func (q qc) Check(ctx context.Context, job *engine.Job) (engine.Verdict, error) {
	s, err := q.start(ctx, job, engine.PhaseQC)
	if err != nil {
		return engine.Verdict{}, err
	}
	defer s.close()
	answer := func(prompt string) (engine.Verdict, string, error) {
		t, err := s.prompt(ctx, prompt)
		if err == nil {
			err = stopError(t.stop)
		}
		if err != nil {
			return engine.Verdict{}, "", err
		}
		v, found, err := exec.ParseVerdict([]byte(unfence(t.text)), q.threshold)
		switch {
		case err != nil:
			return engine.Verdict{}, t.text, &unusable{err.Error()}
		case !found:
			return engine.Verdict{}, t.text, &unusable{"it held no JSON verdict object"}
		}
		return v, t.text, nil
	}
	v, text, err := answer(q.brief(job))
	var u *unusable
	if !errors.As(err, &u) {
		return v, err
	}
	// One more chance, in the same session: the agent has read the files.
	v, again, err := answer("Your answer could not be used: " + u.why + ". " + verdictInstructions)
	if !errors.As(err, &u) {
		return v, err
	}
	if strings.TrimSpace(again) != "" {
		text = again
	}
	return engine.Verdict{}, fmt.Errorf("the QC agent did not answer with a JSON verdict, even when asked again (%s); its answer ends: %q", u.why, tailString(strings.TrimSpace(text), 300))
}

// unusable is a QC answer that is not a verdict, and why.
type unusable struct{ why string }

func (u *unusable) Error() string { return "unusable QC answer: " + u.why }

const verdictInstructions = `Answer with only one JSON object, nothing before or after it: {"passed": true or false, "score": a whole number from 0 to 100, "feedback": "what is right and wrong", "issues": ["each problem found"], "requiredFixes": ["each change the worker must make"]}.`

// brief is the QC prompt: the task, what to check, and how to answer.
func (q qc) brief(job *engine.Job) string {
	var b strings.Builder
	prompt := q.spec.Prompt
	if strings.TrimSpace(prompt) == "" {
		prompt = "Check the worker's files against the acceptance criteria."
	}
	engine.WriteTaskBrief(&b, job, prompt)
	b.WriteString("\n## How to check\n")
	if engine.WriteChangeBrief(&b, job) {
		b.WriteString("You are the quality-control reviewer: judge the change, change nothing.\n")
	} else {
		fmt.Fprintf(&b, "You are the quality-control reviewer. The worker's files are in your working directory, %s: read them, change nothing. This is attempt %d of %d.\n", job.Dir, job.Attempt, job.MaxAttempts)
		writeDependencies(&b, job)
	}
	b.WriteString("\n## Your answer\n" + verdictInstructions + "\n")
	return b.String()
}

// unfence takes a verdict out of a Markdown code block, as agents like to
// write it.
func unfence(text string) string {
	t := strings.TrimSpace(text)
	if i := strings.LastIndex(t, "```"); i > 0 {
		if j := strings.LastIndex(t[:i], "```"); j >= 0 {
			body := t[j+3 : i]
			if nl := strings.IndexByte(body, '\n'); nl >= 0 && !strings.HasPrefix(strings.TrimSpace(body), "{") {
				body = body[nl+1:]
			}
			return strings.TrimSpace(body)
		}
	}
	return t
}

// Bounds on the dependencies' files put in a prompt.
const (
	maxDepFiles = 50
	maxDepBytes = 64 << 10
)

// writeDependencies puts the files of the tasks job builds on into the
// prompt: the agent's fs/* reach only its own folder.
func writeDependencies(b *strings.Builder, job *engine.Job) {
	deps := job.Task.DependsOn
	if len(deps) == 0 || job.StagingRoot == "" {
		return
	}
	fmt.Fprintf(b, "\n## What the tasks this one builds on produced\n")
	budget, files := maxDepBytes, 0
	for _, dep := range deps {
		root, err := os.OpenRoot(job.StagingRoot + string(os.PathSeparator) + dep)
		if err != nil {
			fmt.Fprintf(b, "Task %s left no files.\n", dep)
			continue
		}
		_ = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !d.Type().IsRegular() {
				return nil
			}
			if files++; files > maxDepFiles {
				return fs.SkipAll
			}
			data, size, err := readDependency(root, p, budget)
			switch {
			case err != nil:
				fmt.Fprintf(b, "### %s/%s\n(unreadable: %v)\n", dep, p, err)
			case data == nil || !utf8.Valid(data):
				fmt.Fprintf(b, "### %s/%s\n(%d bytes, not shown)\n", dep, p, size)
			default:
				budget -= len(data)
				fmt.Fprintf(b, "### %s\n```%s\n%s\n```\n", path.Join(dep, p), strings.TrimPrefix(path.Ext(p), "."), strings.TrimRight(string(data), "\n"))
			}
			return nil
		})
		root.Close()
	}
	if files > maxDepFiles {
		fmt.Fprintf(b, "(only the first %d files are shown)\n", maxDepFiles)
	}
}

// readDependency reads a dependency's file of at most budget bytes, and
// only its size (and nil data) when it is larger: through the safe opener,
// since the file is an agent's and may have become a pipe since it was
// listed.
func readDependency(root *os.Root, name string, budget int) ([]byte, int64, error) {
	f, st, err := safefile.Open(root, name)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	if st.Size() > int64(budget) {
		return nil, st.Size(), nil
	}
	data, err := safefile.ReadAtMost(f, int64(budget))
	if errors.Is(err, safefile.ErrTooLarge) {
		return nil, st.Size(), nil // it grew while read
	}
	return data, int64(len(data)), err
}

// tailString keeps the last n bytes of s, never starting inside a
// character.
func tailString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := len(s) - n
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return "…" + s[i:]
}
