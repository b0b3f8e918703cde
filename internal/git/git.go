// Package git runs the git program on repositories the sidecar does not
// trust, for the tasks that work on a copy of the workspace.
//
// A workspace's repository comes from whoever wrote it: its .git/config can
// name programs git runs by itself (core.fsmonitor, hooks, filter and diff
// drivers, gpg.program, core.sshCommand, …). So every change the sidecar
// makes goes into a repository of its own, one per execution ([Repo]),
// which borrows the workspace's objects read-only (objects/info/alternates)
// and whose configuration the sidecar wrote. The workspace's repository is
// only read (its HEAD, its objects), and written only when a change is
// committed on a branch at the user's request ([UserRepo.Branch]); every
// run of git, on either repository, gets the same neutralising
// configuration and environment ([command]), so no configuration of the
// workspace's can make git start a program.
package git

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// maxOutput bounds what one git run may print before it is cut off: the
// outputs read here are object ids, file lists and patches of a task.
const maxOutput = 64 << 20

// neutral is the configuration given on every command line, where it wins
// over every configuration file: the settings with which git would run a
// program, or wait for a person, switched off.
func neutral() []string {
	return []string{
		"core.hooksPath=" + os.DevNull,
		"core.fsmonitor=false",
		"core.sshCommand=false",
		"core.askPass=",
		"core.pager=cat",
		"core.editor=false",
		"sequence.editor=false",
		"credential.helper=",
		"diff.external=",
		"commit.gpgSign=false",
		"tag.gpgSign=false",
		"protocol.allow=never",
		"gc.auto=0",
		"maintenance.auto=false",
		"core.untrackedCache=false",
		"advice.detachedHead=false",
	}
}

// environ is the sidecar's environment without any GIT_* variable (which
// could point git at another repository or configuration), plus the
// settings no configuration can undo.
func environ(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(strings.ToUpper(kv), "GIT_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"GIT_TERMINAL_PROMPT=0",
		"GIT_NO_REPLACE_OBJECTS=1", // a replace ref would swap the objects read
		"GIT_OPTIONAL_LOCKS=0",
		"GIT_PAGER=cat",
		"GIT_EDITOR=false",
		"GIT_ALLOW_PROTOCOL=none",
		"LC_ALL=C",
		// The sidecar's own commits (snapshots, captured changes) are
		// never shared: a fixed identity keeps them working without one
		// configured.
		"GIT_AUTHOR_NAME=mimir-sidecar", "GIT_AUTHOR_EMAIL=mimir-sidecar@localhost",
		"GIT_COMMITTER_NAME=mimir-sidecar", "GIT_COMMITTER_EMAIL=mimir-sidecar@localhost",
	)
	return append(env, extra...)
}

// run is one run of git: gitDir is the repository, env what else the run
// needs (a work tree, an index), stdin its input (nil: none). It returns
// what git printed on stdout.
type run struct {
	gitDir string
	env    []string
	stdin  io.Reader
	dir    string
	// ok lists exit codes that are answers, not failures (merge-tree's 1:
	// conflicts).
	ok []int
}

// ExitError is a git run that failed: what it was asked and what it said.
type ExitError struct {
	Args   []string
	Code   int
	Stderr string
}

func (e *ExitError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		msg = fmt.Sprintf("exit status %d", e.Code)
	}
	return fmt.Sprintf("git %s: %s", strings.Join(e.Args, " "), msg)
}

func (r run) output(ctx context.Context, args ...string) ([]byte, int, error) {
	full := make([]string, 0, 2*len(neutral())+2+len(args))
	for _, c := range neutral() {
		full = append(full, "-c", c)
	}
	full = append(full, "--git-dir="+r.gitDir)
	full = append(full, args...)
	cmd := exec.CommandContext(ctx, "git", full...)
	cmd.Env = environ(r.env)
	cmd.Dir = r.dir
	if cmd.Dir == "" {
		cmd.Dir = r.gitDir
	}
	cmd.Stdin = r.stdin
	var out, errb limited
	out.max, errb.max = maxOutput, 16<<10
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if errors.Is(err, exec.ErrNotFound) {
		return nil, 0, errors.New("git is not installed or not on PATH: install git (apt-get install git, brew install git, or git-scm.com) to use isolation: worktree or copy")
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code := exit.ExitCode()
		for _, c := range r.ok {
			if code == c && !out.cut {
				return out.Bytes(), code, nil
			}
		}
		return nil, code, &ExitError{Args: args, Code: code, Stderr: errb.String()}
	}
	if err != nil {
		return nil, 0, fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	if out.cut {
		return nil, 0, fmt.Errorf("git %s: printed more than %d bytes", strings.Join(args, " "), maxOutput)
	}
	return out.Bytes(), 0, nil
}

// text runs git and returns its output trimmed, for one-line answers.
func (r run) text(ctx context.Context, args ...string) (string, error) {
	out, _, err := r.output(ctx, args...)
	return strings.TrimSpace(string(out)), err
}

// limited keeps the first max bytes written to it and notes the rest.
type limited struct {
	bytes.Buffer
	max int
	cut bool
}

func (l *limited) Write(p []byte) (int, error) {
	if room := l.max - l.Len(); len(p) > room {
		l.cut = true
		if room > 0 {
			l.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return l.Buffer.Write(p)
}
