package launcher

import (
	"context"
	"os"
	"os/exec"
	"testing"
)

// The cost of the launcher per attempt: `true` run through it against
// `true` run directly (as the engine did before), each to its end.
func BenchmarkStart(b *testing.B) {
	dir := b.TempDir()
	b.Run("launcher", func(b *testing.B) {
		for b.Loop() {
			cmd, err := Command(context.Background(), Spec{Argv: []string{"true"}, Dir: dir, Env: os.Environ()})
			if err != nil {
				b.Fatal(err)
			}
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
			Finish(cmd)
		}
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
