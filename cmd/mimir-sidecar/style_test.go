package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Colour only on a terminal; neither colour nor emoji with NO_COLOR or
// TERM=dumb.
func TestColourAndEmoji(t *testing.T) {
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "wf.yaml"), []byte("name: c\ntasks:\n  - id: a\n    worker: {command: echo hi > a.txt}\n"), 0o644)
	for _, tc := range []struct {
		env           []string
		colour, emoji bool
	}{
		{nil, false, true},
		{[]string{"NO_COLOR=1"}, false, false},
		{[]string{"TERM=dumb"}, false, false},
	} {
		cmd := exec.Command(bin, "run", "wf.yaml", "--no-save")
		cmd.Dir = ws
		cmd.Env = append(os.Environ(), tc.env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", tc.env, err, out)
		}
		if strings.Contains(string(out), "\x1b[") != tc.colour || strings.Contains(string(out), "✅") != tc.emoji {
			t.Errorf("%v, not a terminal: want colour %v and emoji %v:\n%q", tc.env, tc.colour, tc.emoji, out)
		}
	}
}

// script runs the command on a pseudo-terminal, as a person would.
func script(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("script")
	if err != nil {
		t.Skip("no script(1) to give the run a terminal")
	}
	return path
}

func TestColourOnATerminal(t *testing.T) {
	sh := script(t)
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "wf.yaml"), []byte("name: c\ntasks:\n  - id: a\n    worker: {command: echo hi > a.txt}\n"), 0o644)
	for _, tc := range []struct {
		env           []string
		colour, emoji bool
	}{
		{[]string{"TERM=xterm"}, true, true},
		{[]string{"TERM=xterm", "NO_COLOR=1"}, false, false},
		{[]string{"TERM=dumb"}, false, false},
	} {
		cmd := exec.Command(sh, "-qec", bin+" run wf.yaml --no-save", "/dev/null")
		cmd.Dir = ws
		cmd.Env = append(os.Environ(), tc.env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", tc.env, err, out)
		}
		if strings.Contains(string(out), "\x1b[") != tc.colour || strings.Contains(string(out), "✅") != tc.emoji {
			t.Errorf("%v, on a terminal: want colour %v and emoji %v:\n%q", tc.env, tc.colour, tc.emoji, out)
		}
	}
}

// On a terminal, a worker at work for a while shows a status line with its
// elapsed time, erased when the next event is printed.
func TestLiveStatusLine(t *testing.T) {
	sh := script(t)
	ws := t.TempDir()
	// The worker waits for the test to let it go, in its own folder.
	os.WriteFile(filepath.Join(ws, "wf.yaml"), []byte("name: slow\ntasks:\n  - {id: a, worker: {command: 'while [ ! -e go ]; do sleep 0.05; done; echo done > out.txt'}}\n"), 0o644)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sh, "-qec", bin+" run wf.yaml --no-save", "/dev/null")
	cmd.Dir = ws
	cmd.Env = append(os.Environ(), "TERM=xterm")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	sc.Split(scanStatus)
	var all strings.Builder
	status := regexp.MustCompile(`⏳ \[a\] worker [1-9][0-9]*s`)
	released := false
	for sc.Scan() {
		all.WriteString(sc.Text())
		if status.MatchString(sc.Text()) && !released {
			released = true
			staged, _ := filepath.Glob(filepath.Join(ws, ".mimir/executions/*/staging/a"))
			if len(staged) != 1 {
				t.Fatalf("the task's folder: %v", staged)
			}
			os.WriteFile(filepath.Join(staged[0], "go"), nil, 0o644)
		}
	}
	if err := cmd.Wait(); err != nil || !released {
		t.Fatalf("%v; output:\n%q", err, all.String())
	}
	if !strings.Contains(all.String(), "\r\x1b[K") {
		t.Errorf("the status line was not erased:\n%q", all.String())
	}
}

// scanStatus splits a terminal's output at line ends and at the status
// line's erasure, so that a line redrawn in place is seen as it comes.
func scanStatus(data []byte, atEOF bool) (int, []byte, error) {
	for i, c := range data {
		if c == '\n' || c == '\r' {
			return i + 1, data[:i+1], nil
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}
