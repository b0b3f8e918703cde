package workspace

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fixture is a workspace, a staging folder with files, and a sibling
// "outside" folder, all under one temporary root: nothing under that root
// but the save's target folder may change.
type fixture struct {
	ws      *Workspace
	base    string
	src     string
	outside string
}

func newFixture(t *testing.T, files map[string]string) *fixture {
	t.Helper()
	base := t.TempDir()
	f := &fixture{base: base, src: filepath.Join(base, "staging"), outside: filepath.Join(base, "outside")}
	for _, d := range []string{"ws", "staging", "outside"} {
		if err := os.Mkdir(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(f.outside, "keep.txt"), "outside")
	write(t, filepath.Join(base, "beside-ws.txt"), "the workspace's parent")
	for name, body := range files {
		write(t, filepath.Join(f.src, name), body)
	}
	ws, err := Open(filepath.Join(base, "ws"))
	if err != nil {
		t.Fatal(err)
	}
	f.ws = ws
	return f
}

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// snapshot lists every path under dir with its content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			out[rel] = string(b)
		} else {
			out[rel] = d.Type().String()
		}
		return nil
	})
	return out
}

// snapshotOutside lists everything under the temporary root (the
// workspace's parent, the staging folder, "outside", the rest of the
// workspace) except the target folders a save may write to.
func (f *fixture) snapshotOutside(t *testing.T, targets ...string) map[string]string {
	t.Helper()
	if len(targets) == 0 {
		targets = []string{"deliverables"}
	}
	all := snapshot(t, f.base)
	for p := range all {
		for _, tg := range targets {
			tg = filepath.Join("ws", filepath.FromSlash(tg))
			if p == tg || strings.HasPrefix(p, tg+string(filepath.Separator)) {
				delete(all, p)
			}
		}
	}
	return all
}

// assertOutsideUntouched checks that nothing but the targets changed since
// before was taken with the same targets.
func (f *fixture) assertOutsideUntouched(t *testing.T, before map[string]string, targets ...string) {
	t.Helper()
	after := f.snapshotOutside(t, targets...)
	for k, v := range after {
		if b, ok := before[k]; !ok {
			t.Errorf("%s appeared outside the target folder (%s)", k, v)
		} else if b != v {
			t.Errorf("%s changed outside the target folder", k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			t.Errorf("%s disappeared outside the target folder", k)
		}
	}
}

func (f *fixture) assertNoTemp(t *testing.T) {
	t.Helper()
	for p := range snapshot(t, f.ws.Dir()) {
		if strings.HasSuffix(p, ".tmp") {
			t.Errorf("temporary file left behind: %s", p)
		}
	}
}

func TestSaveNestedFolders(t *testing.T) {
	f := newFixture(t, map[string]string{"a/docs/fr/README.md": "bonjour", "b/x.txt": "x"})
	rep, err := f.ws.Save(context.Background(), f.src, []string{"a/docs/fr/README.md", "b/x.txt"}, SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Saved != 2 || rep.Failed != 0 || rep.Target != filepath.Join(f.ws.Dir(), "deliverables") {
		t.Fatalf("report %+v", rep)
	}
	b, err := os.ReadFile(filepath.Join(f.ws.Dir(), "deliverables/a/docs/fr/README.md"))
	if err != nil || string(b) != "bonjour" {
		t.Fatalf("saved file: %q, %v", b, err)
	}
	if rep.Results[0].SavedAs != "deliverables/a/docs/fr/README.md" || rep.Results[0].Status != StatusSaved {
		t.Errorf("result %+v", rep.Results[0])
	}
	f.assertNoTemp(t)
}

func TestSaveConflicts(t *testing.T) {
	for _, tc := range []struct {
		policy  Conflict
		status  string
		savedAs string
		content string // of report.md afterwards
	}{
		{KeepBoth, StatusRenamed, "deliverables/t/report (2).md", "mine"},
		{Overwrite, StatusOverwritten, "deliverables/t/report.md", "new"},
		{Skip, StatusSkipped, "deliverables/t/report.md", "mine"},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			f := newFixture(t, map[string]string{"t/report.md": "new"})
			write(t, filepath.Join(f.ws.Dir(), "deliverables/t/report.md"), "mine")
			write(t, filepath.Join(f.ws.Dir(), "deliverables/t/report (1).md"), "older")
			rep, err := f.ws.Save(context.Background(), f.src, []string{"t/report.md"}, SaveOptions{Conflict: tc.policy})
			if err != nil {
				t.Fatal(err)
			}
			r := rep.Results[0]
			if r.Status != tc.status || r.SavedAs != tc.savedAs {
				t.Errorf("result %+v, want %s as %s", r, tc.status, tc.savedAs)
			}
			b, _ := os.ReadFile(filepath.Join(f.ws.Dir(), "deliverables/t/report.md"))
			if string(b) != tc.content {
				t.Errorf("report.md holds %q, want %q", b, tc.content)
			}
			if b, _ := os.ReadFile(filepath.Join(f.ws.Dir(), "deliverables/t/report (1).md")); string(b) != "older" {
				t.Errorf("report (1).md was touched: %q", b)
			}
			f.assertNoTemp(t)
		})
	}
}

