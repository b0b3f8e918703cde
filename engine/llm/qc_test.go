package llm

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// The QC request carries the verdict's JSON Schema as structured output,
// the task's criteria and the worker's files; a verdict that passes and
// clears the threshold passes.
func TestQCStructuredVerdict(t *testing.T) {
	f := newFakeLLM(t, verdictAnswer(true, 92, "All criteria met.", nil, nil))
	task := llmTask("Write notes/a.md with a greeting.", "notes/a.md exists", "it greets the reader")
	task.QC.Prompt = "Be picky about spelling."
	job := testJob(t, task)
	os.MkdirAll(filepath.Join(job.Dir, "notes"), 0o755)
	os.WriteFile(filepath.Join(job.Dir, "notes", "a.md"), []byte("Hello, reader ``` with backticks"), 0o644)
	os.WriteFile(filepath.Join(job.Dir, "blob.bin"), []byte{0, 1, 2, 3}, 0o644)

	v, err := buildQC(t, Kind(testConfig(f.URL())), task).Check(t.Context(), job)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Passed || v.Score != 92 || v.Gap.Feedback != "All criteria met." {
		t.Errorf("verdict = %+v", v)
	}

	body := f.requests()[0].Body
	rf := body.ResponseFormat
	if rf["type"] != "json_schema" {
		t.Fatalf("response_format = %v", rf)
	}
	js := rf["json_schema"].(map[string]any)
	if js["name"] != "qc_verdict" || js["strict"] != true {
		t.Errorf("json_schema = %v", js)
	}
	schema := js["schema"].(map[string]any)
	var required []string
	for _, r := range schema["required"].([]any) {
		required = append(required, r.(string))
	}
	if !reflect.DeepEqual(required, []string{"passed", "score", "feedback", "issues", "requiredFixes"}) {
		t.Errorf("schema requires %v", required)
	}
	if len(body.Tools) != 0 {
		t.Errorf("the QC agent was offered tools: %v", body.toolNames())
	}
	if body.Messages[0].Role != "system" || !strings.Contains(body.Messages[0].Text(), "quality-control") {
		t.Errorf("system message = %q", body.Messages[0].Text())
	}
	brief := body.Messages[1].Text()
	for _, want := range []string{
		"Write the notes", "Write notes/a.md with a greeting.",
		"1. notes/a.md exists", "2. it greets the reader", "Be picky about spelling.",
		"notes/a.md", "````\nHello, reader ``` with backticks\n````", "blob.bin (binary)",
		"score of at least 80",
	} {
		if !strings.Contains(brief, want) {
			t.Errorf("the QC brief lacks %q:\n%s", want, brief)
		}
	}
}

// The threshold is the task's: a "passed" below it fails, and says why.
func TestQCThreshold(t *testing.T) {
	f := newFakeLLM(t, verdictAnswer(true, 85, "Fine.", nil, nil), verdictAnswer(true, 85, "Fine.", nil, nil))
	task := llmTask("Write.", "it exists")
	strict := 90
	task.PassThreshold = &strict
	q := buildQC(t, Kind(testConfig(f.URL())), task)
	v, err := q.Check(t.Context(), testJob(t, task))
	if err != nil {
		t.Fatal(err)
	}
	if v.Passed || v.Score != 85 || !strings.Contains(v.Gap.Feedback, "below the task's pass threshold of 90") {
		t.Errorf("verdict = %+v", v)
	}
	if !strings.Contains(f.requests()[0].Body.Messages[1].Text(), "score of at least 90") {
		t.Error("the brief does not give the task's threshold")
	}

	lenient := 80
	task.PassThreshold = &lenient
	v, err = buildQC(t, Kind(testConfig(f.URL())), task).Check(t.Context(), testJob(t, task))
	if err != nil || !v.Passed {
		t.Errorf("verdict = %+v, %v", v, err)
	}
}

// A failing verdict's gap is handed on as the model gave it.
func TestQCFailingVerdictGap(t *testing.T) {
	f := newFakeLLM(t, verdictAnswer(false, 40, "No greeting.", []string{"a.md lacks Hello"}, []string{"Add Hello"}))
	task := llmTask("Write.", "it greets")
	v, err := buildQC(t, Kind(testConfig(f.URL())), task).Check(t.Context(), testJob(t, task))
	if err != nil {
		t.Fatal(err)
	}
	if v.Passed || v.Score != 40 || v.Gap.Feedback != "No greeting." ||
		!reflect.DeepEqual(v.Gap.Issues, []string{"a.md lacks Hello"}) || !reflect.DeepEqual(v.Gap.RequiredFixes, []string{"Add Hello"}) {
		t.Errorf("verdict = %+v", v)
	}
	if !strings.Contains(f.requests()[0].Body.Messages[1].Text(), "The worker wrote no files.") {
		t.Error("an empty folder is not said to be empty")
	}
}

