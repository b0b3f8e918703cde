// Package launchertest readies a test binary to start commands through
// internal/launcher, which runs them under a re-executed copy of the
// binary itself.
package launchertest

import (
	"os"

	"github.com/mimir-sidecar/mimir-sidecar/internal/launcher"
)

// Init is called first thing in TestMain. When this process is a launcher
// it runs the command and never returns. Otherwise it keeps the launchers
// it will start quick to exit: a race-detector build waits a second when
// it exits (GORACE's atexit_sleep_ms) for late reports, which would add a
// second to every command a test runs.
func Init() {
	launcher.Main()
	if _, set := os.LookupEnv("GORACE"); !set {
		_ = os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
}
