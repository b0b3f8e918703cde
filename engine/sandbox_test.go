package engine

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/internal/sandbox"
)

// noLandlock is the test hook that makes the kernel's Landlock unavailable.
func noLandlock(o *Options) { o.Sandbox.Available = func() int { return 0 } }

func TestSandboxRequiredRefusesToRunWithoutLandlock(t *testing.T) {
	for name, c := range map[string]struct {
		wf   string
		user string
	}{
		"workflow":    {wf: SandboxRequired},
		"user config": {user: SandboxRequired},
	} {
		t.Run(name, func(t *testing.T) {
			o := Options{Workspace: t.TempDir(), Agents: Agents{"exec": commandAgent()}, Sandbox: SandboxSettings{Mode: c.user, Source: "/home/u/.config/mimir/config.yaml"}}
			noLandlock(&o)
			wf := &Workflow{Name: "r", Sandbox: c.wf, Tasks: []*Task{{ID: "a", Worker: &AgentSpec{Command: Command{Shell: "touch ran"}}}}}
			_, err := NewRunner(t.Context(), o).Prepare(wf, ExecOptions{})
			if !errors.Is(err, ErrSandboxUnavailable) {
				t.Fatalf("want ErrSandboxUnavailable, got %v", err)
			}
			if !strings.Contains(err.Error(), "no Landlock") || !strings.Contains(err.Error(), "sandbox: required") {
				t.Errorf("the error does not say why and what to do: %v", err)
			}
			if _, err := os.Stat(filepath.Join(o.Workspace, ".mimir")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused execution left its folders: %v", err)
			}
		})
	}
}

func TestNoLandlockIsSaidOncePerExecution(t *testing.T) {
	wf := &Workflow{Name: "u", Tasks: []*Task{task("a"), task("b")}}
	_, evs := run(t, wf, funcAgent{}, noLandlock)
	var warnings []Event
	for _, ev := range evs {
		if ev.Event == EventExecutionWarning {
			warnings = append(warnings, ev)
		}
	}
	if len(warnings) != 1 || warnings[0].Data.Warning != WarningSandboxUnavailable || !strings.Contains(warnings[0].Data.Message, "No sandbox") {
		t.Fatalf("want one sandbox-unavailable warning, got %+v", warnings)
	}
	if i := index(evs, EventExecutionStart, ""); i != 0 || evs[1].Event != EventExecutionWarning {
		t.Errorf("the warning should follow execution-start: %v", names(evs, ""))
	}
	ws := evs[index(evs, EventWorkerStart, "a")]
	if ws.Data.Sandbox != sandboxUnavailable || ws.Data.Network != "" {
		t.Errorf("worker-start says sandbox %q network %q", ws.Data.Sandbox, ws.Data.Network)
	}
}

func TestAttemptEventsSayTheirSandbox(t *testing.T) {
	wf := &Workflow{Name: "s", Network: "deny", Tasks: []*Task{task("a")}}
	_, evs := run(t, wf, funcAgent{}, func(o *Options) { o.Sandbox.Available = func() int { return 7 } })
	w, q := evs[index(evs, EventWorkerStart, "a")], evs[index(evs, EventQCStart, "a")]
	if w.Data.Sandbox != "task-write" || w.Data.Network != "deny" {
		t.Errorf("worker-start: sandbox %q network %q", w.Data.Sandbox, w.Data.Network)
	}
	if q.Data.Sandbox != "read-only" || q.Data.Network != "deny" {
		t.Errorf("qc-start: sandbox %q network %q", q.Data.Sandbox, q.Data.Network)
	}
	if i := index(evs, EventExecutionWarning, ""); i >= 0 {
		t.Errorf("a warning where Landlock is there: %+v", evs[i].Data)
	}
}

