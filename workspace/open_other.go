//go:build !unix

package workspace

// openNonblock: elsewhere no file a worker can create blocks an open.
const openNonblock = 0
