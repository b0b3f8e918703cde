package acp

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/engine/acp/internal/testagent"
	"github.com/mimir-sidecar/mimir-sidecar/engine/enginetest"
	"github.com/mimir-sidecar/mimir-sidecar/engine/exec"
	"github.com/mimir-sidecar/mimir-sidecar/internal/launcher/launchertest"
)

// TestMain lets this test binary serve as the launcher of the commands its
// tests run, and as the ACP agent they talk to (testagent).
func TestMain(m *testing.M) {
	launchertest.Init()
	testagent.Main()
	os.Exit(m.Run())
}

// testAgent is an acp agent spec that runs the test agent with script
// (and env besides).
func testAgent(t *testing.T, script string, env ...string) *engine.AgentSpec {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	e := map[string]string{"ACP_TEST_AGENT": "1", "ACP_TEST_SCRIPT": script}
	for i := 0; i+1 < len(env); i += 2 {
		e[env[i]] = env[i+1]
	}
	return &engine.AgentSpec{Type: "acp", Command: engine.Command{Argv: []string{exe}}, Env: e, Prompt: "Write the file."}
}

// sink records events and tells when one it waits for comes.
type sink struct {
	enginetest.Recorder
	name string
	seen chan struct{}
}

func (s *sink) Emit(ev engine.Event) {
	s.Recorder.Emit(ev)
	if ev.Event == s.name {
		select {
		case s.seen <- struct{}{}:
		default:
		}
	}
}

