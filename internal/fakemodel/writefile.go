package fakemodel

import (
	"path/filepath"
	"regexp"
	"strings"
)

// WriteFile scripts a model that writes one file and says it is done: on a
// turn whose last message is the user's and contains Trigger, it calls the
// write tool with the absolute path of Name in the directory the agent
// announced it works in; on any other request (the tool has answered, or
// the agent asks on the side) it says Done. Which content it writes
// depends on the prompt, so one script serves every attempt of a task: the
// first of Attempts whose When the conversation contains (When "" always
// matches).
//
// Trigger matters with real agents: Qwen Code also asks the model on the
// side after a turn (a memory-extraction subagent that has write_file, a
// next-prompt suggestion), with the conversation so far and a user message
// of its own last; those must not write the file again.
//
// Agents announce their folder in the first user message; Qwen Code writes
// "I'm currently working in the directory: /abs/path", and its write_file
// tool wants an absolute file_path.
type WriteFile struct {
	Name     string    // the file's path relative to the agent's folder
	Trigger  string    // text of the task's prompt; "" is any user turn
	Attempts []Attempt // tried in order
	Done     string    // the last message, after the tool has run

	Tool       string // the write tool's name; "" is "write_file"
	PathArg    string // its path argument; "" is "file_path"
	ContentArg string // its content argument; "" is "content"
}

// Attempt is the content written when the conversation contains When.
type Attempt struct {
	When    string
	Content string
}

// workingDir is how Qwen Code (and Gemini CLI, which it forks) tells the
// model its folder.
var workingDir = regexp.MustCompile(`(?m)I'm currently working in the directory: (\S.*)$`)

// Script is the WriteFile as a Script.
func (wf WriteFile) Script() Script {
	return func(req *ChatRequest) Reply {
		if !offers(req, wf.tool()) {
			// A side request (a title, a summary, a next-speaker check):
			// plain text, never a tool call the agent did not offer.
			return Reply{Content: wf.Done}
		}
		n := len(req.Messages)
		if n == 0 {
			return Reply{Content: wf.Done}
		}
		last := req.Messages[n-1]
		var read bool // the turn reads the file before writing it
		switch {
		case last.Role == "user" && strings.Contains(last.Text(), wf.Trigger):
		case last.Role == "tool" && strings.Contains(last.Text(), "has not been read"):
			// Qwen Code refuses to overwrite a file its session has not
			// read ("Use the read_file tool first"), as on a retry in a
			// fresh agent: read it, as a model following the tool would.
			read = true
		case last.Role == "tool" && n >= 2 && req.Messages[n-2].calls(readTool):
			// The file is read: now write it.
		default:
			return Reply{Content: wf.Done}
		}
		dir := ""
		for _, m := range req.Messages {
			if sub := workingDir.FindStringSubmatch(m.Text()); sub != nil {
				dir = strings.TrimSpace(sub[1])
				break
			}
		}
		if dir == "" {
			return Reply{Content: "fakemodel: the agent did not say which directory it works in (no \"I'm currently working in the directory: …\" in the conversation)"}
		}
		path := filepath.Join(dir, wf.Name)
		if read {
			return Reply{Calls: []Call{{Name: readTool, Args: map[string]any{req.firstParam(readTool, "absolute_path"): path}}}}
		}
		content, ok := wf.content(req)
		if !ok {
			return Reply{Content: "fakemodel: no attempt of the script matches this prompt"}
		}
		return Reply{Calls: []Call{{Name: wf.tool(), Args: map[string]any{
			or(wf.PathArg, "file_path"):  path,
			or(wf.ContentArg, "content"): content,
		}}}}
	}
}

func (wf WriteFile) tool() string { return or(wf.Tool, "write_file") }

// readTool is Qwen Code's (and Gemini CLI's) tool that reads a file.
const readTool = "read_file"

func (wf WriteFile) content(req *ChatRequest) (string, bool) {
	for _, a := range wf.Attempts {
		if a.When == "" || req.Contains(a.When) {
			return a.Content, true
		}
	}
	return "", false
}

func offers(req *ChatRequest, tool string) bool {
	for _, n := range req.ToolNames() {
		if n == tool {
			return true
		}
	}
	return false
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
