//go:build unix

package llm

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The workspace's .mimir/config.yaml is read as every file in the state
// folder is: a link (here to a file of the user's whose text a parse error
// would echo) and a named pipe (which a plain open waits on for ever) are
// refused at once, with a message that names the file and says what to do.
func TestWorkspaceConfigIsNotFollowedOrWaitedOn(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	secret := filepath.Join(t.TempDir(), "secret")
	mustWrite(t, secret, "token: SECRET-0123 [unclosed")
	for name, plant := range map[string]func(string) error{
		"link": func(p string) error { return os.Symlink(secret, p) },
		"pipe": func(p string) error { return syscall.Mkfifo(p, 0o644) },
	} {
		t.Run(name, func(t *testing.T) {
			ws := t.TempDir()
			if err := os.Mkdir(filepath.Join(ws, ".mimir"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := plant(filepath.Join(ws, ".mimir", "config.yaml")); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { _, err := LoadConfig(ws); done <- err }()
			select {
			case err := <-done:
				if err == nil || strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "config.yaml") || !strings.Contains(err.Error(), "remove") {
					t.Errorf("LoadConfig = %v; want a refusal naming config.yaml, saying to remove it, without the linked file's text", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("LoadConfig waits on the pipe")
			}
		})
	}
}
