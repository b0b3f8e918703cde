// Package fakemodel is a scripted OpenAI-compatible chat-completions server
// on loopback, for tests that drive real coding agents (Qwen Code, …) with
// no model behind them: the agent's requests are recorded and each chat
// completion is answered by a Script, streamed when the agent asks for a
// stream. Everything else an agent may ask at start-up (the model list) is
// answered too, so an agent never waits on the server.
//
// engine/llm's tests keep their own fake, which scripts failures (HTTP
// statuses, hangs) this package has no use for.
package fakemodel

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Script answers one chat-completions request.
type Script func(req *ChatRequest) Reply

// Reply is what the scripted model says: text, tool calls, or both.
type Reply struct {
	Content string
	Calls   []Call
}

// Call is a tool call the scripted model makes.
type Call struct {
	Name string
	Args any // marshalled to JSON unless a string
}

// Arguments is the call's arguments as the model sends them: JSON text.
func (c Call) Arguments() string {
	if s, ok := c.Args.(string); ok {
		return s
	}
	b, err := json.Marshal(c.Args)
	if err != nil {
		return fmt.Sprintf("%q", err.Error())
	}
	return string(b)
}

// ChatRequest is the part of a chat-completions request scripts look at.
type ChatRequest struct {
	Model    string           `json:"model"`
	Stream   bool             `json:"stream"`
	Messages []Message        `json:"messages"`
	Tools    []map[string]any `json:"tools"`
}

// firstParam is the first required parameter of the tool called name the
// request offers, or def when it offers no such tool or names none.
func (r *ChatRequest) firstParam(name, def string) string {
	for _, t := range r.Tools {
		fn, _ := t["function"].(map[string]any)
		if fn == nil || fn["name"] != name {
			continue
		}
		params, _ := fn["parameters"].(map[string]any)
		if req, _ := params["required"].([]any); len(req) > 0 {
			if s, ok := req[0].(string); ok {
				return s
			}
		}
	}
	return def
}

// ToolNames are the names of the tools the request offers the model.
func (r *ChatRequest) ToolNames() []string {
	var names []string
	for _, t := range r.Tools {
		if f, ok := t["function"].(map[string]any); ok {
			names = append(names, fmt.Sprint(f["name"]))
		}
	}
	return names
}

// Contains reports whether any message's text contains s.
func (r *ChatRequest) Contains(s string) bool {
	for _, m := range r.Messages {
		if strings.Contains(m.Text(), s) {
			return true
		}
	}
	return false
}

