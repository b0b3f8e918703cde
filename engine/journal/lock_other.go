//go:build !unix && !windows

package journal

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/mimir-sidecar/mimir-sidecar/internal/statedir"
)

// Without flock, an exclusively created lock file stands in; a crashed
// sidecar's file names a pid that is gone, and is taken over.
func lockJournal(state *statedir.Dir) (*os.File, error) {
	f, err := state.OpenFile(lockFile, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		pid, _ := strconv.Atoi(lockHolder(state))
		if p, ferr := os.FindProcess(pid); pid > 0 && ferr == nil && p != nil {
			return nil, fmt.Errorf("%w (pid %d)", ErrJournalBusy, pid)
		}
		_ = state.Remove(lockFile)
		f, err = state.OpenFile(lockFile, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	}
	if err != nil {
		return nil, fmt.Errorf("lock journal: %w", err)
	}
	_, _ = f.WriteString(strconv.Itoa(os.Getpid()) + "\n")
	return f, nil
}

func unlockJournal(state *statedir.Dir, f *os.File) {
	if f != nil {
		_ = f.Close()
		_ = state.Remove(lockFile)
	}
}