// start executes wf with the acp agent; the sink signals the first event
// called waitFor.
func start(t *testing.T, wf *engine.Workflow, opts Options, waitFor string) (*engine.Execution, *sink) {
	t.Helper()
	s := &sink{name: waitFor, seen: make(chan struct{}, 1)}
	r := engine.NewRunner(t.Context(), engine.Options{Workspace: t.TempDir(), Sink: s, Agents: engine.Agents{"acp": AgentWith(opts), "exec": exec.Agent()}})
	t.Cleanup(func() { r.Close(context.Background()) })
	ex, err := r.Execute(wf, engine.ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ex, s
}

func run(t *testing.T, wf *engine.Workflow, opts Options) (*engine.Execution, []engine.Event) {
	t.Helper()
	ex, s := start(t, wf, opts, "")
	<-ex.Done()
	return ex, s.Events()
}

func workflow(tasks ...*engine.Task) *engine.Workflow {
	return &engine.Workflow{Name: "acp", Tasks: tasks}
}

// said is what the agent said in phase of attempt, as reported.
func said(evs []engine.Event, phase string, attempt int) string {
	var b strings.Builder
	for _, ev := range evs {
		if ev.Event == engine.EventAgentMessage && ev.Data.Phase == phase && ev.Data.Attempt == attempt && ev.Data.Kind == "message" {
			b.WriteString(ev.Data.Summary)
		}
	}
	return b.String()
}

// Every client method the sidecar serves, tried by the agent in one turn:
// files inside the folder are written and read, every path out of it is
// refused without a read or a write, permissions follow the policy,
// a terminal runs fenced, and vendor methods are not found.
func TestClientMethods(t *testing.T) {
	script := strings.Join([]string{
		"expect Write the file.",
		"plan Write out.txt",
		"think Let me write it",
		"tool Write_out.txt edit",
		"write $CWD/out.txt hello",
		"write sub/dir/b.txt deep",
		"read $CWD/out.txt",
		"write $CWD/../escape.txt x",
		"write ../escape2.txt x",
		"read $CWD/../../../workflow-secret.txt",
		"read /etc/hostname",
		"term ln -s .. up && echo linked",
		"write up/escape3.txt x",
		"read up/out.txt",
		"term echo hi; exit 3",
		"termkill exec sleep 1000",
		"perm edit $CWD/out.txt",
		"perm edit /etc/passwd",
		"perm execute -",
		"perm fetch -",
		"vendor craft/drainMidTurnQueue",
		"vendor _zed/extension",
		"usage",
		"report",
	}, "\n")
	tk := &engine.Task{ID: "w", Worker: testAgent(t, script), MaxRetries: new(int)}
	ex, evs := run(t, workflow(tk), Options{})
	log := said(evs, engine.PhaseWorker, 1)
	if ex.Summary().Status != engine.StatusCompleted {
		t.Fatalf("status %s; events %+v\nthe agent said:\n%s", ex.Summary().Status, evs[len(evs)-1].Data, log)
	}
	staging := ex.StagingDir()
	dir := filepath.Join(staging, "w")
	for name, want := range map[string]string{"out.txt": "hello", "sub/dir/b.txt": "deep"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", name, b, err, want)
		}
	}
	for _, name := range []string{"escape.txt", "escape2.txt", "escape3.txt"} {
		if _, err := os.Stat(filepath.Join(staging, name)); !os.IsNotExist(err) {
			t.Errorf("%s was written outside the task's folder (%v)", name, err)
		}
	}
	for _, want := range []string{
		"expect Write the file.: true",
		"write " + dir + "/out.txt: ok {}",
		"write sub/dir/b.txt: ok {}",
		`read ` + dir + `/out.txt: ok {"content":"hello"}`,
		"write " + dir + "/../escape.txt: error -32602 write: " + dir + "/../escape.txt is outside the task's folder",
		"write ../escape2.txt: error -32602 write: ../escape2.txt is outside the task's folder",
		"read " + dir + "/../../../workflow-secret.txt: error -32602 read:",
		"read /etc/hostname: error -32602 read: /etc/hostname is outside the task's folder",
		"write up/escape3.txt: error -32602 write:",
		"read up/out.txt: error -32602 read:",
		`term output: ok {"exitStatus":{"exitCode":3},"output":"hi\n","truncated":false}`,
		`term wait: ok {"exitCode":3}`,
		"term release: ok {}",
		`term after release: error -32602 unknown terminal`,
		"termkill kill: ok {}",
		`termkill output: ok {"exitStatus":{"signal":`,
		"perm edit " + dir + "/out.txt: selected yes",
		"perm edit /etc/passwd: selected no",
		"perm execute -: selected yes",
		"perm fetch -: selected no",
		"vendor craft/drainMidTurnQueue: error -32601",
		"vendor _zed/extension: error -32601",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the agent's log lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("the agent said:\n%s", log)
	}

	// Permissions: one event per answer.
	var perms []string
	for _, ev := range evs {
		if ev.Event == engine.EventAgentPermission {
			perms = append(perms, ev.Data.Tool+"="+map[bool]string{true: "allowed", false: "refused"}[*ev.Data.OK])
		}
	}
	want := []string{"perm edit " + dir + "/out.txt=allowed", "perm edit /etc/passwd=refused", "perm execute -=allowed", "perm fetch -=refused"}
	if strings.Join(perms, ",") != strings.Join(want, ",") {
		t.Errorf("permission events %v, want %v", perms, want)
	}
	// Updates: the tool call with its kind and status, the plan, the
	// thought, the message coalesced, the usage, the count.
	var calls []string
	for _, ev := range evs {
		if ev.Event == engine.EventWorkerToolCall {
			calls = append(calls, ev.Data.Tool+" "+ev.Data.Kind+" "+ev.Data.ToolStatus)
		}
	}
	if strings.Join(calls, ",") != "Write_out.txt edit pending,Write_out.txt  completed" {
		t.Errorf("tool call events %q", calls)
	}
	kinds := map[string]int{}
	for _, ev := range evs {
		if ev.Event == engine.EventAgentMessage {
			kinds[ev.Data.Kind]++
		}
	}
	// The log is some 2 KB sent three characters at a time: hundreds of
	// chunks, a couple of events.
	if kinds["plan"] != 1 || kinds["thought"] != 1 || kinds["message"] < 1 || kinds["message"] > 3 {
		t.Errorf("agent-message events by kind: %v", kinds)
	}
	wc := evs[enginetest.Index(evs, engine.EventWorkerComplete, "w")]
	if *wc.Data.ToolCalls != 1 {
		t.Errorf("worker-complete counts %d tool calls, want 1", *wc.Data.ToolCalls)
	}
	if i := enginetest.Index(evs, engine.EventAgentUsage, "w"); i < 0 || *evs[i].Data.Tokens != 120 {
		t.Errorf("no agent-usage event with 120 tokens")
	}
}

