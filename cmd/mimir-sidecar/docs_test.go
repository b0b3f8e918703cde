package main

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// docs/cli.md is the commands' own help, generated from their flag
// definitions: this test fails when they drift apart. To regenerate it:
//
//	MIMIR_UPDATE_DOCS=1 go test ./cmd/mimir-sidecar -run TestCLIDocs
func TestCLIDocs(t *testing.T) {
	help := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = t.TempDir()
		// Defaults that come from the environment are documented as they
		// are without it.
		cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "MIMIR_") })
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v", strings.Join(args, " "), err)
		}
		return out.String()
	}
	overview := help("help")
	var b strings.Builder
	b.WriteString("# The mimir-sidecar command line\n\n")
	b.WriteString("<!-- Generated from the commands' flag definitions by TestCLIDocs in cmd/mimir-sidecar; do not edit.\n")
	b.WriteString("     Regenerate: MIMIR_UPDATE_DOCS=1 go test ./cmd/mimir-sidecar -run TestCLIDocs -->\n\n")
	b.WriteString("Exit status: 0 on success (and for `-h`/`--help`, which print on stdout), 1 when the command failed,\n")
	b.WriteString("2 for a mistake on the command line (nothing was run), 130 when interrupted.\n\n")
	b.WriteString("```\n" + overview + "```\n")
	// Every command the overview lists, but those without flags.
	for _, m := range regexp.MustCompile(`(?m)^  mimir-sidecar (\[?\w+\]?)`).FindAllStringSubmatch(overview, -1) {
		name := strings.Trim(m[1], "[]")
		if name == "version" || name == "help" {
			continue
		}
		b.WriteString("\n## " + name + "\n\n```\n" + help(name, "-h") + "```\n")
	}
	const path = "../../docs/cli.md"
	if os.Getenv("MIMIR_UPDATE_DOCS") != "" {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(path)
	if err != nil || string(have) != b.String() {
		t.Errorf("docs/cli.md is not what the commands' help says (%v): regenerate it with MIMIR_UPDATE_DOCS=1 go test ./cmd/mimir-sidecar -run TestCLIDocs", err)
	}
}
