//go:build unix

// Package acpqwen checks that Qwen Code, a real third-party ACP agent,
// writes a file through the client's fs/write_text_file when its model is
// internal/fakemodel: the pieces the type: acp agent's end-to-end test
// plugs together, proved here on their own with a minimal ACP client.
//
// scripts/test.d/acp-qwen.sh installs Qwen Code (npm ci here) and runs
// this with MIMIR_QWEN set; without it the test looks for
// node_modules/.bin/qwen beside this file and skips when there is none.
package acpqwen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	acp "github.com/coder/acp-go-sdk"

	"github.com/mimir-sidecar/mimir-sidecar/internal/fakemodel"
)

// gap stands for the QC gap a retry's prompt carries: the scripted model
// writes the fixed content only when the prompt contains it.
const gap = "QC GAP: the notes must say 'fixed'"

func qwenBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MIMIR_QWEN"); p != "" {
		return p
	}
	p, err := filepath.Abs(filepath.Join("node_modules", ".bin", "qwen"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Skip("Qwen Code is not installed here: scripts/test.d/acp-qwen.sh installs it (npm ci in tests/acp-qwen) and runs this test")
	}
	return p
}

func TestQwenWritesThroughTheClient(t *testing.T) {
	qwen := qwenBinary(t)
	model := fakemodel.Start("fake-model", fakemodel.WriteFile{
		Name:    "notes.md",
		Trigger: "Write notes.md.",
		Attempts: []fakemodel.Attempt{
			{When: gap, Content: "fixed notes\n"},
			{Content: "draft notes\n"},
		},
		Done: "I wrote notes.md.",
	}.Script())
	defer model.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	a := startQwen(ctx, t, qwen, model.URL())
	defer a.stop(t)

	// Attempts of one task the two ways the agent can run them: each in a
	// session of its own (one agent per attempt), and a retry in the first
	// attempt's session (one agent per task, which keeps its context). One
	// process serves all three, to keep the test to one slow start.
	type session struct {
		id  acp.SessionId
		dir string
	}
	var sessions []session
	for i, want := range []struct {
		reuse           bool // prompt the first session again
		prompt, content string
	}{
		{false, "Write notes.md.", "draft notes\n"},
		{false, "Write notes.md.\n\n" + gap, "fixed notes\n"},
		{true, "Write notes.md.\n\n" + gap, "fixed notes\n"},
	} {
		var sess session
		if want.reuse {
			sess = sessions[0]
		} else {
			sess.dir = t.TempDir()
			sessStart := time.Now()
			resp, err := a.conn.NewSession(ctx, acp.NewSessionRequest{Cwd: sess.dir, McpServers: []acp.McpServer{}})
			if err != nil {
				t.Fatalf("attempt %d: session/new: %v\nstderr:\n%s", i+1, err, a.stderr.String())
			}
			t.Logf("attempt %d: session/new answered in %v", i+1, time.Since(sessStart))
			sess.id = resp.SessionId
			sessions = append(sessions, sess)
		}
		dir := sess.dir
		a.client.setRoot(t, dir)
		promptStart := time.Now()
		resp, err := a.conn.Prompt(ctx, acp.PromptRequest{SessionId: sess.id, Prompt: []acp.ContentBlock{acp.TextBlock(want.prompt)}})
		if err != nil {
			t.Fatalf("attempt %d: session/prompt: %v\nstderr:\n%s", i+1, err, a.stderr.String())
		}
		t.Logf("attempt %d: session/prompt answered in %v, stopReason %q, usage %+v", i+1, time.Since(promptStart), resp.StopReason, resp.Usage)
		if resp.StopReason != acp.StopReasonEndTurn {
			t.Errorf("attempt %d: stopReason %q, want end_turn", i+1, resp.StopReason)
		}
		got, err := os.ReadFile(filepath.Join(dir, "notes.md"))
		if err != nil {
			t.Fatalf("attempt %d: the agent wrote no notes.md: %v", i+1, err)
		}
		if string(got) != want.content {
			t.Errorf("attempt %d: notes.md = %q, want %q", i+1, got, want.content)
		}
		// The folder is what becomes deliverables: the agent must leave
		// nothing of its own there (its state goes to $HOME/.qwen).
		var files []string
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && p != dir {
				rel, _ := filepath.Rel(dir, p)
				files = append(files, rel)
			}
			return nil
		})
		if !slices.Equal(files, []string{"notes.md"}) {
			t.Errorf("attempt %d: the folder holds %q, want only notes.md", i+1, files)
		}
	}

	writes := a.client.writes()
	if len(writes) != 3 {
		t.Errorf("fs/write_text_file calls: %d, want 3 (one per attempt): %v", len(writes), writes)
	}
	// In its approval mode "default" Qwen Code asks before every edit; in
	// "auto", its ACP default, it writes inside its folder without asking.
	if asked := a.client.permissions(); len(asked) != 3 || !strings.HasPrefix(asked[0], "edit: ") {
		t.Errorf("permission requests: %q, want one edit per attempt", asked)
	}
	for _, r := range model.Requests() {
		line := fmt.Sprintf("model: %s %s", r.Method, r.Path)
		if r.Chat != nil {
			line += fmt.Sprintf(" stream=%v tools=%d messages=%d → %d calls, %q", r.Chat.Stream, len(r.Chat.Tools), len(r.Chat.Messages), len(r.Reply.Calls), r.Reply.Content)
		}
		t.Log(line)
		if os.Getenv("MIMIR_QWEN_TRACE") != "" && r.Chat != nil {
			var roles []string
			for _, m := range r.Chat.Messages {
				roles = append(roles, m.Role)
			}
			sys := ""
			if len(r.Chat.Messages) > 0 {
				sys = r.Chat.Messages[0].Text()
			}
			last := r.Chat.Messages[len(r.Chat.Messages)-1].Text()
			t.Logf("  roles %v tools %v\n  first: %.300q\n  last: %.600q", roles, r.Chat.ToolNames(), sys, last)
		}
	}
	t.Logf("spawn → initialize answered: %v; spawn → first session/update: %v", a.initialized, a.client.firstUpdate().Sub(a.spawned))
	t.Logf("session/update kinds: %v", a.client.kinds())
	a.trace.log(t)
	if entries, err := os.ReadDir(a.home); err != nil || len(entries) > 0 {
		t.Errorf("Qwen wrote in HOME despite QWEN_HOME: %v %v", entries, err)
	}
	if os.Getenv("MIMIR_QWEN_TRACE") != "" {
		filepath.WalkDir(a.qwenHome, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				t.Log("home: " + p)
			}
			return nil
		})
	}
}

