package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/openai/openai-go/v3"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/internal/safefile"
)

// defaultQCPreamble is the system message of a QC agent whose workflow
// gives none.
const defaultQCPreamble = `You are a strict quality-control reviewer in an automated workflow. You judge a worker's files against the task's acceptance criteria and answer only with the JSON verdict you are asked for. Be specific: every issue must point at something in the files, and every required fix must say what to change.`

// What of the worker's files the QC agent is shown: enough to judge a
// task's deliverables, bounded so a large folder cannot overflow the
// model's context.
const (
	maxQCFiles     = 200
	maxQCFileBytes = 32 << 10
	maxQCAllBytes  = 128 << 10
	// maxQCNotShown bounds the list of files left out: a folder of
	// thousands of small files would otherwise fill the context with it.
	maxQCNotShown = 20
)

// verdictSchema is the verdict the QC agent must answer with. No numeric
// bounds in it: strict structured output refuses some keywords, so the
// score's range is checked when the answer is parsed.
var verdictSchema = &jsonSchema{name: "qc_verdict", schema: map[string]any{
	"type":                 "object",
	"additionalProperties": false,
	"required":             []string{"passed", "score", "feedback", "issues", "requiredFixes"},
	"properties": map[string]any{
		"passed":        map[string]any{"type": "boolean", "description": "true only if every acceptance criterion is met"},
		"score":         map[string]any{"type": "integer", "description": "0 to 100"},
		"feedback":      map[string]any{"type": "string", "description": "the judgement in a few sentences"},
		"issues":        map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "description": "what is wrong, one item each"},
		"requiredFixes": map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "description": "what the worker must change to pass"},
	},
}}

// qc is an llm QC agent: one question with the worker's files, answered
// with a verdict.
type qc struct {
	*agent
	threshold int
}

// Check judges an attempt. An answer that is not a verdict is asked for
// once more; if that one is no better, the attempt fails with a gap that
// says so. It never passes work it could not judge.
func (q *qc) Check(ctx context.Context, job *engine.Job) (engine.Verdict, error) {
	msgs := []openai.ChatCompletionMessageParamUnion{
		openai.SystemMessage(first(q.preamble, defaultQCPreamble)),
		openai.UserMessage(q.brief(job)),
	}
	r, err := q.ask(ctx, msgs)
	if err != nil {
		return engine.Verdict{}, err
	}
	v, why := verdictOf(r)
	if why != nil {
		q.log.Info("QC answer is not a verdict; asking once more", "reason", why.Error(), "attempt", job.Attempt)
		msgs = append(msgs, openai.AssistantMessage(r.content), openai.UserMessage(repairPrompt(why)))
		if r, err = q.ask(ctx, msgs); err != nil {
			return engine.Verdict{}, err
		}
		if v, why = verdictOf(r); why != nil {
			q.log.Warn("QC answer unusable after a repair request", "reason", why.Error(), "attempt", job.Attempt)
			return q.unusable(why), nil
		}
	}
	return q.judge(v), nil
}

// ask sends the conversation, with the verdict's schema as structured
// output unless the provider is known not to take it; an endpoint that
// refuses it is asked again without, and not offered it again.
func (q *qc) ask(ctx context.Context, msgs []openai.ChatCompletionMessageParamUnion) (reply, error) {
	req := chatRequest{model: q.model, messages: msgs, temperature: q.temperature}
	if q.client.p.StructuredOutput && !q.client.noSchema.Load() {
		req.schema = verdictSchema
	}
	r, err := q.client.complete(ctx, req)
	var ce *callError
	if req.schema != nil && errors.As(err, &ce) && ce.kind == failNoSchema {
		q.client.noSchema.Store(true)
		q.log.Info("the endpoint refuses structured output; asking for the verdict as plain JSON", "status", ce.status)
		req.schema = nil
		r, err = q.client.complete(ctx, req)
	}
	if err != nil {
		if ctx.Err() != nil {
			return reply{}, ctx.Err()
		}
		return reply{}, fmt.Errorf("ask model %q (provider %q) for a verdict: %w", q.model, q.client.p.Name, err)
	}
	return r, nil
}