// An answer that is not a verdict gets one repair request, which carries
// the bad answer and what was wrong with it.
func TestQCRepairsMalformedVerdict(t *testing.T) {
	f := newFakeLLM(t,
		answer("The work looks good to me!"),
		answer("```json\n{\"passed\": true, \"score\": 88, \"feedback\": \"ok\", \"issues\": [], \"requiredFixes\": []}\n```"),
	)
	task := llmTask("Write.", "it exists")
	v, err := buildQC(t, Kind(testConfig(f.URL())), task).Check(t.Context(), testJob(t, task))
	if err != nil {
		t.Fatal(err)
	}
	if !v.Passed || v.Score != 88 {
		t.Errorf("verdict = %+v", v)
	}
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	msgs := reqs[1].Body.Messages
	if len(msgs) != 4 || msgs[2].Role != "assistant" || msgs[2].Text() != "The work looks good to me!" || msgs[3].Role != "user" {
		t.Fatalf("repair messages = %+v", msgs)
	}
	repair := msgs[3].Text()
	for _, want := range []string{"could not be used", "not the JSON verdict object", `"requiredFixes"`} {
		if !strings.Contains(repair, want) {
			t.Errorf("the repair request lacks %q:\n%s", want, repair)
		}
	}
	if reqs[1].Body.ResponseFormat["type"] != "json_schema" {
		t.Error("the repair request dropped structured output")
	}
}

// A verdict still unusable after the repair is a failed QC whose gap says
// the answer was unusable: never a pass, never more than one repair.
func TestQCUnusableVerdictFails(t *testing.T) {
	for _, bad := range []string{
		`{"passed": true}`,
		`{"passed": true, "score": 100, "feedback": "", "issues": [], "requiredFixes": [], "extra": 1}`,
		`{"passed": true, "score": 180, "feedback": "", "issues": [], "requiredFixes": []}`,
		`{"passed": "yes", "score": 100, "feedback": "", "issues": [], "requiredFixes": []}`,
		`{"passed": true, "score": 100, "feedback": "", "issues": [], "requiredFixes": []} and more`,
		``,
	} {
		t.Run(bad, func(t *testing.T) {
			f := newFakeLLM(t, answer(bad), answer(bad))
			task := llmTask("Write.", "it exists")
			v, err := buildQC(t, Kind(testConfig(f.URL())), task).Check(t.Context(), testJob(t, task))
			if err != nil {
				t.Fatal(err)
			}
			if v.Passed || v.Score != 0 {
				t.Errorf("verdict = %+v, want a failure", v)
			}
			if !strings.Contains(v.Gap.Feedback, "The QC answer was unusable") || len(v.Gap.Issues) != 1 {
				t.Errorf("gap = %+v", v.Gap)
			}
			if n := len(f.requests()); n != 2 {
				t.Errorf("%d requests, want the question and one repair", n)
			}
		})
	}
}

// An endpoint that refuses response_format is asked again without it, and
// not offered it again.
func TestQCWithoutStructuredOutput(t *testing.T) {
	f := newFakeLLM(t,
		status(400, `{"error": {"message": "response_format json_schema is not supported", "type": "invalid_request_error"}}`),
		verdictAnswer(true, 90, "ok", nil, nil),
		verdictAnswer(true, 90, "ok", nil, nil),
	)
	task := llmTask("Write.", "it exists")
	q := buildQC(t, Kind(testConfig(f.URL())), task)
	for range 2 {
		v, err := q.Check(t.Context(), testJob(t, task))
		if err != nil || !v.Passed {
			t.Fatalf("verdict = %+v, %v", v, err)
		}
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	if reqs[0].Body.ResponseFormat == nil || reqs[1].Body.ResponseFormat != nil || reqs[2].Body.ResponseFormat != nil {
		t.Errorf("response_format per request: %v, %v, %v", reqs[0].Body.ResponseFormat, reqs[1].Body.ResponseFormat, reqs[2].Body.ResponseFormat)
	}

	// Configured off, it is never sent.
	f2 := newFakeLLM(t, verdictAnswer(true, 90, "ok", nil, nil))
	q = buildQC(t, Kind(testConfig(f2.URL(), func(p *Provider) { p.StructuredOutput = false })), task)
	if _, err := q.Check(t.Context(), testJob(t, task)); err != nil {
		t.Fatal(err)
	}
	if f2.requests()[0].Body.ResponseFormat != nil {
		t.Error("response_format sent with structuredOutput: false")
	}
}

// The QC agent sees what is in the folder and nothing a symlink points at.
func TestQCDoesNotFollowSymlinks(t *testing.T) {
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("TOP-SECRET-CONTENT"), 0o644)
	f := newFakeLLM(t, verdictAnswer(true, 90, "ok", nil, nil))
	task := llmTask("Write.", "it exists")
	job := testJob(t, task)
	os.WriteFile(filepath.Join(job.Dir, "mine.txt"), []byte("my work"), 0o644)
	if err := os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(job.Dir, "link.txt")); err != nil {
		t.Fatal(err)
	}
	if _, err := buildQC(t, Kind(testConfig(f.URL())), task).Check(t.Context(), job); err != nil {
		t.Fatal(err)
	}
	raw := string(f.requests()[0].Raw)
	if strings.Contains(raw, "TOP-SECRET-CONTENT") {
		t.Error("the QC request holds a file from outside the staging folder")
	}
	if !strings.Contains(raw, "my work") || !strings.Contains(raw, "link.txt (symlink, not followed)") {
		t.Errorf("QC brief = %s", f.requests()[0].Body.Messages[1].Text())
	}
}