// agent is Qwen Code running under a minimal ACP client.
type agent struct {
	cmd         *exec.Cmd
	stdin       io.Closer
	conn        *acp.ClientSideConnection
	client      *client
	stderr      *lockedBuffer
	home        string
	qwenHome    string
	trace       *trace
	spawned     time.Time
	initialized time.Duration
}

func startQwen(ctx context.Context, t *testing.T, qwen, baseURL string) *agent {
	t.Helper()
	// Qwen Code writes ~/.qwen at start-up and after each turn (memory,
	// sessions) and dies before answering initialize when it cannot. Under
	// the sidecar's sandbox HOME is not writable: QWEN_HOME moves all of it
	// (checked below: HOME stays empty), to TMPDIR say.
	home, qwenHome := t.TempDir(), t.TempDir()
	cmd := exec.CommandContext(ctx, qwen, "--acp", "--auth-type", "openai", "--approval-mode", "default")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"QWEN_HOME=" + qwenHome,
		"OPENAI_BASE_URL=" + baseURL,
		"OPENAI_API_KEY=test-key",
		"OPENAI_MODEL=fake-model",
	}
	// Its own process group, so stop ends whatever Node started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	a := &agent{cmd: cmd, stdin: stdin, stderr: &lockedBuffer{}, trace: &trace{}, home: home, qwenHome: qwenHome}
	cmd.Stderr = a.stderr
	a.client = &client{}
	a.spawned = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", qwen, err)
	}
	// Every line Qwen sends is kept, so the report of what a real agent
	// says (vendor methods, update kinds) comes from the wire, not the SDK.
	a.conn = acp.NewClientSideConnection(a.client, stdin, io.TeeReader(stdout, a.trace))
	// The SDK logs the vendor notifications it answers -32601 to
	// (qwen/notify/session/prompt-suggestion) at ERROR: into the test's
	// output, not the run's.
	a.conn.SetLogger(slog.New(slog.NewTextHandler(t.Output(), nil)))
	init, err := a.conn.Initialize(ctx, acp.InitializeRequest{
		ProtocolVersion:    acp.ProtocolVersionNumber,
		ClientCapabilities: acp.ClientCapabilities{Fs: acp.FileSystemCapabilities{ReadTextFile: true, WriteTextFile: true}},
		ClientInfo:         &acp.Implementation{Name: "mimir-sidecar-test", Version: "0"},
	})
	if err != nil {
		a.stop(t)
		t.Fatalf("initialize: %v\nstderr:\n%s", err, a.stderr.String())
	}
	a.initialized = time.Since(a.spawned)
	t.Logf("initialize: protocol %d, agent %+v", init.ProtocolVersion, init.AgentInfo)
	return a
}