// judge applies the task's threshold: a pass needs both the model's
// "passed" and a score at or above it.
func (q *qc) judge(v verdict) engine.Verdict {
	passed := v.passed && v.score >= q.threshold
	gap := engine.Gap{Feedback: strings.TrimSpace(v.feedback), Issues: v.issues, RequiredFixes: v.requiredFixes}
	if v.passed && !passed {
		gap.Feedback = strings.TrimSpace(fmt.Sprintf("%s\n(The QC agent passed the work but scored it %d, below the task's pass threshold of %d.)", gap.Feedback, v.score, q.threshold))
	}
	if !passed && gap.Feedback == "" {
		gap.Feedback = fmt.Sprintf("The QC agent failed the work (score %d/100) without saying why.", v.score)
	}
	return engine.Verdict{Passed: passed, Score: v.score, Gap: gap}
}

func (q *qc) unusable(why error) engine.Verdict {
	return engine.Verdict{Passed: false, Score: 0, Gap: engine.Gap{
		Feedback: fmt.Sprintf("The QC answer was unusable: model %q (provider %q) did not answer with a verdict matching the schema, even when asked again (%s). The work was not judged, so this attempt counts as failed.",
			q.model, q.client.p.Name, why),
		Issues:        []string{"QC answer unusable: " + why.Error()},
		RequiredFixes: []string{},
	}}
}

// verdictOf parses an answer, saying so when the model was cut off at its
// length limit: that, not the model's grasp of the schema, is then why
// the verdict does not parse.
func verdictOf(r reply) (verdict, error) {
	v, why := parseVerdict(r.content)
	if why != nil && r.finish == "length" {
		why = fmt.Errorf("%w; the answer was cut off at the model's output length limit", why)
	}
	return v, why
}

// verdict is a parsed, checked QC answer.
type verdict struct {
	passed        bool
	score         int
	feedback      string
	issues        []string
	requiredFixes []string
}