// A numbered copy goes before the extension; a dotfile's leading dot is
// part of its name, not an extension.
func TestSaveKeepBothNames(t *testing.T) {
	for name, want := range map[string]string{
		"report.md":    "report (1).md",
		".env":         ".env (1)",
		"d/.env":       "d/.env (1)",
		".config.json": ".config (1).json",
		"Makefile":     "Makefile (1)",
		"a.tar.gz":     "a.tar (1).gz",
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, map[string]string{name: "new"})
			write(t, filepath.Join(f.ws.Dir(), "deliverables", filepath.FromSlash(name)), "mine")
			rep, err := f.ws.Save(context.Background(), f.src, []string{name}, SaveOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if r := rep.Results[0]; r.Status != StatusRenamed || r.SavedAs != "deliverables/"+want {
				t.Errorf("result %+v, want renamed as deliverables/%s", r, want)
			}
			if b, _ := os.ReadFile(filepath.Join(f.ws.Dir(), "deliverables", filepath.FromSlash(want))); string(b) != "new" {
				t.Errorf("%s holds %q", want, b)
			}
		})
	}
}

// A symlink planted where a deliverable goes is never written through:
// overwrite replaces the link itself, keep-both and skip leave it, and
// what it points to (outside the workspace, or a user's file inside) never
// changes.
func TestSaveOverPlantedSymlinkFile(t *testing.T) {
	for _, tc := range []struct {
		policy  Conflict
		status  string
		savedAs string
		isLink  bool // report.md is still the planted link afterwards
	}{
		{Overwrite, StatusOverwritten, "deliverables/t/report.md", false},
		{KeepBoth, StatusRenamed, "deliverables/t/report (1).md", true},
		{Skip, StatusSkipped, "deliverables/t/report.md", true},
	} {
		for _, into := range []string{"outside", "inside"} {
			t.Run(string(tc.policy)+"/"+into, func(t *testing.T) {
				f := newFixture(t, map[string]string{"t/report.md": "new"})
				linkTo := filepath.Join(f.outside, "keep.txt")
				if into == "inside" {
					linkTo = filepath.Join(f.ws.Dir(), "mine.txt")
					write(t, linkTo, "mine")
				}
				dest := filepath.Join(f.ws.Dir(), "deliverables", "t", "report.md")
				if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(linkTo, dest); err != nil {
					t.Fatal(err)
				}
				before := f.snapshotOutside(t)
				rep, err := f.ws.Save(context.Background(), f.src, []string{"t/report.md"}, SaveOptions{Conflict: tc.policy})
				if err != nil {
					t.Fatal(err)
				}
				if r := rep.Results[0]; r.Status != tc.status || r.SavedAs != tc.savedAs {
					t.Errorf("result %+v, want %s as %s", r, tc.status, tc.savedAs)
				}
				f.assertOutsideUntouched(t, before) // includes mine.txt and outside/keep.txt
				st, err := os.Lstat(dest)
				if err != nil {
					t.Fatal(err)
				}
				if isLink := st.Mode()&fs.ModeSymlink != 0; isLink != tc.isLink {
					t.Errorf("report.md is a link: %v, want %v", isLink, tc.isLink)
				}
				if b, _ := os.ReadFile(filepath.Join(f.ws.Dir(), filepath.FromSlash(tc.savedAs))); tc.status != StatusSkipped && string(b) != "new" {
					t.Errorf("%s holds %q, want the new file", tc.savedAs, b)
				}
				f.assertNoTemp(t)
			})
		}
	}
}

