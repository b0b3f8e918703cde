package llm

import (
	"context"
	"fmt"
	"strings"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/openai/openai-go/v3"
)

// defaultWorkerPreamble is the system message of a worker whose workflow
// gives none.
const defaultWorkerPreamble = `You are a worker agent in an automated workflow. You do one task by calling the tools you are given to create and edit files in your task folder: the files you write are your work, not what you say. Follow the task and its acceptance criteria exactly. When the files are written, answer with a short summary and call no more tools.`

// maxWorkerOutput bounds what of the model's last answer is kept as the
// attempt's output.
const maxWorkerOutput = 16 << 10

// worker is an llm worker: a conversation in which the model works through
// tool calls until it answers without one.
type worker struct {
	*agent
	maxToolCalls  int
	allowCommands bool
	env           map[string]string
}

// Work runs one attempt. Every tool call is reported as it happens and
// counted in the result, also when the attempt fails.
func (w *worker) Work(ctx context.Context, job *engine.Job) (engine.WorkResult, error) {
	// The engine leaves the staging folder to the agents that use one.
	if err := job.EnsureDir(); err != nil {
		return engine.WorkResult{}, err
	}
	tb := &toolbox{job: job, allowCommands: w.allowCommands, env: w.env}
	tools := tb.definitions()
	msgs := []openai.ChatCompletionMessageParamUnion{
		openai.SystemMessage(first(w.preamble, defaultWorkerPreamble)),
		openai.UserMessage(w.brief(job)),
	}
	var res engine.WorkResult
	for step := 1; ; step++ {
		r, err := w.client.complete(ctx, chatRequest{model: w.model, messages: msgs, tools: tools, temperature: w.temperature})
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			return res, fmt.Errorf("ask model %q (provider %q) for step %d: %w", w.model, w.client.p.Name, step, err)
		}
		if r.content != "" {
			res.Output = tailString(r.content, maxWorkerOutput)
		}
		if len(r.toolCalls) == 0 {
			if r.finish == "length" {
				// Not a final answer: the model was stopped mid-answer,
				// and what it meant to do next is lost.
				return res, fmt.Errorf("the answer of model %q (provider %q) at step %d was cut off at its output length limit (finish_reason \"length\"): raise the maximum number of tokens the model may answer with (Ollama: num_predict; llama.cpp: --n-predict), or shorten the task so each answer is shorter", w.model, w.client.p.Name, step)
			}
			return res, nil
		}
		for i := range r.toolCalls {
			if r.toolCalls[i].id == "" {
				// Some servers send no ids; the tool results must still
				// name the call they answer.
				r.toolCalls[i].id = fmt.Sprintf("call_%d_%d", step, i+1)
			}
		}
		msgs = append(msgs, assistantMessage(r))
		for _, tc := range r.toolCalls {
			if res.ToolCalls >= w.maxToolCalls {
				return res, fmt.Errorf("the model asked for more than %d tool calls in one attempt (the limit, maxToolCalls): raise maxToolCalls of this worker in the workflow (or of provider %q), or split the task into smaller ones", w.maxToolCalls, w.client.p.Name)
			}
			res.ToolCalls++
			args, argErr := parseArgs(tc.args)
			sum := summary(tc.name, args, argErr)
			job.ToolCall(tc.name, sum)
			w.log.Debug("tool call", "tool", tc.name, "summary", sum, "attempt", job.Attempt)
			out := ""
			if argErr != nil {
				out = "error: " + argErr.Error()
			} else if out, err = tb.call(ctx, tc.name, args); err != nil {
				return res, err
			}
			msgs = append(msgs, openai.ToolMessage(out, tc.id))
		}
	}
}

// assistantMessage puts the model's answer back into the conversation.
// Built by hand rather than with ChatCompletionMessage.ToParam, which
// drops tool calls whose "type" a server left out.
func assistantMessage(r reply) openai.ChatCompletionMessageParamUnion {
	var a openai.ChatCompletionAssistantMessageParam
	if r.content != "" {
		a.Content.OfString = openai.String(r.content)
	}
	for _, tc := range r.toolCalls {
		args := tc.args
		if strings.TrimSpace(args) == "" {
			args = "{}"
		}
		a.ToolCalls = append(a.ToolCalls, openai.ChatCompletionMessageToolCallUnionParam{
			OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
				ID:       tc.id,
				Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: tc.name, Arguments: args},
			},
		})
	}
	return openai.ChatCompletionMessageParamUnion{OfAssistant: &a}
}

// brief is the user message that starts an attempt: the task, how to work,
// and on a retry what the last attempt got wrong.
func (w *worker) brief(job *engine.Job) string {
	t := job.Task
	var b strings.Builder
	engine.WriteTaskBrief(&b, job, w.prompt)
	b.WriteString("\n## How to work\n")
	b.WriteString("You work in the task folder: every path you give a tool is relative to it, and you cannot leave it. ")
	b.WriteString("Write each file the task asks for with write_file; only the files in the folder count as your work.\n")
	if files := w.existingFiles(job); files != "" {
		b.WriteString("The folder already holds:\n" + files + "\n")
	}
	if len(t.DependsOn) > 0 {
		fmt.Fprintf(&b, "This task builds on the tasks %s: read their files with list_files and read_file, giving \"task\": \"<id>\".\n", strings.Join(t.DependsOn, ", "))
	}
	if w.allowCommands {
		b.WriteString("You may run shell commands in the folder with run_command.\n")
	}
	fmt.Fprintf(&b, "You may make at most %d tool calls in this attempt. When the work is done, answer with a short summary of it and call no tool.\n", w.maxToolCalls)
	engine.WriteGapBrief(&b, job)
	return b.String()
}

// existingFiles lists what a retry finds in the folder, so the model knows
// what it is fixing without spending a tool call on it.
func (w *worker) existingFiles(job *engine.Job) string {
	tb := &toolbox{job: job}
	r, err := tb.root("")
	if err != nil {
		return ""
	}
	defer r.Close()
	lines, more, err := listFiles(r, ".", 50)
	if err != nil || len(lines) == 0 {
		return ""
	}
	if more {
		lines = append(lines, "…")
	}
	return "- " + strings.Join(lines, "\n- ")
}

// tailString keeps the last n bytes of s, never starting inside a
// character.
func tailString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := len(s) - n
	for i < len(s) && !isRuneStart(s[i]) {
		i++
	}
	return "…" + s[i:]
}
