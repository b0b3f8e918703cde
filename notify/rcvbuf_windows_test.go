package notify

import "syscall"

// setRcvbuf sets a socket's receive buffer; a socket is a Handle on Windows.
func setRcvbuf(fd uintptr, n int) {
	_ = syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
}
