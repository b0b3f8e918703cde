//go:build unix || windows

package launcher

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
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

// startCommand starts the command with the launcher's standard streams;
// when it cannot, it returns the exit code a shell gives (127: not found,
// 126: not runnable).
func startCommand(w wire, argv []string) (*exec.Cmd, int) {
	cmd := exec.Command(w.Path)
	cmd.Args = argv
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "start %s: %v\n", w.Path, err)
		if errors.Is(err, os.ErrNotExist) {
			return nil, 127
		}
		return nil, 126
	}
	return cmd, 0
}
