// Package testagent is a small ACP agent for the acp package's tests,
// written by hand on newline-delimited JSON-RPC rather than with the SDK
// the client uses, so that each checks the other.
//
// A test binary runs it when ACP_TEST_AGENT is set (see Main). What it does
// on each session/prompt is scripted by ACP_TEST_SCRIPT (or, when set,
// ACP_TEST_SCRIPT_<attempt>, by MIMIR_ATTEMPT): prompts separated by
// "---" lines, each a list of steps, one a line, where $CWD stands for
// the session's folder:
//
//	write PATH TEXT     fs/write_text_file; the answer is logged
//	read PATH           fs/read_text_file
//	perm KIND PATH      session/request_permission for a KIND tool call at PATH ("-": none)
//	term SHELL-COMMAND  terminal/create (sh -c), wait_for_exit, output, release
//	termkill SHELL-CMD  terminal/create, kill, output, release
//	vendor METHOD       a request the client does not know
//	tool TITLE KIND     a tool_call, then its update to completed
//	plan TEXT           a plan of one entry
//	say TEXT            an agent message, sent a few characters at a time
//	think TEXT          a thought, the same way
//	expect TEXT         logs whether the prompt holds TEXT
//	report              says the log as an agent message (and clears it)
//	usage               reports token usage with the turn's end
//	stop REASON         ends the turn with REASON (default end_turn)
//	hang                waits for session/cancel, says so, then ends the turn cancelled
//	deaf                never ends the turn, cancelled or not
//	crash               writes to stderr and exits 4
//
// Before any prompt, ACP_TEST_INIT=crash exits at initialize, and
// ACP_TEST_INIT=hang never answers it.
package testagent

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
)

// Main runs the agent on stdin and stdout when ACP_TEST_AGENT is set, and
// exits; otherwise it returns at once.
func Main() {
	if os.Getenv("ACP_TEST_AGENT") == "" {
		return
	}
	a := &agent{in: make(chan msg, 64), out: bufio.NewWriter(os.Stdout)}
	go a.read()
	os.Exit(a.serve())
}

