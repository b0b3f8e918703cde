package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/openai/openai-go/v3"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/internal/safefile"
)

// Tool bounds: what one call may read, write, list or print back, so that
// neither the sidecar's memory nor the model's context is flooded.
const (
	maxReadBytes    = 64 << 10
	maxWriteBytes   = 4 << 20
	maxListEntries  = 500
	maxCommandTail  = 16 << 10
	commandTimeout  = 5 * time.Minute
	maxSummaryChars = 120
)

// Tool names, as the model sees them.
const (
	toolList  = "list_files"
	toolRead  = "read_file"
	toolWrite = "write_file"
	toolRun   = "run_command"
)

// toolbox runs a worker's tool calls for one attempt. Every path goes
// through an os.Root on the task's staging folder (or, read-only, on a
// dependency's), which refuses "..", absolute paths and symlinks that lead
// out of it; the checks in cleanPath only make the refusal say why.
type toolbox struct {
	job           *engine.Job
	allowCommands bool
	env           map[string]string
}

func (tb *toolbox) definitions() []openai.ChatCompletionToolUnionParam {
	str := func(desc string) map[string]any { return map[string]any{"type": "string", "description": desc} }
	taskArg := str("Optional: the id of a task this one depends on, to read that task's files instead of your own (read-only).")
	tools := []openai.ChatCompletionToolUnionParam{
		function(toolList, "List the files in your task folder (or a subfolder of it), recursively, with their sizes.",
			map[string]any{"path": str("Folder to list, relative to the task folder; default \".\"."), "task": taskArg}),
		function(toolRead, fmt.Sprintf("Read a text file from your task folder, at most %d KiB per call; use offset to read further.", maxReadBytes>>10),
			map[string]any{
				"path":   str("File path relative to the task folder."),
				"offset": map[string]any{"type": "integer", "minimum": 0, "description": "Byte offset to start at; default 0."},
				"task":   taskArg,
			}, "path"),
		function(toolWrite, "Create or replace a file in your task folder (folders are created as needed). The files you write are the task's deliverables.",
			map[string]any{"path": str("File path relative to the task folder."), "content": str("The whole new content of the file.")}, "path", "content"),
	}
	if tb.allowCommands {
		tools = append(tools, function(toolRun, fmt.Sprintf("Run a shell command (/bin/sh -c) in your task folder; at most %s; returns the exit status and the end of its output.", commandTimeout),
			map[string]any{"command": str("The command line.")}, "command"))
	}
	return tools
}

func function(name, desc string, props map[string]any, required ...string) openai.ChatCompletionToolUnionParam {
	params := openai.FunctionParameters{"type": "object", "properties": props}
	if len(required) > 0 {
		params["required"] = required
	}
	return openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
		Name:        name,
		Description: openai.String(desc),
		Parameters:  params,
	})
}

type toolArgs struct {
	Path    string  `json:"path"`
	Task    string  `json:"task"`
	Offset  *int64  `json:"offset"`
	Content *string `json:"content"`
	Command string  `json:"command"`
}

// summary describes a call for the worker-tool-call event before it runs.
func summary(name string, a toolArgs, argErr error) string {
	if argErr != nil {
		return "invalid arguments"
	}
	var s string
	switch name {
	case toolList:
		s = first(a.Path, ".")
	case toolRead:
		s = a.Path
		if a.Offset != nil && *a.Offset > 0 {
			s += fmt.Sprintf(" from byte %d", *a.Offset)
		}
	case toolWrite:
		n := 0
		if a.Content != nil {
			n = len(*a.Content)
		}
		s = fmt.Sprintf("%s (%s)", a.Path, size(int64(n)))
	case toolRun:
		s = a.Command
	default:
		return "unknown tool"
	}
	if a.Task != "" && (name == toolList || name == toolRead) {
		s = a.Task + ": " + s
	}
	return printable(s, maxSummaryChars)
}

// parseArgs decodes a call's arguments; an empty string is no arguments.
func parseArgs(raw string) (toolArgs, error) {
	var a toolArgs
	if strings.TrimSpace(raw) == "" {
		return a, nil
	}
	if err := json.Unmarshal([]byte(raw), &a); err != nil {
		return a, fmt.Errorf("the arguments are not a JSON object with the tool's parameters: %v", err)
	}
	return a, nil
}

