package rpc

import (
	"os"
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/internal/launcher/launchertest"
	"github.com/mimir-sidecar/mimir-sidecar/internal/ssebench"
)

// TestMain lets this test binary serve as the launcher of the commands its
// tests run (see launchertest.Init), and as the SSE benchmarks' client
// process (see ssebench.ClientsMain).
func TestMain(m *testing.M) {
	ssebench.ClientsMain()
	launchertest.Init()
	os.Exit(m.Run())
}
