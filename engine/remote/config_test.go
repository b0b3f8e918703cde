package remote

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The workspace's configuration may name the server and the prefix; the
// credentials, a token's variable and the CAs come from the user's alone.
func TestWorkspaceConfigNamesNoCredentials(t *testing.T) {
	user, ws := t.TempDir(), t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", user)
	t.Setenv("HOME", t.TempDir())
	os.MkdirAll(filepath.Join(user, "mimir"), 0o755)
	os.WriteFile(filepath.Join(user, "mimir", "config.yaml"), []byte("cluster:\n  nats: nats://user:4222\n  credentials: /home/me/me.creds\n"), 0o600)
	os.MkdirAll(filepath.Join(ws, ".mimir"), 0o755)
	os.WriteFile(filepath.Join(ws, ".mimir", "config.yaml"), []byte("cluster:\n  nats: nats://team:4222\n  tokenEnv: AWS_SECRET_ACCESS_KEY\n  ca: /etc/evil.pem\n"), 0o644)

	c, warnings, err := LoadConfig(ws, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if c.URL != "nats://team:4222" || c.Credentials != "/home/me/me.creds" || c.TokenEnv != "" || c.CA != "" {
		t.Errorf("config %+v", c)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "ignored") {
		t.Errorf("warnings %q", warnings)
	}
	if c.Prefix != DefaultPrefix(ws) || !validPrefix.MatchString(c.Prefix) {
		t.Errorf("prefix %q", c.Prefix)
	}
	c, _, _ = LoadConfig(ws, Config{URL: "nats://flag:4222", Prefix: "mine"})
	if c.URL != "nats://flag:4222" || c.Prefix != "mine" {
		t.Errorf("flags do not win: %+v", c)
	}
}

func TestDefaultPrefixDiffersPerWorkspace(t *testing.T) {
	a, b := DefaultPrefix("/home/a/project"), DefaultPrefix("/home/b/project")
	if a == b || !validPrefix.MatchString(a) || !strings.HasPrefix(a, "mimir-project-") {
		t.Errorf("prefixes %q and %q", a, b)
	}
}

// An input path the sidecar sent lands only in the attempt's folders.
func TestInputPathsStayInTheAttemptsFolders(t *testing.T) {
	for p, want := range map[string]string{
		"task/a/b.txt":         "staging/t/a/b.txt",
		"deps/d/x.md":          "staging/d/x.md",
		"workflow/scripts/s":   "workflow/scripts/s",
		"deps/t/x":             "",
		"deps/../x":            "",
		"other/x":              "",
		"task/../../etc/x":     "",
		"/task/x":              "",
		"deps/bad id/x":        "",
		"workflow/.git/config": "workflow/.git/config",
	} {
		got, err := inputPath(p, "t")
		if (err == nil) != (want != "") || got != want {
			t.Errorf("inputPath(%q) = %q, %v; want %q", p, got, err, want)
		}
	}
}
