//go:build !unix

package safefile

// nonblock is 0 where no file a worker can make blocks an open.
const nonblock = 0
