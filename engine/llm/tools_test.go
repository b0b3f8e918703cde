package llm

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// Attack: a model that asks its tools for paths outside the staging
// folder (.., absolute, symlinks out, another task's folder, a dependency
// whose folder is a symlink out) gets an error back for each, and nothing
// outside is read or written; a named pipe is refused, not waited on.
func TestToolsStayInStagingFolder(t *testing.T) {
	outside := t.TempDir()
	mustWrite(t, filepath.Join(outside, "secret.txt"), "OUTSIDE-SECRET")
	mustWrite(t, filepath.Join(outside, "dir", "deep.txt"), "OUTSIDE-DEEP")

	task := llmTask("Write.")
	task.DependsOn = []string{"linked"}
	job := testJob(t, task)
	sibling := filepath.Join(job.StagingRoot, "other")
	mustWrite(t, filepath.Join(sibling, "theirs.txt"), "SIBLING-SECRET")
	mustSymlink(t, outside, filepath.Join(job.Dir, "escape"))
	mustSymlink(t, filepath.Join(outside, "secret.txt"), filepath.Join(job.Dir, "secretlink"))
	mustSymlink(t, "../other", filepath.Join(job.Dir, "rel"))
	mustSymlink(t, outside, filepath.Join(job.StagingRoot, "linked"))
	mkfifo(t, filepath.Join(job.Dir, "pipe"))
	mkfifo(t, filepath.Join(outside, "pipe"))
	before := snapshot(t, outside)
	beforeSibling := snapshot(t, sibling)

	attacks := []call{
		{Name: toolRead, Args: map[string]any{"path": "../../etc/passwd"}},
		{Name: toolRead, Args: map[string]any{"path": "/etc/passwd"}},
		{Name: toolRead, Args: map[string]any{"path": filepath.Join(outside, "secret.txt")}},
		{Name: toolRead, Args: map[string]any{"path": "secretlink"}},
		{Name: toolRead, Args: map[string]any{"path": "escape/secret.txt"}},
		{Name: toolRead, Args: map[string]any{"path": "rel/theirs.txt"}},
		{Name: toolRead, Args: map[string]any{"path": `..\..\etc\passwd`}},
		{Name: toolRead, Args: map[string]any{"path": "a/../../other/theirs.txt"}},
		{Name: toolRead, Args: map[string]any{"path": "theirs.txt", "task": "other"}},
		{Name: toolRead, Args: map[string]any{"path": "x\x00y"}},
		{Name: toolList, Args: map[string]any{"path": ".."}},
		{Name: toolList, Args: map[string]any{"path": "escape"}},
		{Name: toolList, Args: map[string]any{"path": "/"}},
		{Name: toolList, Args: map[string]any{"path": ".", "task": "../.."}},
		{Name: toolWrite, Args: map[string]any{"path": "../pwned.txt", "content": "PWNED"}},
		{Name: toolWrite, Args: map[string]any{"path": filepath.Join(outside, "pwned.txt"), "content": "PWNED"}},
		{Name: toolWrite, Args: map[string]any{"path": "escape/pwned.txt", "content": "PWNED"}},
		{Name: toolWrite, Args: map[string]any{"path": "escape/dir/deep.txt", "content": "PWNED"}},
		{Name: toolWrite, Args: map[string]any{"path": "secretlink", "content": "PWNED"}},
		{Name: toolWrite, Args: map[string]any{"path": "rel/theirs.txt", "content": "PWNED"}},
		{Name: toolWrite, Args: map[string]any{"path": "sub/../../pwned.txt", "content": "PWNED"}},
		{Name: toolWrite, Args: map[string]any{"path": "theirs.txt", "task": "other", "content": "PWNED"}},
		{Name: toolList, Args: map[string]any{"task": "linked"}},
		{Name: toolRead, Args: map[string]any{"path": "secret.txt", "task": "linked"}},
		{Name: toolRead, Args: map[string]any{"path": "pipe", "task": "linked"}},
		{Name: toolRead, Args: map[string]any{"path": "pipe"}},
		{Name: toolWrite, Args: map[string]any{"path": "pipe", "content": "PWNED"}},
	}
	f := newFakeLLM(t, answer("", attacks...), answer("gave up"))
	w := buildWorker(t, Kind(testConfig(f.URL(), func(p *Provider) { p.MaxToolCalls = 100 })), task)
	type result struct {
		res engine.WorkResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := w.Work(t.Context(), job)
		done <- result{res, err}
	}()
	var res engine.WorkResult
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
		res = r.res
	case <-time.After(time.Minute): // a hang, not slowness: each call is local
		t.Fatal("a tool call is stuck (on the named pipe?)")
	}
	if res.ToolCalls != len(attacks) {
		t.Errorf("ToolCalls = %d, want %d", res.ToolCalls, len(attacks))
	}
	results := f.requests()[1].Body.Messages[3:]
	if len(results) != len(attacks) {
		t.Fatalf("%d tool results for %d calls", len(results), len(attacks))
	}
	for i, r := range results {
		text := r.Text()
		if !strings.HasPrefix(text, "error: ") {
			t.Errorf("%s %s: got %q, want an error", attacks[i].Name, attacks[i].Arguments(), text)
		}
		for _, leak := range []string{"OUTSIDE-SECRET", "OUTSIDE-DEEP", "SIBLING-SECRET", "root:"} {
			if strings.Contains(text, leak) {
				t.Errorf("%s %s leaked %q", attacks[i].Name, attacks[i].Arguments(), leak)
			}
		}
	}
	if after := snapshot(t, outside); !equalMaps(before, after) {
		t.Errorf("the folder outside changed:\nbefore %v\nafter  %v", before, after)
	}
	if after := snapshot(t, sibling); !equalMaps(beforeSibling, after) {
		t.Errorf("another task's folder changed: %v", after)
	}
	if _, err := os.Lstat(filepath.Join(job.StagingRoot, "pwned.txt")); err == nil {
		t.Error("pwned.txt was written beside the staging folder")
	}
	if _, err := os.Lstat(filepath.Join(filepath.Dir(job.StagingRoot), "pwned.txt")); err == nil {
		t.Error("pwned.txt was written above the staging root")
	}
}

