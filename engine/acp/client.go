package acp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	sdk "github.com/coder/acp-go-sdk"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/internal/safefile"
)

// Bounds on what an agent can make the sidecar hold.
const (
	// maxFileSize is the most fs/* reads or writes at once.
	maxFileSize = 16 << 20
	// maxMessage is what is kept of the agent's last message (a QC
	// verdict is far smaller).
	maxMessage = 1 << 20
	// flushAt is the size at which coalesced message text is reported
	// even though the agent is still talking; flushAfter how long text
	// waits at most, so a short message followed by a long silence shows.
	flushAt    = 2000
	flushAfter = 500 * time.Millisecond
)

// client is the sidecar's side of one session: the agent's requests,
// answered within the task's folder, and its updates, turned into events.
type client struct {
	job         *engine.Job
	phase       string
	dir         string
	root        *os.Root
	permissions string
	terms       *terminals

	mu      sync.Mutex
	session sdk.SessionId
	// pending is message text not yet reported, of kind pendKind.
	pending  strings.Builder
	pendKind string
	timer    *time.Timer // flushes pending text flushAfter after its first piece
	// last is the agent's message since its last tool call.
	last      strings.Builder
	toolCalls map[sdk.ToolCallId]string // title by id
	calls     int
	// firstUpdate is when the session's first session/update came (the
	// benchmark's mark).
	firstUpdate time.Time
	// usage is the tokens the agent reported with its message chunks in
	// this turn, for agents that do not report them in session/prompt's
	// answer.
	usage tokenUsage
}

// tokenUsage is a turn's token counts.
type tokenUsage struct{ in, out, total int }

// metaUsage reads the usage an agent attaches to a message chunk's _meta
// (Qwen Code: {"usage": {"inputTokens", "outputTokens", "totalTokens"}},
// once per model response), which ACP leaves to each agent.
func metaUsage(meta map[string]any) (tokenUsage, bool) {
	u, ok := meta["usage"].(map[string]any)
	if !ok {
		return tokenUsage{}, false
	}
	n := func(k string) int {
		f, _ := u[k].(float64)
		return int(f)
	}
	t := tokenUsage{in: n("inputTokens"), out: n("outputTokens"), total: n("totalTokens")}
	if t.total == 0 {
		t.total = t.in + t.out
	}
	return t, t.total > 0
}

func newClient(job *engine.Job, phase string, root *os.Root, permissions string) *client {
	if permissions == "" {
		permissions = engine.PermissionsTaskFolder
	}
	return &client{
		job: job, phase: phase, dir: job.Dir, root: root, permissions: permissions,
		terms:     newTerminals(job, phase),
		toolCalls: map[sdk.ToolCallId]string{},
	}
}

func (c *client) setSession(id sdk.SessionId) {
	c.mu.Lock()
	c.session = id
	c.mu.Unlock()
}

func (c *client) close() {
	c.flush()
	c.terms.close()
	c.root.Close()
}

// checkSession refuses a request for another session than ours.
func (c *client) checkSession(id sdk.SessionId) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id != c.session {
		return sdk.NewInvalidParams(map[string]any{"error": fmt.Sprintf("unknown session %q", id)})
	}
	return nil
}

// local is p as a path inside the task's folder, or an error that says p
// is outside it. ACP paths are absolute; a relative one is taken as
// relative to the folder (the session's cwd). The check is lexical;
// os.Root then refuses links that lead out.
func (c *client) local(p string) (string, error) {
	if p == "" {
		return "", errors.New("no path given")
	}
	rel := p
	if filepath.IsAbs(p) {
		r, err := filepath.Rel(c.dir, p)
		if err != nil {
			return "", fmt.Errorf("%s is outside the task's folder %s", p, c.dir)
		}
		rel = r
	}
	if !filepath.IsLocal(rel) {
		return "", fmt.Errorf("%s is outside the task's folder %s: the agent may only use files inside it", p, c.dir)
	}
	return rel, nil
}