func TestParseVerdict(t *testing.T) {
	v, err := parseVerdict("  {\"passed\": false, \"score\": 49.6, \"feedback\": \"f\", \"issues\": null, \"requiredFixes\": [\"x\"]}  ")
	if err == nil {
		t.Errorf("a null issues list parsed: %+v", v)
	}
	v, err = parseVerdict(`{"passed": false, "score": 49.6, "feedback": "f", "issues": [], "requiredFixes": ["x"]}`)
	if err != nil || v.score != 50 || v.passed || v.requiredFixes[0] != "x" {
		t.Errorf("verdict = %+v, %v", v, err)
	}
	if _, err := parseVerdict(`{"score": 10}`); err == nil || !strings.Contains(err.Error(), "lacks feedback, issues, passed, requiredFixes") {
		t.Errorf("err = %v", err)
	}
	b, _ := json.Marshal(verdictSchema.schema)
	if !strings.Contains(repairPrompt(errTest), string(b)) {
		t.Error("the repair prompt does not carry the schema")
	}
}

var errTest = errors.New("bad")

// The list of files the QC agent is not shown is bounded too, and says how
// many it leaves out.
func TestQCNotShownIsBounded(t *testing.T) {
	dir := t.TempDir()
	const n = maxQCNotShown + 13
	for i := range n {
		mustWrite(t, filepath.Join(dir, fmt.Sprintf("bin%03d.dat", i)), "\x00binary")
	}
	out := workerFiles(dir)
	_, notShown, ok := strings.Cut(out, "\nNot shown: ")
	if !ok {
		t.Fatalf("no Not shown list:\n%s", out)
	}
	items := strings.Split(strings.TrimSpace(notShown), "; ")
	if len(items) != maxQCNotShown+1 || items[len(items)-1] != "and 13 more" {
		t.Errorf("%d items, last %q; want %d and \"and 13 more\"", len(items), items[len(items)-1], maxQCNotShown+1)
	}
	if items[0] != "bin000.dat (binary)" {
		t.Errorf("first item %q", items[0])
	}
}

// An isolated task's QC is shown the worker's change as a diff, not the
// folder's files (the whole project); a long diff is cut and says where
// the rest is.
func TestQCOfAnIsolatedTaskSeesTheDiff(t *testing.T) {
	f := newFakeLLM(t, verdictAnswer(true, 90, "Fine.", nil, nil))
	task := llmTask("Fix it.", "the test passes")
	job := testJob(t, task)
	os.WriteFile(filepath.Join(job.Dir, "unrelated.txt"), []byte("not part of the change"), 0o644)
	patch := "--- a/a.go\n+++ b/a.go\n@@ -1 +1 @@\n-bug\n+fix\n" + strings.Repeat("+more\n", 20000)
	job.Change = &engine.AttemptChange{Files: []engine.ChangedFile{{Path: "a.go", Status: "modified"}}, Patch: []byte(patch), PatchFile: "/state/t.1.patch"}
	if _, err := buildQC(t, Kind(testConfig(f.URL())), task).Check(t.Context(), job); err != nil {
		t.Fatal(err)
	}
	brief := f.requests()[0].Body.Messages[1].Text()
	for _, want := range []string{"- a.go (modified)", "-bug\n+fix", "the whole of it is in /state/t.1.patch"} {
		if !strings.Contains(brief, want) {
			t.Errorf("the QC brief lacks %q", want)
		}
	}
	if strings.Contains(brief, "not part of the change") || len(brief) > 64<<10 {
		t.Errorf("the QC brief shows files beyond the change, or all of a long diff (%d bytes)", len(brief))
	}
}
