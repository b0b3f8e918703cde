package rpc

import (
	"os"
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/internal/launcher"
)

// TestMain lets this test binary serve as the launcher of the commands its
// tests run (see launcher.Main).
func TestMain(m *testing.M) {
	launcher.Main()
	os.Exit(m.Run())
}