// Message is one message of the conversation.
type Message struct {
	Role       string `json:"role"`
	Content    any    `json:"content"`
	ToolCallID string `json:"tool_call_id"`
	ToolCalls  []struct {
		ID       string `json:"id"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
}

// Text is the message's content as text, whether the agent sent a string
// or a list of parts.
func (m Message) Text() string {
	switch c := m.Content.(type) {
	case string:
		return c
	case []any:
		var b strings.Builder
		for _, part := range c {
			if p, ok := part.(map[string]any); ok {
				if s, ok := p["text"].(string); ok {
					b.WriteString(s)
				}
			}
		}
		return b.String()
	}
	return ""
}

// Request is one HTTP request as the server received it.
type Request struct {
	At     time.Time
	Method string
	Path   string
	Raw    []byte
	Chat   *ChatRequest // nil unless it was a chat completion
	Reply  *Reply       // what the script answered, nil unless Chat
}

// Server is the scripted endpoint. Close it when done.
type Server struct {
	srv    *httptest.Server
	script Script
	model  string

	mu    sync.Mutex
	reqs  []Request
	calls int // tool calls answered so far, for their ids
}

// Start serves script on a free port of 127.0.0.1. model is the id the
// model list names (agents that check their configured model is listed).
func Start(model string, script Script) *Server {
	s := &Server{script: script, model: model}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the base URL agents take as OPENAI_BASE_URL (it ends in /v1).
func (s *Server) URL() string { return s.srv.URL + "/v1" }

// Close stops the server, waiting for the requests in flight.
func (s *Server) Close() { s.srv.Close() }

// Requests are the requests received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// ChatRequests are the chat completions received so far, in order.
func (s *Server) ChatRequests() []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Chat != nil {
			out = append(out, r)
		}
	}
	return out
}

// record keeps r and returns ids for its n tool calls. They are unique
// across the server's life: Qwen Code ignores a call whose id it has seen
// in the conversation, which a retry in the same session would hit.
func (s *Server) record(r Request, n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, r)
	ids := make([]string, n)
	for i := range ids {
		s.calls++
		ids[i] = fmt.Sprintf("call_%d", s.calls)
	}
	return ids
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	seen := Request{At: time.Now(), Method: r.Method, Path: r.URL.Path, Raw: raw}
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/chat/completions"):
		var chat ChatRequest
		if err := json.Unmarshal(raw, &chat); err != nil {
			s.record(seen, 0)
			writeJSON(w, http.StatusBadRequest, apiError("the body is not a chat-completions request: "+err.Error()))
			return
		}
		reply := s.script(&chat)
		seen.Chat, seen.Reply = &chat, &reply
		ids := s.record(seen, len(reply.Calls))
		if chat.Stream {
			stream(w, chat.Model, reply, ids)
			return
		}
		complete(w, chat.Model, reply, ids)
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/models"):
		s.record(seen, 0)
		writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []any{
			map[string]any{"id": s.model, "object": "model", "created": 1, "owned_by": "fakemodel"},
		}})
	default:
		s.record(seen, 0)
		writeJSON(w, http.StatusNotFound, apiError(fmt.Sprintf("fakemodel serves no %s %s", r.Method, r.URL.Path)))
	}
}

func apiError(msg string) map[string]any {
	return map[string]any{"error": map[string]any{"message": msg, "type": "invalid_request_error"}}
}

func finishReason(reply Reply) string {
	if len(reply.Calls) > 0 {
		return "tool_calls"
	}
	return "stop"
}

// usage is fixed: agents that report token usage get numbers to report.
func usage() map[string]any {
	return map[string]any{"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
}

func complete(w http.ResponseWriter, model string, reply Reply, ids []string) {
	msg := map[string]any{"role": "assistant", "content": reply.Content}
	if len(reply.Calls) > 0 {
		var calls []map[string]any
		for i, c := range reply.Calls {
			calls = append(calls, map[string]any{"id": ids[i], "type": "function",
				"function": map[string]any{"name": c.Name, "arguments": c.Arguments()}})
		}
		msg["tool_calls"] = calls
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": "chatcmpl-fake", "object": "chat.completion", "created": 1, "model": model,
		"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finishReason(reply)}},
		"usage":   usage(),
	})
}

// stream sends the reply in pieces the way servers do: the text in several
// deltas, each tool call's arguments split across chunks, usage last.
func stream(w http.ResponseWriter, model string, reply Reply, ids []string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	send := func(chunk map[string]any) {
		chunk["id"], chunk["object"], chunk["created"], chunk["model"] = "chatcmpl-fake", "chat.completion.chunk", 1, model
		b, _ := json.Marshal(chunk)
		fmt.Fprintf(w, "data: %s\n\n", b)
		if flusher != nil {
			flusher.Flush()
		}
	}
	delta := func(d map[string]any, finish any) {
		send(map[string]any{"choices": []any{map[string]any{"index": 0, "delta": d, "finish_reason": finish}}})
	}
	delta(map[string]any{"role": "assistant", "content": ""}, nil)
	for _, piece := range split(reply.Content, 3) {
		delta(map[string]any{"content": piece}, nil)
	}
	for i, c := range reply.Calls {
		delta(map[string]any{"tool_calls": []any{map[string]any{"index": i, "id": ids[i], "type": "function",
			"function": map[string]any{"name": c.Name, "arguments": ""}}}}, nil)
		for _, piece := range split(c.Arguments(), 2) {
			delta(map[string]any{"tool_calls": []any{map[string]any{"index": i, "function": map[string]any{"arguments": piece}}}}, nil)
		}
	}
	delta(map[string]any{}, finishReason(reply))
	send(map[string]any{"choices": []any{}, "usage": usage()})
	fmt.Fprint(w, "data: [DONE]\n\n")
}

func split(s string, n int) []string {
	var out []string
	size := (len(s) + n - 1) / n
	for len(s) > 0 {
		k := min(size, len(s))
		out = append(out, s[:k])
		s = s[k:]
	}
	return out
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// calls says whether the message is the model's call of the tool name.
func (m Message) calls(name string) bool {
	for _, c := range m.ToolCalls {
		if c.Function.Name == name {
			return true
		}
	}
	return false
}
