package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// notifyStop is ctx, done when the sidecar is asked to stop, on every OS:
// os.Interrupt is Ctrl-C, and on Windows Ctrl-Break too; SIGTERM is kill's
// default, and on Windows the console closing, logoff and shutdown, which
// Go delivers as SIGTERM while it holds the process for the few seconds
// Windows allows, time enough to cancel; SIGHUP is a terminal hanging up
// (Windows never sends it).
func notifyStop(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
}