// A worker that QC fails is run again with the gap in its prompt; a QC
// agent's verdict is the exec QC's JSON, also inside a Markdown block,
// and it may not write.
func TestRetryWithGap(t *testing.T) {
	worker := testAgent(t, "write out.txt draft",
		"ACP_TEST_SCRIPT_2", "expect make it final\nexpect attempt 2 of 3\nwrite out.txt final\nreport")
	qc := testAgent(t, "",
		"ACP_TEST_SCRIPT_1", "write verdict.txt x\nreport\nsay \\n{\"passed\": false, \"score\": 30, \"feedback\": \"a draft\", \"issues\": [\"it is a draft\"], \"requiredFixes\": [\"make it final\"]}",
		"ACP_TEST_SCRIPT_2", "read out.txt\nsay Looks right.\\n```json\\n{\"passed\": true, \"score\": 95}\\n```")
	qc.Prompt = ""
	tk := &engine.Task{ID: "r", Worker: worker, QC: qc, AcceptanceCriteria: []string{"out.txt says final"}}
	ex, evs := run(t, workflow(tk), Options{})
	if ex.Summary().Status != engine.StatusCompleted {
		t.Fatalf("status %s: %+v", ex.Summary().Status, evs[len(evs)-1].Data)
	}
	if got := said(evs, engine.PhaseWorker, 2); !strings.Contains(got, "expect make it final: true") || !strings.Contains(got, "expect attempt 2 of 3: true") {
		t.Errorf("the second attempt's prompt lacks the gap; the agent said:\n%s", got)
	}
	if got := said(evs, engine.PhaseQC, 1); !strings.Contains(got, "write verdict.txt: error -32602 write: the QC agent checks the worker's files and may not change them") {
		t.Errorf("the QC agent's write was not refused; it said:\n%s", got)
	}
	qcs := 0
	for _, ev := range evs {
		if ev.Event == engine.EventQCComplete {
			qcs++
			if p := *ev.Data.Passed; p != (ev.Data.Attempt == 2) || (!p && ev.Data.Gap.RequiredFixes[0] != "make it final") {
				t.Errorf("qc-complete of attempt %d: %+v", ev.Data.Attempt, ev.Data)
			}
		}
	}
	if qcs != 2 {
		t.Errorf("%d qc-complete events, want 2", qcs)
	}
	if b, _ := os.ReadFile(filepath.Join(ex.StagingDir(), "r", "out.txt")); string(b) != "final" {
		t.Errorf("out.txt = %q", b)
	}
}

// A QC answer that is not a verdict is asked for once more; a second
// one fails the attempt, saying so.
func TestQCReask(t *testing.T) {
	t.Run("second answer", func(t *testing.T) {
		qc := testAgent(t, "say I think it is fine.\n---\nexpect could not be used\nsay {\"passed\": true, \"score\": 90}")
		tk := &engine.Task{ID: "q", Worker: testAgent(t, "write a.txt a"), QC: qc}
		ex, evs := run(t, workflow(tk), Options{})
		if ex.Summary().Status != engine.StatusCompleted {
			t.Fatalf("status %s: %+v", ex.Summary().Status, evs[len(evs)-1].Data)
		}
	})
	t.Run("never", func(t *testing.T) {
		qc := testAgent(t, "say I think it is fine.")
		tk := &engine.Task{ID: "q", Worker: testAgent(t, "write a.txt a"), QC: qc, MaxRetries: new(int)}
		ex, evs := run(t, workflow(tk), Options{})
		if ex.Summary().Status != engine.StatusFailed {
			t.Fatalf("status %s", ex.Summary().Status)
		}
		f := evs[enginetest.Index(evs, engine.EventTaskFail, "q")]
		if !strings.Contains(f.Data.Gap.Feedback+f.Data.Error, "did not answer with a JSON verdict, even when asked again") {
			t.Errorf("task-fail: %+v / %+v", f.Data, f.Data.Gap)
		}
	})
}

