//go:build unix

package workspace

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A named pipe, a socket or a link in the staging folder is refused with a
// result of its own, without waiting on it (opening a pipe for reading
// blocks until a writer comes: this test would hang), and the files after
// it are saved.
func TestSaveRefusesSpecialSources(t *testing.T) {
	f := newFixture(t, map[string]string{"ok.txt": "ok", "real.txt": "real"})
	if err := syscall.Mkfifo(filepath.Join(f.src, "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A socket's path is limited to about 100 bytes: make it from inside
	// the folder with a short relative name.
	t.Chdir(f.src)
	l, err := net.Listen("unix", "sock")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := os.Symlink("real.txt", filepath.Join(f.src, "link-inside.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(f.src, "device")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(f.src, "folder"), 0o755); err != nil {
		t.Fatal(err)
	}
	before := f.snapshotOutside(t)
	names := []string{"pipe", "sock", "link-inside.txt", "device", "folder"}
	says := []string{"a named pipe", "a socket", "a symbolic link", "a symbolic link", "a folder"}
	rep, err := f.ws.Save(context.Background(), f.src, append(names, "ok.txt"), SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rep.Results[:len(names)] {
		if r.Status != StatusFailed || !strings.Contains(r.Error, says[i]) || !strings.Contains(r.Error, "not a regular file") {
			t.Errorf("%s: %+v, want failed as %s", names[i], r, says[i])
		}
		if _, err := os.Lstat(filepath.Join(f.ws.Dir(), "deliverables", names[i])); err == nil {
			t.Errorf("%s was created in the workspace", names[i])
		}
	}
	if r := rep.Results[len(names)]; r.Status != StatusSaved {
		t.Errorf("the regular file after them: %+v", r)
	}
	if rep.Failed != len(names) || rep.Saved != 1 {
		t.Errorf("counts: %d saved, %d failed", rep.Saved, rep.Failed)
	}
	f.assertOutsideUntouched(t, before)
	f.assertNoTemp(t)
}

// A named pipe where the deliverable goes is not opened to compare
// contents (that would wait for a writer): it is a conflict like any other.
func TestSaveOverPlantedPipe(t *testing.T) {
	for _, tc := range []struct {
		policy  Conflict
		status  string
		savedAs string
	}{
		{KeepBoth, StatusRenamed, "deliverables/a (1).txt"},
		{Overwrite, StatusOverwritten, "deliverables/a.txt"},
		{Skip, StatusSkipped, "deliverables/a.txt"},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			f := newFixture(t, map[string]string{"a.txt": "new"})
			if err := os.MkdirAll(filepath.Join(f.ws.Dir(), "deliverables"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mkfifo(filepath.Join(f.ws.Dir(), "deliverables", "a.txt"), 0o644); err != nil {
				t.Fatal(err)
			}
			rep, err := f.ws.Save(context.Background(), f.src, []string{"a.txt"}, SaveOptions{Conflict: tc.policy})
			if err != nil {
				t.Fatal(err)
			}
			if r := rep.Results[0]; r.Status != tc.status || r.SavedAs != tc.savedAs {
				t.Errorf("result %+v, want %s as %s", r, tc.status, tc.savedAs)
			}
			f.assertNoTemp(t)
		})
	}
}

// Overwriting keeps the file's permissions (an executable hook stayed a
// hook only in name when it lost its x bit); a new file gets the default.
func TestOverwriteKeepsPermissions(t *testing.T) {
	f := newFixture(t, map[string]string{"run.sh": "#!/bin/sh\necho new\n", "secret.txt": "new", "new.txt": "new"})
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	for name, perm := range map[string]os.FileMode{"run.sh": 0o755, "secret.txt": 0o600} {
		p := filepath.Join(f.ws.Dir(), "deliverables", name)
		write(t, p, "old")
		if err := os.Chmod(p, perm); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := f.ws.Save(context.Background(), f.src, []string{"run.sh", "secret.txt", "new.txt"}, SaveOptions{Conflict: Overwrite})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []os.FileMode{0o755, 0o600, 0o644} {
		r := rep.Results[i]
		st, err := os.Stat(filepath.Join(f.ws.Dir(), filepath.FromSlash(r.SavedAs)))
		if err != nil || st.Mode().Perm() != want {
			t.Errorf("%+v: mode %v (%v), want %v", r, st.Mode().Perm(), err, want)
		}
	}
}

// Nothing is written into a .git folder, whatever its case: git runs hooks
// from there.
func TestSaveRefusesGitFolders(t *testing.T) {
	f := newFixture(t, map[string]string{"pre-commit": "#!/bin/sh\n", "t/.Git/config": "x", "ok.txt": "ok"})
	before := f.snapshotOutside(t, "ok.txt")
	for _, target := range []string{".git/hooks", "sub/.GIT", ".git"} {
		if _, err := f.ws.Save(context.Background(), f.src, []string{"pre-commit"}, SaveOptions{Target: target, Conflict: Overwrite}); err == nil || !strings.Contains(err.Error(), ".git folder") {
			t.Errorf("target %s: %v, want it refused", target, err)
		}
	}
	rep, err := f.ws.Save(context.Background(), f.src, []string{"t/.Git/config", "ok.txt"}, SaveOptions{Target: "."})
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.Results[0]; r.Status != StatusFailed || !strings.Contains(r.Error, ".git folder") {
		t.Errorf("a deliverable inside a .git folder: %+v", r)
	}
	if r := rep.Results[1]; r.Status != StatusSaved {
		t.Errorf("the file after it: %+v", r)
	}
	for _, p := range []string{".git", "sub", "t"} {
		if _, err := os.Lstat(filepath.Join(f.ws.Dir(), p)); err == nil {
			t.Errorf("%s was created", p)
		}
	}
	f.assertOutsideUntouched(t, before, "ok.txt")
}
