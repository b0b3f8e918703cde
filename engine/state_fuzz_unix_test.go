//go:build unix

package engine_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/engine/exec"
	"github.com/mimir-sidecar/mimir-sidecar/engine/journal"
	"github.com/mimir-sidecar/mimir-sidecar/internal/safefile"
	"github.com/mimir-sidecar/mimir-sidecar/notify"
	"github.com/mimir-sidecar/mimir-sidecar/workspace"
)

// stateNames are where the fuzzer plants things: every name the sidecar
// makes, reads or removes in .mimir, and the folders above them.
func stateNames() []string {
	return []string{
		".mimir", ".mimir/journal.lock", ".mimir/journal.db", ".mimir/journal.db-wal",
		".mimir/journal.db-shm", ".mimir/journal.db-journal", ".mimir/.gitignore",
		".mimir/sidecar.json", ".mimir/executions", ".mimir/executions/x",
	}
}

// plantKinds are what the fuzzer plants there; each takes the full path
// and the sentinel folder outside the workspace.
func plantKinds() []func(p, sentinel string) error {
	return []func(p, sentinel string) error{
		func(p, _ string) error { return os.WriteFile(p, []byte("not what the sidecar wrote"), 0o644) },
		func(p, _ string) error { return os.Mkdir(p, 0o755) },
		func(p, s string) error { return os.Symlink(filepath.Join(s, "file"), p) },
		func(p, s string) error { return os.Symlink(filepath.Join(s, "folder"), p) },
		func(p, s string) error { return os.Symlink(filepath.Join(s, "absent"), p) },
		func(p, _ string) error { return os.Symlink("/dev/zero", p) },
		func(p, _ string) error { return syscall.Mkfifo(p, 0o644) },
		func(p, _ string) error { return os.Symlink(".", p) },
		func(p, s string) error { return os.Symlink(s, p) },
	}
}

// plant builds the tree a program describes: each pair of bytes is a name
// and a kind. A name whose folder is not a real folder is skipped, so the
// planting itself never writes outside the workspace.
func plant(t *testing.T, ws, sentinel string, program []byte) {
	names, kinds := stateNames(), plantKinds()
	for i := 0; i+1 < len(program); i += 2 {
		name := names[int(program[i])%len(names)]
		p := filepath.Join(ws, filepath.FromSlash(name))
		if !realFolder(ws, filepath.Dir(p)) {
			continue
		}
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		if err := kinds[int(program[i+1])%len(kinds)](p, sentinel); err != nil {
			t.Fatalf("plant %s: %v", name, err)
		}
	}
}

// realFolder says whether dir, inside ws, is reached through folders only.
func realFolder(ws, dir string) bool {
	rel, err := filepath.Rel(ws, dir)
	if err != nil {
		return false
	}
	p := ws
	for _, elem := range strings.Split(rel, string(filepath.Separator)) {
		if elem == "." {
			continue
		}
		p = filepath.Join(p, elem)
		st, err := os.Lstat(p)
		if err != nil || !st.IsDir() {
			return false
		}
	}
	return true
}

// snapshot describes a tree: every name with its mode, size and content
// hash, links unfollowed.
func snapshot(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v %d", p, st.Mode(), st.Size())
		if st.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func newSentinel(t *testing.T) string {
	t.Helper()
	s := t.TempDir()
	for p, data := range map[string]string{"file": "the user's file", "folder/inner": "keep", "folder/x/staging/t/out.txt": "old"} {
		full := filepath.Join(s, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// within runs f and fails the test if it does not return in time: a call
// that waits on a FIFO or reads /dev/zero never would.
func within[T any](t *testing.T, what string, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not return within 60s", what)
		panic("unreachable")
	}
}

const fuzzWorkflow = `name: fuzz
tasks:
  - {id: t, worker: {type: exec, command: "sh -c 'echo hi > out.txt'"}}
`

// FuzzStateFolder plants random trees of links (out of the workspace, to
// /dev/zero, to the folder itself), FIFOs, folders and files in .mimir,
// then does what a sidecar does with it: make the folder, open the
// journal, claim and read sidecar.json, run a workflow, read a
// deliverable, prune. Nothing outside the workspace may change, and every
// call must return.
func FuzzStateFolder(f *testing.F) {
	// Every kind at every name, the folders above it made real first.
	names := stateNames()
	for i, name := range names {
		var above []byte
		for j, n := range names[:i] {
			if strings.HasPrefix(name, n+"/") {
				above = append(above, byte(j), 1)
			}
		}
		for k := range plantKinds() {
			f.Add(append(slices.Clone(above), byte(i), byte(k)))
		}
	}
	f.Fuzz(func(t *testing.T, program []byte) {
		if len(program) > 64 {
			return
		}
		ws, sentinel := t.TempDir(), newSentinel(t)
		plant(t, ws, sentinel, program)
		before := snapshot(t, sentinel)
		state := filepath.Join(ws, ".mimir")

		w, err := workspace.Open(ws)
		if err != nil {
			t.Fatal(err)
		}
		within(t, "EnsureStateDir", func() error { return w.EnsureStateDir() })
		disc := filepath.Join(state, "sidecar.json")
		own := notify.Discovery{URL: "http://127.0.0.1:1", Token: "tok", PID: os.Getpid(), Workspace: ws}
		within(t, "ClaimDiscovery", func() error {
			_, _, err := notify.ClaimDiscovery(context.Background(), disc, own)
			return err
		})
		within(t, "ReadDiscovery", func() error { _, err := notify.ReadDiscovery(disc); return err })

		type opened struct {
			j   *journal.Journal
			err error
		}
		o := within(t, "OpenJournal", func() opened {
			j, _, err := journal.Open(state, nil)
			return opened{j, err}
		})
		opts := engine.Options{Workspace: ws, StateDir: state, Agents: engine.Agents{"exec": exec.Agent()}}
		if o.err == nil {
			opts.Journal = o.j
		}
		r := within(t, "NewRunner", func() *engine.Runner { return engine.NewRunner(t.Context(), opts) })
		wf, err := engine.ParseWorkflow(filepath.Join(ws, "wf.yaml"), []byte(fuzzWorkflow))
		if err != nil {
			t.Fatal(err)
		}
		ex := within(t, "Execute", func() *engine.Execution {
			ex, err := r.Execute(wf, engine.ExecOptions{})
			if err != nil {
				return nil
			}
			<-ex.Done()
			return ex
		})
		if ex != nil {
			for _, d := range ex.Deliverables() {
				within(t, "read "+d.Path, func() error { return readDeliverable(ex.StagingDir(), d.Path) })
			}
		}
		within(t, "Prune", func() error { _, err := r.Prune(time.Nanosecond, 0); return err })
		within(t, "Close", func() error { return r.Close(context.Background()) })
		within(t, "RemoveDiscovery", func() error { return notify.RemoveDiscovery(disc, own) })

		if after := snapshot(t, sentinel); !slices.Equal(before, after) {
			t.Errorf("the folder outside the workspace changed (program %v):\nbefore %v\nafter  %v", program, before, after)
		}
	})
}

// readDeliverable reads a deliverable as the sidecar previews one: through
// a root on the staging folder and the safe opener, bounded.
func readDeliverable(staging, p string) error {
	root, err := os.OpenRoot(staging)
	if err != nil {
		return err
	}
	defer root.Close()
	f, _, err := safefile.Open(root, p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, io.LimitReader(f, 1<<20))
	return err
}