func TestSandboxPolicyResolution(t *testing.T) {
	worker := &AgentSpec{}
	qc := &AgentSpec{}
	wf := &Workflow{Tasks: []*Task{{ID: "a", Worker: worker, QC: qc}}}
	abi := func() int { return 7 }
	for _, c := range []struct {
		name                 string
		wfMode, wfNet, agent string
		user                 SandboxSettings
		wantWorker, wantQC   sandbox.Mode
		wantNet              sandbox.Network
		wantWarning          string
		wantBestEffort       bool
	}{
		{name: "defaults", wantWorker: sandbox.TaskWrite, wantQC: sandbox.ReadOnly, wantNet: sandbox.NetworkAllow, wantBestEffort: true},
		{name: "workflow off is ignored", wfMode: "off", wantWorker: sandbox.TaskWrite, wantQC: sandbox.ReadOnly, wantNet: sandbox.NetworkAllow, wantWarning: WarningSandboxOffIgnored, wantBestEffort: true},
		{name: "agent off is ignored", agent: "off", wantWorker: sandbox.TaskWrite, wantQC: sandbox.ReadOnly, wantNet: sandbox.NetworkAllow, wantWarning: WarningSandboxOffIgnored, wantBestEffort: true},
		{name: "workflow off the user allows", wfMode: "off", user: SandboxSettings{AllowWorkflowOff: true}, wantWorker: sandbox.Off, wantQC: sandbox.Off},
		{name: "user off", user: SandboxSettings{Mode: "off"}, wantWorker: sandbox.Off, wantQC: sandbox.Off},
		{name: "workflow read-only", wfMode: "read-only", wantWorker: sandbox.ReadOnly, wantQC: sandbox.ReadOnly, wantNet: sandbox.NetworkAllow, wantBestEffort: true},
		{name: "required", wfMode: "required", wantWorker: sandbox.TaskWrite, wantQC: sandbox.ReadOnly, wantNet: sandbox.NetworkAllow},
		{name: "workflow cannot loosen the user's network", wfNet: "allow", user: SandboxSettings{Network: sandbox.NetworkDeny}, wantWorker: sandbox.TaskWrite, wantQC: sandbox.ReadOnly, wantNet: sandbox.NetworkDeny, wantBestEffort: true},
		{name: "workflow tightens the network", wfNet: "endpoints", wantWorker: sandbox.TaskWrite, wantQC: sandbox.ReadOnly, wantNet: sandbox.NetworkEndpoints, wantBestEffort: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			wf.Sandbox, wf.Network, worker.Sandbox = c.wfMode, c.wfNet, c.agent
			c.user.Available = abi
			p, err := planSandbox(wf, c.user)
			if err != nil {
				t.Fatal(err)
			}
			w, q := p.policy(PhaseWorker, worker), p.policy(PhaseQC, qc)
			if w.Mode != c.wantWorker || q.Mode != c.wantQC || (fenced(w) && w.Network != c.wantNet) || w.BestEffort != c.wantBestEffort {
				t.Errorf("worker %+v, qc %+v", w, q)
			}
			var got string
			if len(p.warnings) > 0 {
				got = p.warnings[0].Warning
			}
			if got != c.wantWarning {
				t.Errorf("warning %q, want %q", got, c.wantWarning)
			}
		})
	}
}

