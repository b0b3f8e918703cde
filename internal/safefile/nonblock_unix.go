//go:build unix

package safefile

import "syscall"

// nonblock makes opening a FIFO return at once instead of waiting for the
// other end; on a regular file it changes nothing.
const nonblock = syscall.O_NONBLOCK
