package launcher

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Subreaper makes the sidecar the reaper of what its launchers leave: a
// launcher killed outright (by SIGKILL, or past Cmd.WaitDelay) cannot kill
// its command's processes, which then reparent to the sidecar, and are
// killed here.
//
// An orphan is told from the sidecar's own children (its launchers, and
// the children os/exec has forked but not yet started) by its session: a
// launcher starts its command in a new session, and no process can join
// another session afterwards, so everything below a command is in a
// session other than the sidecar's, and every launcher in the sidecar's.
// Orphans are waited for by their pid only, so no wait of os/exec's is
// ever taken.
type Subreaper struct {
	sigs chan os.Signal
	stop chan struct{}
	done chan struct{}
}

// StartSubreaper makes this process a child subreaper and kills the
// orphans that reparent to it, until Stop.
func StartSubreaper() (*Subreaper, error) {
	if err := setSubreaper(); err != nil {
		return nil, err
	}
	self, ok := readStat(os.Getpid())
	if !ok {
		return nil, fmt.Errorf("read the sidecar's session from /proc/%d/stat", os.Getpid())
	}
	sid := self.session
	s := &Subreaper{sigs: make(chan os.Signal, 1), stop: make(chan struct{}), done: make(chan struct{})}
	// Orphans reparent here when a process above them dies; the death of
	// one of the sidecar's children (a launcher, or an orphan killed here)
	// is what brings them, and it comes with a SIGCHLD.
	signal.Notify(s.sigs, syscall.SIGCHLD)
	go func() {
		defer close(s.done)
		for {
			killOrphans(sid)
			select {
			case <-s.sigs:
			case <-s.stop:
				return
			}
		}
	}()
	return s, nil
}

// Stop stops killing orphans.
func (s *Subreaper) Stop() {
	signal.Stop(s.sigs)
	close(s.stop)
	<-s.done
}

// killOrphans kills and reaps the children of this process that are not
// in its session. One still dying is reaped on the SIGCHLD its death
// sends.
func killOrphans(sid int) {
	for _, p := range children() {
		st, ok := readStat(p)
		if !ok || st.session == sid {
			continue
		}
		_ = syscall.Kill(p, syscall.SIGKILL)
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(p, &ws, syscall.WNOHANG, nil)
	}
}