// A task reads what the tasks it depends on produced, and writes only its
// own folder.
func TestToolsReadDependencies(t *testing.T) {
	task := llmTask("Review.")
	task.DependsOn = []string{"collect"}
	job := testJob(t, task)
	mustWrite(t, filepath.Join(job.StagingRoot, "collect", "src", "main.go"), "package main")
	f := newFakeLLM(t,
		answer("",
			call{Name: toolList, Args: map[string]any{"task": "collect"}},
			call{Name: toolRead, Args: map[string]any{"task": "collect", "path": "src/main.go"}},
			call{Name: toolWrite, Args: map[string]any{"task": "collect", "path": "src/main.go", "content": "changed"}},
			call{Name: toolWrite, Args: map[string]any{"path": "review.md", "content": "looks fine"}},
		),
		answer("reviewed"),
	)
	if _, err := buildWorker(t, Kind(testConfig(f.URL())), task).Work(t.Context(), job); err != nil {
		t.Fatal(err)
	}
	results := f.requests()[1].Body.Messages[3:]
	want := []string{"src/\nsrc/main.go\t12 B", "package main", "error: only your own task folder can be written to", "wrote 10 B to review.md"}
	for i, w := range want {
		if got := results[i].Text(); got != w {
			t.Errorf("result %d = %q, want %q", i, got, w)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(job.StagingRoot, "collect", "src", "main.go")); string(b) != "package main" {
		t.Error("a dependency's file was changed")
	}
	if !strings.Contains(f.requests()[0].Body.Messages[1].Text(), `"task": "<id>"`) {
		t.Error("the brief does not say how to read the dependencies' files")
	}
}

// Reads are bounded and say how to go on; binary files are not sent.
func TestToolsReadBounds(t *testing.T) {
	task := llmTask("Read.")
	job := testJob(t, task)
	big := strings.Repeat("é", maxReadBytes) // two bytes each: twice the bound
	mustWrite(t, filepath.Join(job.Dir, "big.txt"), big)
	mustWrite(t, filepath.Join(job.Dir, "bin.dat"), "a\x00b")
	tb := &toolbox{job: job}
	out, err := tb.call(t.Context(), toolRead, toolArgs{Path: "big.txt"})
	if err != nil {
		t.Fatal(err)
	}
	header, body, _ := strings.Cut(out, "\n")
	if header != "[bytes 0–65536 of 131072; read_file with offset 65536 for more]" || len(body) != maxReadBytes {
		t.Errorf("header %q, body of %d bytes", header, len(body))
	}
	off := int64(maxReadBytes)
	out, _ = tb.call(t.Context(), toolRead, toolArgs{Path: "big.txt", Offset: &off})
	if _, body, _ = strings.Cut(out, "\n"); body != big[maxReadBytes:] {
		t.Error("the second read is not the rest of the file")
	}
	if out, _ = tb.call(t.Context(), toolRead, toolArgs{Path: "bin.dat"}); !strings.Contains(out, "binary file") {
		t.Errorf("binary read = %q", out)
	}
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// snapshot maps every path under dir to its content (or its kind).
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			m[rel] = string(b)
		} else {
			m[rel] = d.Type().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
