//go:build unix || windows

package launcher

import (
	"encoding/json"
	"fmt"
	"os"
)

// Main runs the launcher when this process is one, and never returns
// then; otherwise it returns at once. Call it first thing in main and in
// the TestMain of every package whose tests start commands.
func Main() {
	enc, ok := os.LookupEnv(envKey)
	if !ok {
		return
	}
	os.Exit(launch(enc, os.Args[1:]))
}

// readWire reads the launch options the sidecar passed, and takes them
// out of the environment the command inherits.
func readWire(enc string, argv []string) (wire, bool) {
	var w wire
	if err := json.Unmarshal([]byte(enc), &w); err != nil || len(argv) == 0 {
		fmt.Fprintf(os.Stderr, "mimir-sidecar launcher: bad launch options %q: %v\n", enc, err)
		return w, false
	}
	_ = os.Unsetenv(envKey)
	return w, true
}
