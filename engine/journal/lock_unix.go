//go:build unix

package journal

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/internal/statedir"
)

// lockJournal takes the journal for this process; the lock goes with the
// process, however it ends, so a crashed sidecar never blocks the next.
func lockJournal(state *statedir.Dir) (*os.File, error) {
	// Through the state folder: a link planted at journal.lock is refused,
	// never opened (and truncated) in its target's place.
	f, err := state.OpenFile(lockFile, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock journal: %w", err)
	}
	// A sidecar killed while it started a command leaves the lock with the
	// half-started child until that child execs (which closes the file), so
	// a lock whose holder is gone is waited for, briefly.
	deadline := time.Now().Add(2 * time.Second)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock journal: %w", err)
		}
		holder := lockHolder(state)
		if holderAlive(holder) || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("%w (pid %s)", ErrJournalBusy, holder)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}

// holderAlive reports whether the process that wrote pid into the lock
// file still exists ("unknown" counts as alive: do not wait on a guess).
func holderAlive(pid string) bool {
	n, err := strconv.Atoi(pid)
	if err != nil || n <= 0 {
		return true
	}
	return !errors.Is(syscall.Kill(n, 0), syscall.ESRCH)
}

func unlockJournal(_ *statedir.Dir, f *os.File) {
	if f != nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}
}
