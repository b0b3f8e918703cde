package launcher

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/internal/sandbox"
)

// The cost of the launcher per attempt: `true` run through it against
// `true` run directly (as the engine did before), each to its end.
func BenchmarkStart(b *testing.B) {
	dir := b.TempDir()
	b.Run("launcher", func(b *testing.B) { benchLaunch(b, Spec{Argv: []string{"true"}, Dir: dir, Env: os.Environ()}) })
	b.Run("launcher+sandbox", func(b *testing.B) {
		pol := &sandbox.Policy{Mode: sandbox.TaskWrite, Dir: dir, Temp: b.TempDir(), BestEffort: true}
		benchLaunch(b, Spec{Argv: []string{"true"}, Dir: dir, Env: os.Environ(), Sandbox: pol})
	})
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			cmd := exec.Command("true")
			cmd.Dir = dir
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchLaunch(b *testing.B, s Spec) {
	for b.Loop() {
		cmd, err := Command(context.Background(), s)
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		Finish(cmd)
	}
}
