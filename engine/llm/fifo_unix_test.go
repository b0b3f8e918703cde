//go:build unix

package llm

import (
	"os"
	"syscall"
	"testing"
)

// mkfifo makes a named pipe at path. Cleanup opens it read-write, which
// never blocks, so a tool call stuck opening it (the bug the tests guard
// against) is released rather than left hanging.
func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if f, err := os.OpenFile(path, os.O_RDWR, 0); err == nil {
			f.Close()
		}
	})
}
