package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolveVersion(t *testing.T) {
	rev := []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}}
	for _, tc := range []struct {
		name    string
		stamped string
		bi      *debug.BuildInfo
		want    string
	}{
		{"stamped wins", "v1.2.3", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.9"}}, "v1.2.3"},
		{"go install @version", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "v1.4.0"},
		{"clone with VCS stamp", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261203140000-0123456789ab+dirty"}}, "v0.0.0-20261203140000-0123456789ab+dirty"},
		{"devel with revision", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: rev}, "devel-0123456789ab"},
		{"devel", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel"},
		{"no build info", "", nil, "devel"},
	} {
		if got := resolveVersion(tc.stamped, tc.bi); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// The version stamped at build time is what `--version`, `version` and
// initialize's serverInfo say.
func TestVersionStamped(t *testing.T) {
	stampedBin := filepath.Join(t.TempDir(), "mimir-sidecar")
	build := exec.Command("go", "build", "-ldflags=-X main.version=v9.8.7-test", "-o", stampedBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, arg := range []string{"--version", "version"} {
		out, err := exec.Command(stampedBin, arg).Output()
		if err != nil || strings.TrimSpace(string(out)) != "mimir-sidecar v9.8.7-test" {
			t.Errorf("mimir-sidecar %s: %q, %v", arg, out, err)
		}
	}
	p := startBinary(t, stampedBin, t.TempDir(), "--no-sse")
	info, _ := p.initialized["serverInfo"].(map[string]any)
	if info["name"] != "mimir-sidecar" || info["version"] != "v9.8.7-test" {
		t.Errorf("serverInfo %v", p.initialized["serverInfo"])
	}
}

// Unstamped, the binary still names its version (here the test binary's,
// built from this clone), never nothing.
func TestVersionUnstamped(t *testing.T) {
	out, err := exec.Command(bin, "--version").Output()
	if v, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "mimir-sidecar "); err != nil || !ok || v == "" {
		t.Errorf("mimir-sidecar --version: %q, %v", out, err)
	}
}