// stop closes the agent's stdin, which ends an ACP agent, and kills its
// process group if it has not exited within a few seconds.
func (a *agent) stop(t *testing.T) {
	a.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- a.cmd.Wait() }()
	select {
	case err := <-done:
		t.Logf("qwen exited: %v", err)
	case <-time.After(5 * time.Second):
		syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
		t.Logf("qwen killed after its stdin closed: %v", <-done)
	}
}

// client serves the agent's requests: files confined to the attempt's
// folder through os.Root, every permission allowed once.
type client struct {
	mu     sync.Mutex
	root   *os.Root
	dir    string
	wrote  []string
	asked  []string // the permission requests: tool kind and title
	first  time.Time
	kindsN map[string]int
}

func (c *client) setRoot(t *testing.T, dir string) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	c.mu.Lock()
	c.root, c.dir = r, dir
	c.mu.Unlock()
}

// inRoot is p relative to the attempt's folder; the agent sends absolute
// paths.
func (c *client) inRoot(p string) (*os.Root, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rel, err := filepath.Rel(c.dir, p)
	if err != nil || !filepath.IsAbs(p) {
		return nil, "", fmt.Errorf("%s is not an absolute path in %s", p, c.dir)
	}
	return c.root, rel, nil
}

func (c *client) ReadTextFile(_ context.Context, p acp.ReadTextFileRequest) (acp.ReadTextFileResponse, error) {
	root, rel, err := c.inRoot(p.Path)
	if err != nil {
		return acp.ReadTextFileResponse{}, err
	}
	b, err := root.ReadFile(rel)
	if err != nil {
		return acp.ReadTextFileResponse{}, err
	}
	return acp.ReadTextFileResponse{Content: string(b)}, nil
}

func (c *client) WriteTextFile(_ context.Context, p acp.WriteTextFileRequest) (acp.WriteTextFileResponse, error) {
	root, rel, err := c.inRoot(p.Path)
	if err != nil {
		return acp.WriteTextFileResponse{}, err
	}
	if err := root.WriteFile(rel, []byte(p.Content), 0o644); err != nil {
		return acp.WriteTextFileResponse{}, err
	}
	c.mu.Lock()
	c.wrote = append(c.wrote, p.Path)
	c.mu.Unlock()
	return acp.WriteTextFileResponse{}, nil
}