// parseVerdict reads a verdict strictly: one JSON object (a Markdown code
// fence around it is tolerated), every field of the schema present with
// its type, no other fields, nothing after it. The error says what was
// wrong, for the repair request.
func parseVerdict(text string) (verdict, error) {
	s := stripFence(strings.TrimSpace(text))
	if s == "" {
		return verdict{}, errors.New("the answer was empty")
	}
	var vj struct {
		Passed        *bool     `json:"passed"`
		Score         *float64  `json:"score"`
		Feedback      *string   `json:"feedback"`
		Issues        *[]string `json:"issues"`
		RequiredFixes *[]string `json:"requiredFixes"`
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&vj); err != nil {
		return verdict{}, fmt.Errorf("the answer is not the JSON verdict object (%v)", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return verdict{}, errors.New("there is more after the JSON object; answer with the object alone")
	}
	var missing []string
	for name, ok := range map[string]bool{"passed": vj.Passed != nil, "score": vj.Score != nil, "feedback": vj.Feedback != nil, "issues": vj.Issues != nil, "requiredFixes": vj.RequiredFixes != nil} {
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return verdict{}, fmt.Errorf("the verdict lacks %s", strings.Join(missing, ", "))
	}
	if sc := *vj.Score; math.IsNaN(sc) || sc < 0 || sc > 100 {
		return verdict{}, fmt.Errorf("the score %g is not between 0 and 100", sc)
	}
	return verdict{
		passed:        *vj.Passed,
		score:         int(math.Round(*vj.Score)),
		feedback:      *vj.Feedback,
		issues:        nonNil(*vj.Issues),
		requiredFixes: nonNil(*vj.RequiredFixes),
	}, nil
}

// stripFence removes a ```json … ``` fence around the whole answer, which
// models add out of habit even when asked not to.
func stripFence(s string) string {
	if !strings.HasPrefix(s, "```") || !strings.HasSuffix(s, "```") || len(s) < 6 {
		return s
	}
	nl := strings.IndexByte(s, '\n')
	if nl < 0 {
		return s
	}
	return strings.TrimSpace(s[nl+1 : len(s)-3])
}

func repairPrompt(why error) string {
	schema, _ := json.Marshal(verdictSchema.schema)
	return fmt.Sprintf("Your answer could not be used: %s. Answer again with only the JSON object, nothing before or after it, matching this JSON Schema:\n%s\n\"score\" is a whole number from 0 to 100; \"issues\" and \"requiredFixes\" are lists (empty when there is nothing to say).", why, schema)
}

// brief is the question: the task, what to check, the worker's files.
func (q *qc) brief(job *engine.Job) string {
	t := job.Task
	var b strings.Builder
	fmt.Fprintf(&b, "# Check the work of task: %s\n", t.DisplayTitle())
	if t.Worker != nil && strings.TrimSpace(t.Worker.Prompt) != "" {
		fmt.Fprintf(&b, "\n## What the worker was asked\n%s\n", strings.TrimSpace(t.Worker.Prompt))
	}
	if len(t.AcceptanceCriteria) > 0 {
		b.WriteString("\n## Acceptance criteria\n")
		for i, c := range t.AcceptanceCriteria {
			fmt.Fprintf(&b, "%d. %s\n", i+1, c)
		}
	}
	if p := strings.TrimSpace(q.prompt); p != "" {
		fmt.Fprintf(&b, "\n## Also check\n%s\n", p)
	}
	if !engine.WriteChangeBrief(&b, job) {
		fmt.Fprintf(&b, "\n## The worker's files (attempt %d of %d)\n", job.Attempt, job.MaxAttempts)
		b.WriteString(workerFiles(job.Dir))
	}
	fmt.Fprintf(&b, "\n## Your answer\nJudge the files against every acceptance criterion. Answer with only a JSON object: "+
		"{\"passed\": true or false, \"score\": 0 to 100, \"feedback\": \"…\", \"issues\": [\"…\"], \"requiredFixes\": [\"…\"]}. "+
		"Pass only if every criterion is met; a pass also needs a score of at least %d. "+
		"When the work fails, say in issues what is wrong and in requiredFixes what the worker must change: the worker gets both for its next attempt.\n", q.threshold)
	return b.String()
}

// workerFiles shows the files in dir: a listing, then the contents of the
// text files within the bounds. Read through os.Root, symlinks not
// followed, so the QC agent sees only what is in the folder.
func workerFiles(dir string) string {
	r, err := os.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return "The worker wrote no files.\n" // nor made the folder
	}
	if err != nil {
		return fmt.Sprintf("(the folder could not be opened: %v)\n", err)
	}
	defer r.Close()
	lines, more, err := listFiles(r, ".", maxQCFiles)
	if err != nil {
		return fmt.Sprintf("(the folder could not be listed: %v)\n", err)
	}
	if len(lines) == 0 {
		return "The worker wrote no files.\n"
	}
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "- %s\n", l)
	}
	if more {
		fmt.Fprintf(&b, "- … (more than %d entries)\n", maxQCFiles)
	}
	budget := maxQCAllBytes
	var skipped []string
	_ = fs.WalkDir(r.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if budget <= 0 {
			skipped = append(skipped, p+" (over the total shown)")
			return nil
		}
		data, size, err := readHead(r, p, min(maxQCFileBytes, budget))
		switch {
		case err != nil:
			skipped = append(skipped, fmt.Sprintf("%s (%v)", p, rootErr(err)))
			return nil
		case bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(cutPartialRune(data)):
			skipped = append(skipped, p+" (binary)")
			return nil
		}
		budget -= len(data)
		note := ""
		if int64(len(data)) < size {
			data = cutPartialRune(data)
			note = fmt.Sprintf(", first %d bytes shown", len(data))
		}
		fence := fenceFor(data)
		fmt.Fprintf(&b, "\n### %s (%d bytes%s)\n%s\n%s\n%s\n", p, size, note, fence, strings.TrimRight(string(data), "\n"), fence)
		return nil
	})
	if len(skipped) > maxQCNotShown {
		more := len(skipped) - maxQCNotShown
		skipped = append(skipped[:maxQCNotShown], fmt.Sprintf("and %d more", more))
	}
	if len(skipped) > 0 {
		fmt.Fprintf(&b, "\nNot shown: %s\n", strings.Join(skipped, "; "))
	}
	return b.String()
}

func readHead(r *os.Root, p string, n int) ([]byte, int64, error) {
	// A file can be swapped for a FIFO between the walk and here.
	f, st, err := safefile.Open(r, p)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(n)))
	return data, st.Size(), err
}

// fenceFor is a code fence longer than any run of backticks in data, so a
// file cannot close it early and pass text off as the brief's own.
func fenceFor(data []byte) string {
	longest, run := 0, 0
	for _, c := range data {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