// workerError runs a one-attempt task and returns its worker's error.
func workerError(t *testing.T, spec *engine.AgentSpec, opts Options) string {
	t.Helper()
	tk := &engine.Task{ID: "x", Worker: spec, MaxRetries: new(int)}
	ex, evs := run(t, workflow(tk), opts)
	if ex.Summary().Status != engine.StatusFailed {
		t.Fatalf("status %s", ex.Summary().Status)
	}
	wc := evs[enginetest.Index(evs, engine.EventWorkerComplete, "x")]
	if *wc.Data.OK {
		t.Fatalf("worker-complete ok: %+v", wc.Data)
	}
	return wc.Data.Error
}

// A turn that does not end normally fails the attempt with the reason.
func TestStopReasons(t *testing.T) {
	for reason, want := range map[string]string{
		"max_tokens":        "maximum of tokens (max_tokens)",
		"max_turn_requests": "(max_turn_requests)",
		"refusal":           "refused to do the task (refusal)",
		"cancelled":         "cancelled its turn",
	} {
		t.Run(reason, func(t *testing.T) {
			if got := workerError(t, testAgent(t, "stop "+reason), Options{}); !strings.Contains(got, want) {
				t.Errorf("error %q, want %q", got, want)
			}
		})
	}
}

// An agent that dies, at initialize or in its turn, fails the attempt
// with the end of its stderr; one that never answers initialize, within
// the start timeout.
func TestAgentFailures(t *testing.T) {
	t.Run("crash at initialize", func(t *testing.T) {
		got := workerError(t, testAgent(t, "", "ACP_TEST_INIT", "crash"), Options{})
		if !strings.Contains(got, "the ACP agent exited") || !strings.Contains(got, "exit status 3") || !strings.Contains(got, "no credentials found; run `testagent login` first") {
			t.Errorf("error %q", got)
		}
	})
	t.Run("crash in the turn", func(t *testing.T) {
		got := workerError(t, testAgent(t, "say working\ncrash"), Options{})
		if !strings.Contains(got, "exit status 4") || !strings.Contains(got, "segmentation fault in the model") {
			t.Errorf("error %q", got)
		}
	})
	t.Run("initialize never answered", func(t *testing.T) {
		got := workerError(t, testAgent(t, "", "ACP_TEST_INIT", "hang"), Options{StartTimeout: 200 * time.Millisecond})
		if !strings.Contains(got, "did not answer within 200ms") {
			t.Errorf("error %q", got)
		}
	})
	t.Run("not an ACP agent", func(t *testing.T) {
		spec := testAgent(t, "")
		spec.Command = engine.Command{Shell: "echo 'usage: tool [--acp]' >&2; exit 2"}
		got := workerError(t, spec, Options{})
		if !strings.Contains(got, "exit status 2") || !strings.Contains(got, "usage: tool [--acp]") {
			t.Errorf("error %q", got)
		}
	})
}

// Cancelling an execution cancels the agent's turn (session/cancel); an
// agent that does not end it is killed after the grace.
func TestCancel(t *testing.T) {
	for _, c := range []struct {
		name, script string
		grace        time.Duration
		want         string
	}{
		// A grace far longer than the test: the turn ends because the
		// agent was told, not because it was killed.
		{"agent ends its turn", "say working\nhang", 30 * time.Second, "got session/cancel"},
		{"agent ignores it", "say working\ndeaf", 100 * time.Millisecond, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			tk := &engine.Task{ID: "c", Worker: testAgent(t, c.script)}
			ex, s := start(t, workflow(tk), Options{CancelGrace: c.grace}, engine.EventAgentMessage)
			select {
			case <-s.seen:
			case <-ex.Done():
				t.Fatalf("ended before the agent spoke: %+v", s.Events())
			}
			ex.Cancel("test")
			<-ex.Done()
			evs := s.Events()
			if ex.Summary().Status != engine.StatusCancelled || enginetest.Index(evs, engine.EventExecutionCancelled, "") < 0 {
				t.Fatalf("status %s", ex.Summary().Status)
			}
			if got := said(evs, engine.PhaseWorker, 1); !strings.Contains(got, c.want) {
				t.Errorf("the agent said %q, want %q", got, c.want)
			}
		})
	}
}

