package journal

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/windows"

	"github.com/mimir-sidecar/mimir-sidecar/internal/statedir"
)

// lockedByte is the one byte of journal.lock that is locked, far past the
// pid the file holds: Windows locks are mandatory, and a lock over the pid
// would keep a second sidecar from reading whom to name.
const lockedByte = 1 << 62

// lockJournal takes the journal for this process with LockFileEx; Windows
// drops the lock with the process, however it ends, so a crashed sidecar
// never blocks the next. (Go opens files uninheritable, so no child of
// the sidecar can hold it past the sidecar.)
func lockJournal(state *statedir.Dir) (*os.File, error) {
	// Through the state folder: a link planted at journal.lock is refused,
	// never opened (and truncated) in its target's place.
	f, err := state.OpenFile(lockFile, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock journal: %w", err)
	}
	ol := lockRange()
	err = windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) || errors.Is(err, windows.ERROR_IO_PENDING) {
		f.Close()
		return nil, fmt.Errorf("%w (pid %s)", ErrJournalBusy, lockHolder(state))
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock journal: %w", err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}

func lockRange() *windows.Overlapped {
	return &windows.Overlapped{Offset: uint32(lockedByte & 0xffffffff), OffsetHigh: uint32(lockedByte >> 32)}
}

func unlockJournal(_ *statedir.Dir, f *os.File) {
	if f != nil {
		_ = windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, lockRange())
		_ = f.Close()
	}
}
