package engine

import (
	"os"
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/internal/launcher/launchertest"
)

// TestMain lets this test binary serve as the launcher of the commands its
// tests run (see launchertest.Init).
func TestMain(m *testing.M) {
	launchertest.Init()
	os.Exit(m.Run())
}
