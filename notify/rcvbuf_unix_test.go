//go:build unix

package notify

import "syscall"

// setRcvbuf sets a socket's receive buffer; a socket is an int on Unix.
func setRcvbuf(fd uintptr, n int) {
	_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
}