func (c *client) RequestPermission(_ context.Context, p acp.RequestPermissionRequest) (acp.RequestPermissionResponse, error) {
	kind, title := "", ""
	if p.ToolCall.Kind != nil {
		kind = string(*p.ToolCall.Kind)
	}
	if p.ToolCall.Title != nil {
		title = *p.ToolCall.Title
	}
	c.mu.Lock()
	c.asked = append(c.asked, kind+": "+title)
	c.mu.Unlock()
	for _, o := range p.Options {
		if o.Kind == acp.PermissionOptionKindAllowOnce {
			return acp.RequestPermissionResponse{Outcome: acp.NewRequestPermissionOutcomeSelected(o.OptionId)}, nil
		}
	}
	return acp.RequestPermissionResponse{Outcome: acp.NewRequestPermissionOutcomeCancelled()}, nil
}

func (c *client) SessionUpdate(_ context.Context, n acp.SessionNotification) error {
	b, err := json.Marshal(n.Update)
	if err != nil {
		return err
	}
	var kind struct {
		SessionUpdate string `json:"sessionUpdate"`
	}
	json.Unmarshal(b, &kind)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.first.IsZero() {
		c.first = time.Now()
	}
	if c.kindsN == nil {
		c.kindsN = map[string]int{}
	}
	c.kindsN[kind.SessionUpdate]++
	return nil
}

var errNoTerminal = errors.New("this client offers no terminal")

func (c *client) CreateTerminal(context.Context, acp.CreateTerminalRequest) (acp.CreateTerminalResponse, error) {
	return acp.CreateTerminalResponse{}, errNoTerminal
}
func (c *client) KillTerminal(context.Context, acp.KillTerminalRequest) (acp.KillTerminalResponse, error) {
	return acp.KillTerminalResponse{}, errNoTerminal
}
func (c *client) TerminalOutput(context.Context, acp.TerminalOutputRequest) (acp.TerminalOutputResponse, error) {
	return acp.TerminalOutputResponse{}, errNoTerminal
}
func (c *client) ReleaseTerminal(context.Context, acp.ReleaseTerminalRequest) (acp.ReleaseTerminalResponse, error) {
	return acp.ReleaseTerminalResponse{}, errNoTerminal
}
func (c *client) WaitForTerminalExit(context.Context, acp.WaitForTerminalExitRequest) (acp.WaitForTerminalExitResponse, error) {
	return acp.WaitForTerminalExitResponse{}, errNoTerminal
}

func (c *client) writes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.wrote)
}

func (c *client) permissions() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.asked)
}

func (c *client) firstUpdate() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.first
}

func (c *client) kinds() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.kindsN {
		out[k] = v
	}
	return out
}

// trace keeps the lines the agent wrote to its stdout.
type trace struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines []string
}

func (tr *trace) Write(p []byte) (int, error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.buf.Write(p)
	for {
		i := bytes.IndexByte(tr.buf.Bytes(), '\n')
		if i < 0 {
			break
		}
		tr.lines = append(tr.lines, string(tr.buf.Next(i + 1)[:i]))
	}
	return len(p), nil
}

// log writes the agent's messages, one line each, shortened, with the
// methods it called counted first.
func (tr *trace) log(t *testing.T) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	methods := map[string]int{}
	for _, l := range tr.lines {
		var m struct {
			Method string `json:"method"`
		}
		json.Unmarshal([]byte(l), &m)
		if m.Method != "" {
			methods[m.Method]++
		}
	}
	t.Logf("methods the agent called: %v", methods)
	if os.Getenv("MIMIR_QWEN_TRACE") == "" {
		return
	}
	sc := bufio.NewScanner(strings.NewReader(strings.Join(tr.lines, "\n")))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		l := sc.Text()
		if len(l) > 1500 {
			l = l[:1500] + "…"
		}
		t.Log("agent → client: " + l)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