// call runs one tool call and returns what goes back to the model. Tool
// failures are the model's to handle and come back as text; only a
// cancelled or expired ctx is returned as an error, since the attempt is
// over then.
func (tb *toolbox) call(ctx context.Context, name string, a toolArgs) (string, error) {
	var out string
	var err error
	switch name {
	case toolList:
		out, err = tb.list(a)
	case toolRead:
		out, err = tb.read(a)
	case toolWrite:
		out, err = tb.write(a)
	case toolRun:
		if !tb.allowCommands {
			err = errors.New("run_command is not enabled for this task (the workflow would have to set allowCommands: true)")
			break
		}
		out, err = tb.run(ctx, a)
	default:
		names := []string{toolList, toolRead, toolWrite}
		if tb.allowCommands {
			names = append(names, toolRun)
		}
		err = fmt.Errorf("there is no tool %q; the tools are %s", printable(name, 60), strings.Join(names, ", "))
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if err != nil {
		return "error: " + err.Error(), nil
	}
	return out, nil
}

// cleanPath checks a path the model gave before os.Root sees it, so the
// model learns what was wrong rather than a bare "path escapes".
func cleanPath(p string, allowEmpty bool) (string, error) {
	if p == "" || p == "." {
		if allowEmpty {
			return ".", nil
		}
		return "", errors.New("a path is required")
	}
	for _, r := range p {
		if r == 0 || unicode.IsControl(r) {
			return "", fmt.Errorf("path %q has a control character", p)
		}
	}
	if filepath.IsAbs(p) || strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\`) || filepath.VolumeName(p) != "" {
		return "", fmt.Errorf("path %q is absolute: give a path relative to the task folder", p)
	}
	p = strings.ReplaceAll(p, `\`, "/")
	if slices.Contains(strings.Split(p, "/"), "..") {
		return "", fmt.Errorf("path %q leads out of the task folder: '..' is not allowed", p)
	}
	return path.Clean(p), nil
}

// root opens the folder a call works in: the task's own, or a dependency's
// for reading.
func (tb *toolbox) root(task string) (*os.Root, error) {
	if task != "" && task != tb.job.Task.ID {
		if !slices.Contains(tb.job.Task.DependsOn, task) {
			deps := "it depends on none"
			if len(tb.job.Task.DependsOn) > 0 {
				deps = "it depends on " + strings.Join(tb.job.Task.DependsOn, ", ")
			}
			return nil, fmt.Errorf("task %q is not one this task depends on (%s)", printable(task, 60), deps)
		}
		// Through a root on the staging folder, not os.OpenRoot of the
		// joined path: a dependency's folder that is a symlink must not
		// lead out of the staging folder.
		staging, err := os.OpenRoot(tb.job.StagingRoot)
		if err != nil {
			return nil, fmt.Errorf("open the staging folder: %v", err)
		}
		defer staging.Close()
		r, err := staging.OpenRoot(task)
		if safefile.IsEscape(err) {
			return nil, fmt.Errorf("the folder of task %q is a symlink that leads out of the staging folder: it is not followed", task)
		}
		if err != nil {
			return nil, fmt.Errorf("open the folder of task %q: %v", task, rootErr(err))
		}
		return r, nil
	}
	r, err := os.OpenRoot(tb.job.Dir)
	if err != nil {
		return nil, fmt.Errorf("open the task folder: %v", err)
	}
	return r, nil
}

// isFolder reports whether err refuses a folder where a file was wanted.
func isFolder(err error) bool {
	var nr *safefile.NotRegularError
	return errors.As(err, &nr) && nr.Mode.IsDir()
}

func (tb *toolbox) list(a toolArgs) (string, error) {
	p, err := cleanPath(a.Path, true)
	if err != nil {
		return "", err
	}
	r, err := tb.root(a.Task)
	if err != nil {
		return "", err
	}
	defer r.Close()
	lines, more, err := listFiles(r, p, maxListEntries)
	if err != nil {
		return "", err
	}
	if len(lines) == 0 {
		return fmt.Sprintf("%s is empty", p), nil
	}
	out := strings.Join(lines, "\n")
	if more {
		out += fmt.Sprintf("\n… (more than %d entries; list a subfolder)", maxListEntries)
	}
	return out, nil
}

// listFiles walks dir inside r without following symlinks: each line is a
// path and a size, folders end in '/', symlinks are shown, not entered.
func listFiles(r *os.Root, dir string, limit int) (lines []string, more bool, err error) {
	fsys := r.FS()
	st, err := fs.Stat(fsys, dir)
	if err != nil {
		return nil, false, fmt.Errorf("cannot list %q: %v", dir, rootErr(err))
	}
	if !st.IsDir() {
		return nil, false, fmt.Errorf("%q is a file, not a folder: read it with read_file", dir)
	}
	errFull := errors.New("full")
	err = fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		if len(lines) >= limit {
			more = true
			return errFull
		}
		switch {
		case d.IsDir():
			lines = append(lines, p+"/")
		case d.Type()&fs.ModeSymlink != 0:
			lines = append(lines, p+" (symlink, not followed)")
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			lines = append(lines, fmt.Sprintf("%s\t%s", p, size(info.Size())))
		default:
			lines = append(lines, p+" (not a regular file)")
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFull) {
		return nil, false, fmt.Errorf("cannot list %q: %v", dir, rootErr(err))
	}
	return lines, more, nil
}

func (tb *toolbox) read(a toolArgs) (string, error) {
	p, err := cleanPath(a.Path, false)
	if err != nil {
		return "", err
	}
	r, err := tb.root(a.Task)
	if err != nil {
		return "", err
	}
	defer r.Close()
	// A FIFO, made by a command the model ran or found in a dependency's
	// folder, is refused rather than waited on.
	f, st, err := safefile.Open(r, p)
	if isFolder(err) {
		return "", fmt.Errorf("%q is a folder: list it with list_files", p)
	}
	if err != nil {
		return "", fmt.Errorf("cannot read %q: %v", p, rootErr(err))
	}
	defer f.Close()
	var off int64
	if a.Offset != nil {
		off = *a.Offset
	}
	if off < 0 || off > st.Size() {
		return "", fmt.Errorf("offset %d is outside %q (%d bytes)", off, p, st.Size())
	}
	buf := make([]byte, min(st.Size()-off, maxReadBytes))
	n, err := f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("cannot read %q: %v", p, rootErr(err))
	}
	buf = buf[:n]
	if bytes.IndexByte(buf, 0) >= 0 {
		return "", fmt.Errorf("%q is a binary file (%s): it cannot be shown as text", p, size(st.Size()))
	}
	if int64(len(buf)) < st.Size()-off {
		buf = cutPartialRune(buf) // the next call starts where this one ends
	}
	text := strings.ToValidUTF8(string(buf), "�")
	if end := off + int64(len(buf)); end < st.Size() || off > 0 {
		text = fmt.Sprintf("[bytes %d–%d of %d; read_file with offset %d for more]\n", off, end, st.Size(), end) + text
	}
	return text, nil
}

func (tb *toolbox) write(a toolArgs) (string, error) {
	p, err := cleanPath(a.Path, false)
	if err != nil {
		return "", err
	}
	if a.Content == nil {
		return "", errors.New("content is required (the whole new content of the file)")
	}
	if len(*a.Content) > maxWriteBytes {
		return "", fmt.Errorf("content of %s is more than one file may be (%s)", size(int64(len(*a.Content))), size(maxWriteBytes))
	}
	if a.Task != "" && a.Task != tb.job.Task.ID {
		return "", errors.New("only your own task folder can be written to")
	}
	r, err := tb.root("")
	if err != nil {
		return "", err
	}
	defer r.Close()
	if dir := path.Dir(p); dir != "." {
		if err := r.MkdirAll(dir, 0o755); err != nil {
			return "", fmt.Errorf("cannot create folder %q: %v", dir, rootErr(err))
		}
	}
	if err := safefile.WriteFile(r, p, []byte(*a.Content), 0o644); err != nil {
		return "", fmt.Errorf("cannot write %q: %v", p, rootErr(err))
	}
	return fmt.Sprintf("wrote %s to %s", size(int64(len(*a.Content))), p), nil
}

func (tb *toolbox) run(ctx context.Context, a toolArgs) (string, error) {
	if strings.TrimSpace(a.Command) == "" {
		return "", errors.New("command is required")
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	out, err := engine.RunCommand(ctx, tb.job, engine.Command{Shell: a.Command}, tb.env, engine.PhaseWorker, nil)
	status := "exit status 0"
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			status = fmt.Sprintf("stopped after %s", commandTimeout)
		} else {
			status = err.Error()
		}
	}
	if len(out) > maxCommandTail {
		out = "…" + out[len(out)-maxCommandTail:]
	}
	out = strings.ToValidUTF8(out, "\uFFFD")
	return status + "\n" + out, nil
}

// cutPartialRune drops a character cut in two at the end of b.
func cutPartialRune(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			break
		}
	}
	return b
}

// rootErr shortens os.Root's errors to their reason; the path is already
// in the message around them.
func rootErr(err error) error {
	if safefile.IsEscape(err) {
		return errors.New("it leads out of the task folder")
	}
	// The innermost PathError holds the reason (MkdirAll nests them).
	for {
		var pe *fs.PathError
		if !errors.As(err, &pe) {
			return err
		}
		err = pe.Err
	}
}

func size(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// printable makes model-chosen text safe for one line of an event.
func printable(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return clip(s, n)
}
