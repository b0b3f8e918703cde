//go:build !unix

package engine

// openNonblock: elsewhere no file a worker can create blocks an open.
const openNonblock = 0
