//go:build unix

package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// Only regular files are deliverables. A named pipe would block the walk
// (opening it waits for a writer: this test would hang), and a link, to a
// file or a folder, inside or outside, is never followed.
func TestCollectDeliverablesOnlyRegularFiles(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "staging")
	secret := filepath.Join(base, "secret")
	for _, d := range []string{filepath.Join(dir, "docs"), secret} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{
		filepath.Join(dir, "a.md"):         "a",
		filepath.Join(dir, "docs", "b.md"): "b",
		filepath.Join(secret, "key.md"):    "secret",
	} {
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.md"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir) // a socket's path is limited to about 100 bytes
	l, err := net.Listen("unix", "sock.md")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for link, to := range map[string]string{
		"out.md":      filepath.Join(secret, "key.md"), // a file outside
		"outdir":      secret,                          // a folder outside
		"in.md":       "a.md",                          // a file inside
		"docs/up":     "..",                            // a folder inside
		"dev.md":      "/dev/zero",                     // a device
		"dangling.md": "nowhere",
	} {
		if err := os.Symlink(to, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := collectDeliverables(dir, "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, d := range got {
		paths = append(paths, d.Path)
	}
	if want := []string{"t/a.md", "t/docs/b.md"}; !slices.Equal(paths, want) {
		t.Errorf("deliverables %v, want %v", paths, want)
	}
	if sum := sha256.Sum256([]byte("a")); got[0].Size != 1 || got[0].SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("a.md: %+v", got[0])
	}
}

// A name listed as a regular file but swapped for a pipe before it is read
// is skipped, not waited on.
func TestHashFileRefusesSwappedPipe(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "p"), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if _, _, err := hashFile(root, "p"); !errors.Is(err, errNotRegular) {
		t.Errorf("hashFile of a pipe: %v, want errNotRegular", err)
	}
}

// A name that is not UTF-8 could be listed but never read or saved by the
// listed path (JSON turns its bad bytes into U+FFFD): collecting refuses
// it, naming it escaped, so the task says why instead of delivering a file
// nobody can reach. Files no pattern selects do not matter.
func TestCollectDeliverablesRefusesNamesNotUTF8(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"ok.md", "bad\xff.md", "skip\xfe.log"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Skipf("this filesystem does not hold names that are not UTF-8: %v", err)
		}
	}
	_, err := collectDeliverables(dir, "t", []string{"*.md"})
	if err == nil || !strings.Contains(err.Error(), `"bad\xff.md"`) || !strings.Contains(err.Error(), "UTF-8") {
		t.Fatalf("collect: %v, want the name refused, quoted and escaped", err)
	}
	if err := os.Remove(filepath.Join(dir, "bad\xff.md")); err != nil {
		t.Fatal(err)
	}
	got, err := collectDeliverables(dir, "t", []string{"*.md"})
	if err != nil || len(got) != 1 || got[0].Path != "t/ok.md" {
		t.Errorf("collect without it: %v, %v", got, err)
	}
}
