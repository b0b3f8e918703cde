//go:build !unix

package engine

import (
	"errors"
	"fmt"
	"os"
	"strconv"
)

// Without flock, an exclusively created lock file stands in; a crashed
// sidecar's file names a pid that is gone, and is taken over.
func lockJournal(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		pid, _ := strconv.Atoi(lockHolder(path))
		if p, ferr := os.FindProcess(pid); pid > 0 && ferr == nil && p != nil {
			return nil, fmt.Errorf("%w (pid %d)", ErrJournalBusy, pid)
		}
		os.Remove(path)
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	}
	if err != nil {
		return nil, fmt.Errorf("lock journal: %w", err)
	}
	_, _ = f.WriteString(strconv.Itoa(os.Getpid()) + "\n")
	return f, nil
}

func unlockJournal(f *os.File) {
	if f != nil {
		name := f.Name()
		_ = f.Close()
		_ = os.Remove(name)
	}
}
