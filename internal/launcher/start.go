//go:build (unix && !linux) || windows

package launcher

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
)

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
