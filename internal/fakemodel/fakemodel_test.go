package fakemodel

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// reply is a chat-completions answer as a client assembles it.
type reply struct {
	content string
	calls   map[string]string // name → arguments
	ids     []string          // the calls' ids
}

func post(t *testing.T, url string, body map[string]any) reply {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(url+"/chat/completions", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s", resp.Status)
	}
	type call struct {
		Index    int
		ID       string
		Function struct{ Name, Arguments string }
	}
	var r reply
	r.calls = map[string]string{}
	names := map[int]string{}
	add := func(content string, calls []call) {
		r.content += content
		for _, c := range calls {
			if c.Function.Name != "" {
				names[c.Index] = c.Function.Name
			}
			if c.ID != "" {
				r.ids = append(r.ids, c.ID)
			}
			r.calls[names[c.Index]] += c.Function.Arguments
		}
	}
	if body["stream"] != true {
		var out struct {
			Choices []struct {
				Message struct {
					Content   string
					ToolCalls []call `json:"tool_calls"`
				}
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		for i := range out.Choices[0].Message.ToolCalls {
			out.Choices[0].Message.ToolCalls[i].Index = i
		}
		add(out.Choices[0].Message.Content, out.Choices[0].Message.ToolCalls)
		return r
	}
	sc := bufio.NewScanner(resp.Body)
	done := false
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			done = true
			break
		}
		var chunk struct {
			Choices []struct {
				Delta struct {
					Content   string
					ToolCalls []call `json:"tool_calls"`
				}
			}
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			t.Fatalf("chunk %q: %v", data, err)
		}
		for _, c := range chunk.Choices {
			add(c.Delta.Content, c.Delta.ToolCalls)
		}
	}
	if !done {
		t.Fatal("the stream ended without [DONE]")
	}
	return r
}

func msg(role, text string) map[string]any { return map[string]any{"role": role, "content": text} }

var writeTool = []any{map[string]any{"type": "function", "function": map[string]any{"name": "write_file"}}}

// The script writes the file the task names, in the folder the agent
// announced, with the attempt's content, and answers everything else with
// plain text: what a real agent's main turn and side requests need.
func TestWriteFileScript(t *testing.T) {
	s := Start("m", WriteFile{
		Name: "out/notes.md", Trigger: "Write the notes",
		Attempts: []Attempt{{When: "GAP", Content: "fixed"}, {Content: "draft"}},
		Done:     "done",
	}.Script())
	defer s.Close()
	first := msg("user", "I'm currently working in the directory: /work/task\nWrite the notes")
	for _, stream := range []bool{false, true} {
		cases := []struct {
			name     string
			messages []any
			tools    []any
			want     reply
		}{
			{"first attempt", []any{msg("system", "sys"), first}, writeTool,
				reply{calls: map[string]string{"write_file": `{"content":"draft","file_path":"/work/task/out/notes.md"}`}}},
			{"retry with the gap", []any{msg("system", "sys"), msg("user", "I'm currently working in the directory: /work/task\nWrite the notes\nGAP")}, writeTool,
				reply{calls: map[string]string{"write_file": `{"content":"fixed","file_path":"/work/task/out/notes.md"}`}}},
			{"after the tool answered", []any{first, msg("assistant", ""), msg("tool", "ok")}, writeTool, reply{content: "done"}},
			{"a side request with the write tool", []any{first, msg("assistant", ""), msg("tool", "ok"), msg("user", "extract memories")}, writeTool, reply{content: "done"}},
			{"a request without the tool", []any{first}, nil, reply{content: "done"}},
		}
		for _, c := range cases {
			body := map[string]any{"model": "m", "stream": stream, "messages": c.messages}
			if c.tools != nil {
				body["tools"] = c.tools
			}
			got := post(t, s.URL(), body)
			if got.content != c.want.content || len(got.calls) != len(c.want.calls) {
				t.Errorf("stream=%v %s: got %+v, want %+v", stream, c.name, got, c.want)
				continue
			}
			for name, args := range c.want.calls {
				if got.calls[name] != args {
					t.Errorf("stream=%v %s: %s(%s), want %s", stream, c.name, name, got.calls[name], args)
				}
			}
		}
	}
	if n := len(s.ChatRequests()); n != 10 {
		t.Errorf("recorded %d chat requests, want 10", n)
	}
}

// A retry in the same session must not repeat a call id: Qwen Code
// ignores a call whose id the conversation already holds.
func TestCallIDsAreUnique(t *testing.T) {
	s := Start("m", WriteFile{Name: "a", Attempts: []Attempt{{Content: "x"}}}.Script())
	defer s.Close()
	seen := map[string]bool{}
	for _, stream := range []bool{false, true, false, true} {
		got := post(t, s.URL(), map[string]any{"model": "m", "stream": stream, "tools": writeTool,
			"messages": []any{msg("user", "I'm currently working in the directory: /w\nWrite a")}})
		if len(got.ids) != 1 || got.ids[0] == "" || seen[got.ids[0]] {
			t.Fatalf("stream=%v: call ids %q, want one new id (seen %v)", stream, got.ids, seen)
		}
		seen[got.ids[0]] = true
	}
}

// Agents that list the models at start-up find the configured one; any
// other path is a JSON 404, never a hang.
func TestModelsAndUnknownPaths(t *testing.T) {
	s := Start("fake-model", func(*ChatRequest) Reply { return Reply{} })
	defer s.Close()
	resp, err := http.Get(s.URL() + "/models")
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Data []struct{ ID string } }
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list.Data) != 1 || list.Data[0].ID != "fake-model" {
		t.Errorf("models: %+v", list)
	}
	resp, err = http.Get(s.URL() + "/embeddings")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("unknown path: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	if n := len(s.Requests()); n != 2 {
		t.Errorf("recorded %d requests, want 2", n)
	}
}
