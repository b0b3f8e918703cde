//go:build unix

package engine

import "syscall"

// openNonblock is added when opening a file that should be regular: if it
// was swapped for a named pipe or a device after the folder was listed, the
// open returns at once instead of waiting for a writer, and the type check
// that follows skips it. On a regular file it changes nothing.
const openNonblock = syscall.O_NONBLOCK
