//go:build unix

package llm

import "syscall"

// oNonblock makes opening a FIFO return at once instead of waiting for a
// writer (or reader) that may never come, so that the file's type can be
// checked and refused; for regular files it changes nothing.
const oNonblock = syscall.O_NONBLOCK