func (c *client) ReadTextFile(_ context.Context, p sdk.ReadTextFileRequest) (sdk.ReadTextFileResponse, error) {
	if err := c.checkSession(p.SessionId); err != nil {
		return sdk.ReadTextFileResponse{}, err
	}
	rel, err := c.local(p.Path)
	if err != nil {
		return sdk.ReadTextFileResponse{}, fsError("read", err)
	}
	// Never a pipe waited on, nor a link followed: the agent made what is
	// in the folder.
	f, _, err := safefile.OpenNoFollow(c.root, rel)
	if err != nil {
		return sdk.ReadTextFileResponse{}, fsError("read", err)
	}
	defer f.Close()
	b, err := safefile.ReadAtMost(f, maxFileSize)
	if err != nil {
		return sdk.ReadTextFileResponse{}, fsError("read", err)
	}
	text := string(b)
	if p.Line != nil || p.Limit != nil {
		lines := strings.SplitAfter(text, "\n")
		from := 0
		if p.Line != nil && *p.Line > 1 {
			from = min(*p.Line-1, len(lines))
		}
		to := len(lines)
		if p.Limit != nil && *p.Limit >= 0 {
			to = min(from+*p.Limit, len(lines))
		}
		text = strings.Join(lines[from:to], "")
	}
	return sdk.ReadTextFileResponse{Content: text}, nil
}

func (c *client) WriteTextFile(_ context.Context, p sdk.WriteTextFileRequest) (sdk.WriteTextFileResponse, error) {
	if err := c.checkSession(p.SessionId); err != nil {
		return sdk.WriteTextFileResponse{}, err
	}
	if c.phase != engine.PhaseWorker {
		return sdk.WriteTextFileResponse{}, fsError("write", errors.New("the QC agent checks the worker's files and may not change them"))
	}
	rel, err := c.local(p.Path)
	if err != nil {
		return sdk.WriteTextFileResponse{}, fsError("write", err)
	}
	if len(p.Content) > maxFileSize {
		return sdk.WriteTextFileResponse{}, fsError("write", fmt.Errorf("%s: %d bytes is more than %d", p.Path, len(p.Content), maxFileSize))
	}
	if dir := path.Dir(filepath.ToSlash(rel)); dir != "." {
		if err := c.root.MkdirAll(dir, 0o755); err != nil {
			return sdk.WriteTextFileResponse{}, fsError("write", err)
		}
	}
	if err := safefile.WriteFile(c.root, rel, []byte(p.Content), 0o644); err != nil {
		return sdk.WriteTextFileResponse{}, fsError("write", err)
	}
	return sdk.WriteTextFileResponse{}, nil
}

// fsError is what the agent is told of a refused or failed fs/* call.
func fsError(op string, err error) error {
	return &sdk.RequestError{Code: -32602, Message: fmt.Sprintf("%s: %v", op, err)}
}

// RequestPermission answers by the workflow's policy and reports the
// answer. task-folder allows what stays in the task's folder: edits
// (a worker's only), reads, searches and commands, whose every location
// is inside it; it refuses fetching from the network, mode switches and
// anything that names a path outside.
func (c *client) RequestPermission(_ context.Context, p sdk.RequestPermissionRequest) (sdk.RequestPermissionResponse, error) {
	if err := c.checkSession(p.SessionId); err != nil {
		return sdk.RequestPermissionResponse{}, err
	}
	title := "a tool call"
	if p.ToolCall.Title != nil && *p.ToolCall.Title != "" {
		title = *p.ToolCall.Title
	} else if t := c.title(p.ToolCall.ToolCallId); t != "" {
		title = t
	}
	allow, reason := c.decide(p.ToolCall)
	kinds := []sdk.PermissionOptionKind{sdk.PermissionOptionKindRejectOnce, sdk.PermissionOptionKindRejectAlways}
	if allow {
		kinds = []sdk.PermissionOptionKind{sdk.PermissionOptionKindAllowOnce, sdk.PermissionOptionKindAllowAlways}
	}
	for _, k := range kinds {
		for _, o := range p.Options {
			if o.Kind == k {
				c.flush()
				c.job.Permission(c.phase, title, allow, reason)
				return sdk.RequestPermissionResponse{Outcome: sdk.NewRequestPermissionOutcomeSelected(o.OptionId)}, nil
			}
		}
	}
	// No option says what the policy means: the request is declined.
	c.flush()
	c.job.Permission(c.phase, title, false, reason+"; the agent offered no option to answer that with")
	return sdk.RequestPermissionResponse{Outcome: sdk.NewRequestPermissionOutcomeCancelled()}, nil
}