func TestEndpointWithoutPortIsLeftOut(t *testing.T) {
	p, err := planSandbox(&Workflow{Network: "endpoints"}, SandboxSettings{
		Available: func() int { return 7 },
		Endpoints: []string{"localhost:11434/v1", "https://api.example.com/v1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if pol := p.policy(PhaseWorker, &AgentSpec{}); len(pol.ConnectPorts) != 1 || pol.ConnectPorts[0] != 443 {
		t.Errorf("ports %v", pol.ConnectPorts)
	}
}

func TestEndpointPorts(t *testing.T) {
	ports, err := endpointPorts([]string{"http://localhost:11434/v1", "https://api.openai.com/v1", "127.0.0.1:8080", "http://x:11434"})
	if err != nil || len(ports) != 3 || ports[0] != 443 || ports[1] != 8080 || ports[2] != 11434 {
		t.Fatalf("%v, %v", ports, err)
	}
	for _, bad := range []string{"localhost", "ftp://x", "http://x:0", "x:99999"} {
		if _, err := endpointPorts([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestLoadSandboxSettings(t *testing.T) {
	home := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", home)
	t.Setenv("HOME", home)
	ws := t.TempDir()
	write := func(path, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	user := filepath.Join(home, "mimir", "config.yaml")
	wsConfig := filepath.Join(ws, ".mimir", "config.yaml")

	write(user, "llm: {default: x}\nsandbox: required\n")
	s, warnings, err := LoadSandboxSettings(ws, []string{"http://localhost:11434/v1"})
	if err != nil || s.Mode != SandboxRequired || s.Source != user || len(warnings) != 0 || len(s.Endpoints) != 1 {
		t.Fatalf("shorthand: %+v %v %v", s, warnings, err)
	}

	write(user, "sandbox:\n  network: endpoints\n  allowWorkflowOff: true\n  write: [~/.local/share/agent]\n  endpoints: [\"https://api.example.com\"]\n")
	write(wsConfig, "sandbox:\n  mode: off\n  network: deny\n  write: [/]\n")
	s, warnings, err = LoadSandboxSettings(ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Mode != "" || s.Network != sandbox.NetworkDeny || !s.AllowWorkflowOff || len(s.Write) != 1 || s.Write[0] != filepath.Join(home, ".local/share/agent") {
		t.Errorf("the workspace loosened or failed to tighten: %+v", s)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "mode: off, write") {
		t.Errorf("warnings %q", warnings)
	}

	write(wsConfig, "sandbox: required\n")
	if s, _, err = LoadSandboxSettings(ws, nil); err != nil || s.Mode != SandboxRequired || s.Source != wsConfig {
		t.Errorf("the workspace could not require the sandbox: %+v %v", s, err)
	}

	for _, bad := range []string{"sandbox: sometimes\n", "sandbox: {netwrok: deny}\n", "sandbox: {network: maybe}\n", "sandbox: {write: [relative]}\n"} {
		write(user, bad)
		if _, _, err := LoadSandboxSettings(ws, nil); err == nil || !strings.Contains(err.Error(), user) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestCommandFenceExplainsARefusedWrite(t *testing.T) {
	plan, err := planSandbox(&Workflow{}, SandboxSettings{Available: func() int { return 7 }})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	job := &Job{Task: &Task{ID: "a"}, Dir: dir, sandbox: func(phase string) sandbox.Policy {
		return plan.policy(phase, &AgentSpec{})
	}}
	f, err := fenceFor(job, PhaseWorker)
	if err != nil {
		t.Fatal(err)
	}
	if f.Policy == nil || f.Policy.Dir != dir || f.Policy.Temp == "" || f.Policy.Mode != sandbox.TaskWrite {
		t.Fatalf("policy %+v", f.Policy)
	}
	if st, err := os.Stat(f.Policy.Temp); err != nil || !st.IsDir() {
		t.Fatalf("temp folder: %v", err)
	}
	if !slices.Contains(f.Env, "TMPDIR="+f.Policy.Temp) {
		t.Errorf("env %v", f.Env)
	}
	var out strings.Builder
	w := f.Watch(&out)
	// A refusal split across writes, after other output.
	for _, s := range []string{"building\nsh: 1: cannot create /home/u/.bash", "rc: Permission denied\nmore\n"} {
		if _, err := w.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if out.String() != "building\nsh: 1: cannot create /home/u/.bashrc: Permission denied\nmore\n" {
		t.Errorf("output not passed on: %q", out.String())
	}
	got := f.Explain(errors.New("worker command: exit status 2")).Error()
	want := "worker command: exit status 2\nrefused by the sandbox: sh: 1: cannot create /home/u/.bashrc: Permission denied\nthe sandbox (task-write) lets this task write only " + dir + " and its temp folder"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if f.Explain(nil) != nil {
		t.Error("a command that succeeded got an error")
	}
	temp := f.Policy.Temp
	f.Close()
	if _, err := os.Stat(temp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temp folder outlived its command: %v", err)
	}

	// A failure that is not the fence's gets nothing added.
	f, _ = fenceFor(job, PhaseQC)
	defer f.Close()
	f.Watch(&out).Write([]byte("test failed\n"))
	if got := f.Explain(errors.New("exit status 1")).Error(); got != "exit status 1" {
		t.Errorf("got %q", got)
	}
}