// A preset whose program is missing is refused when the workflow is
// prepared, saying what to install.
func TestPresetMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	r := engine.NewRunner(t.Context(), engine.Options{Workspace: t.TempDir(), Sink: &enginetest.Recorder{}, Agents: engine.Agents{"acp": Agent()}})
	t.Cleanup(func() { r.Close(context.Background()) })
	_, err := r.Execute(workflow(&engine.Task{ID: "p", Worker: &engine.AgentSpec{Type: "acp", Agent: "qwen", Prompt: "p"}}), engine.ExecOptions{})
	if err == nil || !strings.Contains(err.Error(), `agent qwen needs "qwen", which is not on PATH: install Qwen Code: npm install -g @qwen-code/qwen-code`) {
		t.Errorf("err = %v", err)
	}
}

// benchAgent is the test agent, saying hi to every prompt, and a folder
// for its tasks.
func benchAgent(b *testing.B) (agent, string) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	spec := &engine.AgentSpec{Type: "acp", Command: engine.Command{Argv: []string{exe}}, Env: map[string]string{"ACP_TEST_AGENT": "1", "ACP_TEST_SCRIPT": "say hi"}, Prompt: "p"}
	return agent{spec: spec, command: spec.Command, opts: Options{StartTimeout: time.Minute, CancelGrace: time.Second}.withDefaults()}, b.TempDir()
}

// BenchmarkAttemptOverhead measures what an attempt costs before the
// agent does anything: from starting its process (under the launcher) to
// its first session/update.
func BenchmarkAttemptOverhead(b *testing.B) {
	a, dir := benchAgent(b)
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		job := &engine.Job{Task: &engine.Task{ID: "b"}, Attempt: 1, MaxAttempts: 1, Dir: filepath.Join(dir, "b"), StagingRoot: dir}
		began := time.Now()
		s, err := a.start(b.Context(), job, engine.PhaseWorker)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.prompt(b.Context(), "p"); err != nil {
			b.Fatal(err)
		}
		total += s.cl.firstUpdate.Sub(began)
		s.close()
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms-to-first-update/op")
}

// The files of the tasks a task builds on are in its prompt: the agent's
// fs/* reach only its own folder.
func TestDependencyFilesInPrompt(t *testing.T) {
	a := &engine.Task{ID: "a", Worker: &engine.AgentSpec{Command: engine.Command{Shell: "mkdir -p notes && echo 'made by a' > notes/dep.txt"}}}
	b := &engine.Task{ID: "b", DependsOn: []string{"a"}, Worker: testAgent(t, "expect ### a/notes/dep.txt\nexpect made by a\nreport"), MaxRetries: new(int)}
	ex, evs := run(t, workflow(a, b), Options{})
	if ex.Summary().Status != engine.StatusCompleted {
		t.Fatalf("status %s: %+v", ex.Summary().Status, evs[len(evs)-1].Data)
	}
	if got := said(evs, engine.PhaseWorker, 1); !strings.Contains(got, "expect ### a/notes/dep.txt: true\nexpect made by a: true") {
		t.Errorf("the prompt lacks the dependency's file; the agent said:\n%s", got)
	}
}

// BenchmarkReusedSessionTurn is the alternative BenchmarkAttemptOverhead
// is weighed against: a further turn in a session kept open, from
// session/prompt to the first session/update.
func BenchmarkReusedSessionTurn(b *testing.B) {
	a, dir := benchAgent(b)
	job := &engine.Job{Task: &engine.Task{ID: "b"}, Attempt: 1, MaxAttempts: 1, Dir: filepath.Join(dir, "b"), StagingRoot: dir}
	s, err := a.start(b.Context(), job, engine.PhaseWorker)
	if err != nil {
		b.Fatal(err)
	}
	defer s.close()
	var total time.Duration
	for b.Loop() {
		s.cl.mu.Lock()
		s.cl.firstUpdate = time.Time{}
		s.cl.mu.Unlock()
		began := time.Now()
		if _, err := s.prompt(b.Context(), "p"); err != nil {
			b.Fatal(err)
		}
		total += s.cl.firstUpdate.Sub(began)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms-to-first-update/op")
}