func (c *client) decide(tc sdk.ToolCallUpdate) (bool, string) {
	switch c.permissions {
	case engine.PermissionsAllowAll:
		return true, "permissions: allow-all"
	case engine.PermissionsRejectAll:
		return false, "permissions: reject-all"
	}
	kind := sdk.ToolKindOther
	if tc.Kind != nil {
		kind = *tc.Kind
	}
	for _, l := range tc.Locations {
		if _, err := c.local(l.Path); err != nil {
			return false, fmt.Sprintf("%s is outside the task's folder", l.Path)
		}
	}
	switch kind {
	case sdk.ToolKindEdit, sdk.ToolKindDelete, sdk.ToolKindMove:
		if c.phase != engine.PhaseWorker {
			return false, "the QC agent may not change the worker's files"
		}
		return true, "an edit inside the task's folder"
	case sdk.ToolKindExecute:
		return true, "a command in the task's folder, under its sandbox"
	case sdk.ToolKindRead, sdk.ToolKindSearch, sdk.ToolKindThink:
		return true, "inside the task's folder"
	case sdk.ToolKindOther:
		if len(tc.Locations) > 0 {
			return true, "inside the task's folder"
		}
	}
	return false, fmt.Sprintf("a %s tool call is not an edit or a command inside the task's folder (set `permissions: allow-all` to allow it)", kind)
}

// SessionUpdate turns the agent's updates into events: message text is
// gathered and reported in pieces, tool calls as they start and end.
func (c *client) SessionUpdate(_ context.Context, n sdk.SessionNotification) error {
	if err := c.checkSession(n.SessionId); err != nil {
		return err
	}
	c.mu.Lock()
	if c.firstUpdate.IsZero() {
		c.firstUpdate = time.Now()
	}
	c.mu.Unlock()
	u := n.Update
	switch {
	case u.AgentMessageChunk != nil:
		if t, ok := metaUsage(u.AgentMessageChunk.Meta); ok {
			c.mu.Lock()
			c.usage = tokenUsage{c.usage.in + t.in, c.usage.out + t.out, c.usage.total + t.total}
			c.mu.Unlock()
		}
		c.say("message", u.AgentMessageChunk.Content)
	case u.AgentThoughtChunk != nil:
		c.say("thought", u.AgentThoughtChunk.Content)
	case u.ToolCall != nil:
		c.flush()
		c.mu.Lock()
		_, seen := c.toolCalls[u.ToolCall.ToolCallId]
		c.toolCalls[u.ToolCall.ToolCallId] = u.ToolCall.Title
		if !seen {
			c.calls++
		}
		c.last.Reset()
		c.mu.Unlock()
		status := u.ToolCall.Status
		if status == "" {
			status = sdk.ToolCallStatusPending
		}
		c.job.AgentToolCall(c.phase, u.ToolCall.Title, string(u.ToolCall.Kind), string(status))
	case u.ToolCallUpdate != nil:
		up := u.ToolCallUpdate
		c.mu.Lock()
		title, seen := c.toolCalls[up.ToolCallId]
		if up.Title != nil && *up.Title != "" {
			title = *up.Title
			c.toolCalls[up.ToolCallId] = title
		}
		if !seen {
			c.calls++
			c.toolCalls[up.ToolCallId] = title
		}
		c.mu.Unlock()
		// Only a change of status is news; content streamed into a
		// call would be an event per chunk.
		if up.Status != nil {
			c.flush()
			kind := ""
			if up.Kind != nil {
				kind = string(*up.Kind)
			}
			c.job.AgentToolCall(c.phase, title, kind, string(*up.Status))
		}
	case u.Plan != nil:
		c.flush()
		var b strings.Builder
		for _, e := range u.Plan.Entries {
			fmt.Fprintf(&b, "[%s] %s\n", e.Status, e.Content)
		}
		c.job.AgentMessage(c.phase, "plan", strings.TrimSpace(b.String()))
	}
	return nil
}

// say gathers message text of kind, reporting what was gathered before
// when the kind changes or it has grown long.
func (c *client) say(kind string, block sdk.ContentBlock) {
	if block.Text == nil {
		return
	}
	text := block.Text.Text
	c.mu.Lock()
	if c.pendKind != kind && c.pending.Len() > 0 {
		c.flushLocked()
	}
	c.pendKind = kind
	if c.pending.Len() == 0 && c.timer == nil {
		c.timer = time.AfterFunc(flushAfter, c.flush)
	}
	c.pending.WriteString(text)
	if kind == "message" && c.last.Len()+len(text) <= maxMessage {
		c.last.WriteString(text)
	}
	if c.pending.Len() >= flushAt {
		c.flushLocked()
	}
	c.mu.Unlock()
}

