//go:build unix

package main

import (
	"io"
	"os"
	"syscall"
)

// pollable returns stdin in non-blocking mode under Go's poller, so that
// closing it interrupts a pending read: after exit the server can stop its
// read loop instead of waiting for an editor that may never close its end.
func pollable(in io.Reader) io.ReadCloser {
	f, ok := in.(*os.File)
	if !ok {
		if rc, ok := in.(io.ReadCloser); ok {
			return rc
		}
		return io.NopCloser(in)
	}
	if err := syscall.SetNonblock(int(f.Fd()), true); err != nil {
		return f
	}
	return os.NewFile(f.Fd(), f.Name())
}