func TestSaveUnchanged(t *testing.T) {
	f := newFixture(t, map[string]string{"t/a.md": "same"})
	write(t, filepath.Join(f.ws.Dir(), "deliverables/t/a.md"), "same")
	rep, _ := f.ws.Save(context.Background(), f.src, []string{"t/a.md"}, SaveOptions{})
	if rep.Results[0].Status != StatusUnchanged || rep.Saved != 1 {
		t.Errorf("identical file: %+v", rep)
	}
	if len(snapshot(t, filepath.Join(f.ws.Dir(), "deliverables/t"))) != 2 { // . and a.md
		t.Errorf("an identical file was saved again: %v", snapshot(t, f.ws.Dir()))
	}
}

// Every attack ends in a failed result (or a refused target) and nothing
// outside the workspace.
func TestSaveAttacks(t *testing.T) {
	names := []string{
		"../escape.txt", "a/../../escape.txt", "/etc/passwd", "a//b", "./a", "nul\x00byte",
		"bell\x07.txt", "tab\tname", "CON", "con.txt", "Lpt1.md", "dot.", "space ", `back\slash`,
		"c:/windows", "what?.md", "pipe|.md", strings.Repeat("n", 256),
	}
	f := newFixture(t, map[string]string{"ok.txt": "ok"})
	before := f.snapshotOutside(t)
	rep, err := f.ws.Save(context.Background(), f.src, append(names, "ok.txt"), SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rep.Results[:len(names)] {
		if r.Status != StatusFailed || !strings.Contains(r.Error, "not allowed") {
			t.Errorf("%q: %+v, want failed as not allowed", names[i], r)
		}
	}
	if last := rep.Results[len(names)]; last.Status != StatusSaved {
		t.Errorf("a good file among bad ones: %+v", last)
	}
	if rep.Failed != len(names) || rep.Saved != 1 {
		t.Errorf("counts %d saved %d failed", rep.Saved, rep.Failed)
	}
	f.assertOutsideUntouched(t, before)

	for _, target := range []string{"../outside", "/tmp", "a/../../x", ""} {
		if target == "" {
			continue
		}
		if _, err := f.ws.Save(context.Background(), f.src, []string{"ok.txt"}, SaveOptions{Target: target}); !errors.Is(err, ErrPathNotAllowed) {
			t.Errorf("target %q: %v, want ErrPathNotAllowed", target, err)
		}
	}
	f.assertOutsideUntouched(t, before)
}

func TestSaveSymlinkedTargetOutside(t *testing.T) {
	f := newFixture(t, map[string]string{"a.txt": "a", "sub/b.txt": "b"})
	// The whole target folder is a link out of the workspace.
	if err := os.Symlink(f.outside, filepath.Join(f.ws.Dir(), "deliverables")); err != nil {
		t.Fatal(err)
	}
	before := f.snapshotOutside(t)
	if _, err := f.ws.Save(context.Background(), f.src, []string{"a.txt"}, SaveOptions{}); err == nil {
		t.Error("saving through a symlinked target folder succeeded")
	}
	f.assertOutsideUntouched(t, before)

	// A subfolder inside the target is a link out.
	os.MkdirAll(filepath.Join(f.ws.Dir(), "out"), 0o755)
	os.Symlink("../../outside", filepath.Join(f.ws.Dir(), "out", "sub"))
	before = f.snapshotOutside(t, "out")
	rep, err := f.ws.Save(context.Background(), f.src, []string{"sub/b.txt", "a.txt"}, SaveOptions{Target: "out"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Results[0].Status != StatusFailed || !strings.Contains(rep.Results[0].Error, "outside") {
		t.Errorf("through a planted subfolder link: %+v", rep.Results[0])
	}
	if rep.Results[1].Status != StatusSaved {
		t.Errorf("the next file: %+v", rep.Results[1])
	}
	f.assertOutsideUntouched(t, before, "out")
	f.assertNoTemp(t)
}

// A worker that plants a link to a secret in its staging folder cannot get
// the secret copied into the workspace.
func TestSaveSymlinkedSource(t *testing.T) {
	f := newFixture(t, nil)
	write(t, filepath.Join(f.outside, "secret"), "secret")
	os.Symlink(filepath.Join(f.outside, "secret"), filepath.Join(f.src, "stolen.txt"))
	rep, _ := f.ws.Save(context.Background(), f.src, []string{"stolen.txt"}, SaveOptions{})
	if rep.Results[0].Status != StatusFailed {
		t.Errorf("a symlink out of the staging folder was saved: %+v", rep.Results[0])
	}
	if _, err := os.Stat(filepath.Join(f.ws.Dir(), "deliverables/stolen.txt")); err == nil {
		t.Error("the secret was copied into the workspace")
	}
}

func TestSaveFileWhereFolderNeeded(t *testing.T) {
	f := newFixture(t, map[string]string{"docs/a.md": "a", "b.md": "b"})
	write(t, filepath.Join(f.ws.Dir(), "deliverables/docs"), "a file, not a folder")
	rep, _ := f.ws.Save(context.Background(), f.src, []string{"docs/a.md", "b.md"}, SaveOptions{})
	if rep.Results[0].Status != StatusFailed || rep.Results[1].Status != StatusSaved {
		t.Errorf("results %+v", rep.Results)
	}
	f.assertNoTemp(t)
}

func TestSaveCancelled(t *testing.T) {
	f := newFixture(t, map[string]string{"a": "a"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.ws.Save(ctx, f.src, []string{"a"}, SaveOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled save: %v", err)
	}
}

func TestRel(t *testing.T) {
	ws := &Workspace{dir: "/w"}
	for in, want := range map[string]string{
		"a/b": "a/b", "/w/a/b": "a/b", "a/./b": "a/b", ".": ".", "/w": ".", "deliverables": "deliverables",
		"file:///w/a/b": "a/b", "file:///w/My%20docs/wf.yaml": "My docs/wf.yaml", "file://localhost/w/a": "a",
	} {
		if got, err := ws.Rel(in); err != nil || got != want {
			t.Errorf("Rel(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "../x", "/etc", "/w/../x", "a/../../x", "a\x00", "file:///etc/passwd", "file:///w/../x", "untitled:Untitled-1"} {
		if got, err := ws.Rel(in); !errors.Is(err, ErrPathNotAllowed) {
			t.Errorf("Rel(%q) = %q, %v; want ErrPathNotAllowed", in, got, err)
		}
	}
}

func TestCheckNameAcceptsUnicode(t *testing.T) {
	for _, ok := range []string{"résumé.md", "日本語/ファイル.txt", "docs/übersicht.md", "a b/c d.txt", "CONSOLE.md", "con-fig.txt"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q) = %v", ok, err)
		}
	}
}

// A name is refused when JSON could not carry it back (not UTF-8), and
// when Windows could not hold it.
func TestCheckNameRefuses(t *testing.T) {
	for bad, says := range map[string]string{"bad\xff.md": "not valid UTF-8", "t/CON.txt": "reserved device name", "COM0": "reserved device name", "a./b": "ends with a dot"} {
		if err := CheckName(bad); !errors.Is(err, ErrPathNotAllowed) || !strings.Contains(err.Error(), says) {
			t.Errorf("CheckName(%q) = %v, want it refused: %s", bad, err, says)
		}
	}
}

func TestParseConflict(t *testing.T) {
	for in, want := range map[string]Conflict{"": KeepBoth, "keep-both": KeepBoth, "overwrite": Overwrite, "skip": Skip} {
		if got, err := ParseConflict(in); err != nil || got != want {
			t.Errorf("ParseConflict(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseConflict("replace"); err == nil || !strings.Contains(err.Error(), "keep-both, overwrite or skip") {
		t.Errorf("unknown policy: %v", err)
	}
}

// Whatever a name is, saving it writes nothing outside the workspace.
func FuzzSave(f *testing.F) {
	for _, s := range []string{"a.txt", "../x", "a/../../x", "/etc/passwd", "CON", "a\x00b", "d/e/f.md", "..", "x/./y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		fx := newFixture(t, map[string]string{"a.txt": "a"})
		// Plant the fuzzed name in the source where the filesystem allows.
		if CheckName(name) == nil {
			write(t, filepath.Join(fx.src, filepath.FromSlash(name)), "fuzz")
		}
		before := fx.snapshotOutside(t)
		rep, err := fx.ws.Save(context.Background(), fx.src, []string{name, "a.txt"}, SaveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if st := rep.Results[1].Status; st != StatusSaved && st != StatusUnchanged {
			t.Errorf("a good file after %q: %+v", name, rep.Results[1])
		}
		fx.assertOutsideUntouched(t, before)
		for p := range snapshot(t, fx.ws.Dir()) {
			if p != "." && !strings.HasPrefix(p, "deliverables") {
				t.Errorf("%q wrote %s outside the target folder", name, p)
			}
		}
		if CheckName(name) != nil && !slices.Contains([]string{StatusFailed}, rep.Results[0].Status) {
			t.Errorf("%q was refused by CheckName but saved: %+v", name, rep.Results[0])
		}
	})
}

func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"a.txt", "../x", "CON.txt", "a\\b", "x:y", "ok/dir/file.md", "résumé"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if CheckName(name) != nil {
			return
		}
		// An accepted name is relative, clean and made of plain elements.
		if filepath.IsAbs(name) || strings.Contains(name, "\\") || strings.ContainsRune(name, 0) {
			t.Errorf("accepted %q", name)
		}
		for _, e := range strings.Split(name, "/") {
			if e == "" || e == "." || e == ".." {
				t.Errorf("accepted %q with element %q", name, e)
			}
		}
	})
}

// Saving again what an earlier save kept as a numbered copy finds that
// copy: identical copies do not pile up, and the report says so.
func TestSaveAgainFindsItsNumberedCopy(t *testing.T) {
	f := newFixture(t, map[string]string{"t/index.html": "new"})
	write(t, filepath.Join(f.ws.Dir(), "deliverables/t/index.html"), "edited by hand")
	var got []string
	for range 3 {
		rep, err := f.ws.Save(context.Background(), f.src, []string{"t/index.html"}, SaveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rep.Results[0].Status+" "+rep.Results[0].SavedAs)
		if rep.Saved != 1 || rep.Results.StatusCounts()[rep.Results[0].Status] != 1 {
			t.Errorf("report %+v", rep)
		}
	}
	want := []string{"renamed deliverables/t/index (1).html", "unchanged deliverables/t/index (1).html", "unchanged deliverables/t/index (1).html"}
	if !slices.Equal(got, want) {
		t.Errorf("three saves: %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(f.ws.Dir(), "deliverables/t/index (2).html")); err == nil {
		t.Error("an identical copy piled up")
	}
	f.assertNoTemp(t)
}
