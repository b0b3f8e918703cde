package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The retention comes from the user's configuration; the workspace's may
// keep more, never less.
func TestLoadRetention(t *testing.T) {
	for _, tc := range []struct {
		name, user, workspace string
		keep                  int
		maxAge                time.Duration
		warns                 bool
	}{
		{name: "default", keep: 200, maxAge: 30 * 24 * time.Hour},
		{name: "user", user: "history: {keep: 50, maxAge: 7d}", keep: 50, maxAge: 7 * 24 * time.Hour},
		{name: "user keeps all by age", user: "history: {keep: 10, maxAge: \"0\"}", keep: 10},
		{name: "workspace keeps more", workspace: "history: {keep: 500, maxAge: 90d}", keep: 500, maxAge: 90 * 24 * time.Hour},
		{name: "workspace keeps less", user: "history: {keep: 50}", workspace: "history: {keep: 5, maxAge: 1d}", keep: 50, maxAge: 30 * 24 * time.Hour, warns: true},
		{name: "workspace garbled", workspace: "history: {keep: many}", keep: 200, maxAge: 30 * 24 * time.Hour, warns: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home, ws := t.TempDir(), t.TempDir()
			t.Setenv("XDG_CONFIG_HOME", home)
			if tc.user != "" {
				writeConfig(t, filepath.Join(home, "mimir", "config.yaml"), tc.user)
			}
			if tc.workspace != "" {
				writeConfig(t, WorkspaceConfigFile(ws), tc.workspace)
			}
			rule, warnings, err := LoadRetention(ws)
			if err != nil {
				t.Fatal(err)
			}
			if rule.Keep != tc.keep || rule.OlderThan != tc.maxAge || !rule.Both || !rule.KeepInterrupted {
				t.Errorf("retention %+v, want keep %d, maxAge %v, whichever keeps more", rule, tc.keep, tc.maxAge)
			}
			if (len(warnings) > 0) != tc.warns {
				t.Errorf("warnings %q", warnings)
			}
		})
	}
	t.Run("user garbled", func(t *testing.T) {
		home := t.TempDir()
		t.Setenv("XDG_CONFIG_HOME", home)
		writeConfig(t, filepath.Join(home, "mimir", "config.yaml"), "history: {keep: -3}")
		if _, _, err := LoadRetention(t.TempDir()); err == nil || !strings.Contains(err.Error(), "history.keep") {
			t.Errorf("a negative keep: %v", err)
		}
	})
}

func TestPruneRuleString(t *testing.T) {
	if got := DefaultRetention().String(); got != "the last 200 executions or those of the last 30 days, whichever keeps more" {
		t.Errorf("default retention says %q", got)
	}
}
