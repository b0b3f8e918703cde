//go:build !unix

package llm

// oNonblock is 0 where there are no FIFOs to block on (see open_unix.go).
const oNonblock = 0