type msg struct {
	ID     *json.RawMessage `json:"id,omitempty"`
	Method string           `json:"method,omitempty"`
	Params json.RawMessage  `json:"params,omitempty"`
	Result json.RawMessage  `json:"result,omitempty"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

type agent struct {
	in      chan msg
	mu      sync.Mutex
	out     *bufio.Writer
	nextID  int
	session string
	cwd     string
	log     []string
	prompts int
}

func (a *agent) read() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var m msg
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			a.in <- m
		}
	}
	close(a.in)
}

func (a *agent) send(v any) {
	b, _ := json.Marshal(v)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.out.Write(b)
	a.out.WriteByte('\n')
	a.out.Flush()
}

func (a *agent) reply(id *json.RawMessage, result any) {
	a.send(map[string]any{"jsonrpc": "2.0", "id": id, "result": result})
}

func (a *agent) notify(method string, params any) {
	a.send(map[string]any{"jsonrpc": "2.0", "method": method, "params": params})
}

func (a *agent) update(u map[string]any) {
	a.notify("session/update", map[string]any{"sessionId": a.session, "update": u})
}

// call sends a request to the client and waits for its answer; a
// session/cancel that comes meanwhile is remembered in cancelled.
func (a *agent) call(method string, params map[string]any, cancelled *bool) msg {
	a.nextID++
	id := a.nextID
	a.send(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	for m := range a.in {
		if m.Method == "session/cancel" {
			*cancelled = true
			continue
		}
		if m.ID != nil && m.Method == "" && string(*m.ID) == fmt.Sprint(id) {
			return m
		}
	}
	os.Exit(0) // the client went away
	return msg{}
}

func (a *agent) logf(format string, args ...any) { a.log = append(a.log, fmt.Sprintf(format, args...)) }

// outcome is what a client's answer says, for the log.
func outcome(m msg) string {
	if m.Error != nil {
		return fmt.Sprintf("error %d %s", m.Error.Code, m.Error.Message)
	}
	return "ok " + string(m.Result)
}

func (a *agent) serve() int {
	for m := range a.in {
		switch m.Method {
		case "initialize":
			switch os.Getenv("ACP_TEST_INIT") {
			case "crash":
				fmt.Fprintln(os.Stderr, "testagent: no credentials found; run `testagent login` first")
				return 3
			case "hang":
				continue
			}
			a.reply(m.ID, map[string]any{"protocolVersion": 1, "agentCapabilities": map[string]any{}, "authMethods": []any{}})
		case "session/new":
			var p struct {
				Cwd string `json:"cwd"`
			}
			_ = json.Unmarshal(m.Params, &p)
			a.session, a.cwd = "s-1", p.Cwd
			a.reply(m.ID, map[string]any{"sessionId": a.session})
		case "session/prompt":
			if code, done := a.prompt(m); done {
				return code
			}
		case "session/cancel":
		default:
			if m.ID != nil {
				a.send(map[string]any{"jsonrpc": "2.0", "id": m.ID, "error": map[string]any{"code": -32601, "message": "method not found"}})
			}
		}
	}
	return 0
}

// script is the steps of this prompt.
func (a *agent) script() []string {
	s := os.Getenv("ACP_TEST_SCRIPT_" + os.Getenv("MIMIR_ATTEMPT"))
	if s == "" {
		s = os.Getenv("ACP_TEST_SCRIPT")
	}
	parts := strings.Split(s, "\n---\n")
	i := min(a.prompts, len(parts)-1)
	a.prompts++
	return strings.Split(strings.TrimSpace(parts[i]), "\n")
}

func (a *agent) prompt(m msg) (int, bool) {
	var p struct {
		Prompt []struct {
			Text string `json:"text"`
		} `json:"prompt"`
	}
	_ = json.Unmarshal(m.Params, &p)
	var text strings.Builder
	for _, b := range p.Prompt {
		text.WriteString(b.Text)
	}
	cancelled := false
	stop := "end_turn"
	var usage map[string]any
	for n, line := range a.script() {
		op, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
		arg = strings.ReplaceAll(arg, "$CWD", a.cwd)
		switch op {
		case "":
		case "write":
			path, content, _ := strings.Cut(arg, " ")
			a.logf("write %s: %s", path, outcome(a.call("fs/write_text_file", map[string]any{"sessionId": a.session, "path": path, "content": content}, &cancelled)))
		case "read":
			a.logf("read %s: %s", arg, outcome(a.call("fs/read_text_file", map[string]any{"sessionId": a.session, "path": arg}, &cancelled)))
		case "perm":
			kind, path, _ := strings.Cut(arg, " ")
			tc := map[string]any{"toolCallId": fmt.Sprintf("p%d", n), "title": "perm " + arg, "kind": kind}
			if path != "-" {
				tc["locations"] = []any{map[string]any{"path": path}}
			}
			r := a.call("session/request_permission", map[string]any{"sessionId": a.session, "toolCall": tc, "options": []any{
				map[string]any{"optionId": "yes", "name": "Allow", "kind": "allow_once"},
				map[string]any{"optionId": "no", "name": "Reject", "kind": "reject_once"},
			}}, &cancelled)
			var res struct {
				Outcome struct {
					Outcome  string `json:"outcome"`
					OptionID string `json:"optionId"`
				} `json:"outcome"`
			}
			_ = json.Unmarshal(r.Result, &res)
			a.logf("perm %s: %s %s", arg, res.Outcome.Outcome, res.Outcome.OptionID)
		case "term", "termkill":
			r := a.call("terminal/create", map[string]any{"sessionId": a.session, "command": "sh", "args": []string{"-c", arg}, "outputByteLimit": 1000}, &cancelled)
			if r.Error != nil {
				a.logf("%s: create %s", op, outcome(r))
				continue
			}
			var c struct {
				TerminalID string `json:"terminalId"`
			}
			_ = json.Unmarshal(r.Result, &c)
			ref := map[string]any{"sessionId": a.session, "terminalId": c.TerminalID}
			if op == "term" {
				a.logf("term wait: %s", outcome(a.call("terminal/wait_for_exit", ref, &cancelled)))
			} else {
				a.logf("termkill kill: %s", outcome(a.call("terminal/kill", ref, &cancelled)))
			}
			a.logf("%s output: %s", op, outcome(a.call("terminal/output", ref, &cancelled)))
			a.logf("%s release: %s", op, outcome(a.call("terminal/release", ref, &cancelled)))
			a.logf("%s after release: %s", op, outcome(a.call("terminal/output", ref, &cancelled)))
		case "vendor":
			a.logf("vendor %s: %s", arg, outcome(a.call(arg, map[string]any{}, &cancelled)))
		case "tool":
			title, kind, _ := strings.Cut(arg, " ")
			id := fmt.Sprintf("t%d", n)
			a.update(map[string]any{"sessionUpdate": "tool_call", "toolCallId": id, "title": title, "kind": kind, "status": "pending"})
			a.update(map[string]any{"sessionUpdate": "tool_call_update", "toolCallId": id, "status": "completed"})
		case "plan":
			a.update(map[string]any{"sessionUpdate": "plan", "entries": []any{map[string]any{"content": arg, "priority": "high", "status": "in_progress"}}})
		case "say", "think":
			kind := map[string]string{"say": "agent_message_chunk", "think": "agent_thought_chunk"}[op]
			a.chunks(kind, strings.ReplaceAll(arg, `\n`, "\n"))
		case "expect":
			a.logf("expect %s: %v", arg, strings.Contains(text.String(), arg))
		case "report":
			a.chunks("agent_message_chunk", strings.Join(a.log, "\n"))
			a.log = nil
		case "usage":
			usage = map[string]any{"inputTokens": 100, "outputTokens": 20, "totalTokens": 120}
		case "stop":
			stop = arg
		case "hang":
			for !cancelled {
				m, ok := <-a.in
				if !ok {
					return 0, true
				}
				cancelled = m.Method == "session/cancel"
			}
			a.chunks("agent_message_chunk", "got session/cancel")
			stop = "cancelled"
		case "deaf":
			for range a.in {
			}
			return 0, true
		case "crash":
			fmt.Fprintln(os.Stderr, "testagent: segmentation fault in the model")
			return 4, true
		default:
			a.logf("unknown step %q", line)
		}
	}
	resp := map[string]any{"stopReason": stop}
	if usage != nil {
		resp["usage"] = usage
	}
	a.reply(m.ID, resp)
	return 0, false
}

// chunks sends text as a stream of small chunks, as models do.
func (a *agent) chunks(kind, text string) {
	r := []rune(text)
	for i := 0; i < len(r); i += 3 {
		a.update(map[string]any{"sessionUpdate": kind, "content": map[string]any{"type": "text", "text": string(r[i:min(i+3, len(r))])}})
	}
}