func (c *client) flush() {
	c.mu.Lock()
	c.flushLocked()
	c.mu.Unlock()
}

func (c *client) flushLocked() {
	// Sent as it came, spaces and all, so the pieces join back into the
	// message.
	if text := c.pending.String(); strings.TrimSpace(text) != "" {
		c.job.AgentMessage(c.phase, c.pendKind, text)
	}
	c.pending.Reset()
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
}

func (c *client) title(id sdk.ToolCallId) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.toolCalls[id]
}

// beginTurn starts gathering a turn's last message.
func (c *client) beginTurn() {
	c.mu.Lock()
	c.last.Reset()
	c.mu.Unlock()
}

// endTurn reports what is left of the turn's text and returns its last
// message.
func (c *client) endTurn() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flushLocked()
	return c.last.String()
}

// takeUsage returns the tokens reported with the turn's message chunks,
// and forgets them.
func (c *client) takeUsage() (tokenUsage, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u := c.usage
	c.usage = tokenUsage{}
	return u, u.total > 0
}

// toolCallCount is how many tool calls the agent made in the session.
func (c *client) toolCallCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

func (c *client) CreateTerminal(ctx context.Context, p sdk.CreateTerminalRequest) (sdk.CreateTerminalResponse, error) {
	if err := c.checkSession(p.SessionId); err != nil {
		return sdk.CreateTerminalResponse{}, err
	}
	sub := "."
	if p.Cwd != nil && *p.Cwd != "" {
		rel, err := c.local(*p.Cwd)
		if err != nil {
			return sdk.CreateTerminalResponse{}, &sdk.RequestError{Code: -32602, Message: "terminal/create: " + err.Error()}
		}
		sub = rel
	}
	id, err := c.terms.create(p, sub)
	if err != nil {
		return sdk.CreateTerminalResponse{}, err
	}
	return sdk.CreateTerminalResponse{TerminalId: id}, nil
}

func (c *client) TerminalOutput(_ context.Context, p sdk.TerminalOutputRequest) (sdk.TerminalOutputResponse, error) {
	if err := c.checkSession(p.SessionId); err != nil {
		return sdk.TerminalOutputResponse{}, err
	}
	t, err := c.terms.get(p.TerminalId)
	if err != nil {
		return sdk.TerminalOutputResponse{}, err
	}
	return t.output(), nil
}

func (c *client) WaitForTerminalExit(ctx context.Context, p sdk.WaitForTerminalExitRequest) (sdk.WaitForTerminalExitResponse, error) {
	if err := c.checkSession(p.SessionId); err != nil {
		return sdk.WaitForTerminalExitResponse{}, err
	}
	t, err := c.terms.get(p.TerminalId)
	if err != nil {
		return sdk.WaitForTerminalExitResponse{}, err
	}
	select {
	case <-t.done:
	case <-ctx.Done():
		return sdk.WaitForTerminalExitResponse{}, ctx.Err()
	}
	st := t.output().ExitStatus
	return sdk.WaitForTerminalExitResponse{ExitCode: st.ExitCode, Signal: st.Signal}, nil
}

func (c *client) KillTerminal(_ context.Context, p sdk.KillTerminalRequest) (sdk.KillTerminalResponse, error) {
	if err := c.checkSession(p.SessionId); err != nil {
		return sdk.KillTerminalResponse{}, err
	}
	t, err := c.terms.get(p.TerminalId)
	if err != nil {
		return sdk.KillTerminalResponse{}, err
	}
	t.stop()
	return sdk.KillTerminalResponse{}, nil
}

func (c *client) ReleaseTerminal(_ context.Context, p sdk.ReleaseTerminalRequest) (sdk.ReleaseTerminalResponse, error) {
	if err := c.checkSession(p.SessionId); err != nil {
		return sdk.ReleaseTerminalResponse{}, err
	}
	if err := c.terms.release(p.TerminalId); err != nil {
		return sdk.ReleaseTerminalResponse{}, err
	}
	return sdk.ReleaseTerminalResponse{}, nil
}
