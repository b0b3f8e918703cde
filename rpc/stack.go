package rpc

// initializeStack is the room initialize needs on its goroutine's stack
// (reading the llm configuration, opening the journal's SQLite), measured:
// with it that stack ends at the 32 KB it reaches anyway, and no copy is
// made deeper down.
const initializeStack = 16 << 10

// growStack grows the calling goroutine's stack by initializeStack while
// few frames are on it. A goroutine's stack grows by copying, and each copy
// looks up every frame's layout in the binary's function tables; left to
// grow deep inside initialize, it walks the frames of the YAML decoder and
// of SQLite and pages in 0.8 MB of those tables, which stay resident for as
// long as the sidecar runs. Grown here, the copy walks the handful of
// frames above initialize and the deep calls find the room already there.
//
//go:noinline
func growStack(i int) byte {
	var pad [initializeStack]byte
	// Used through an index the compiler cannot know, so that the array
	// (and the frame that holds it) is kept.
	pad[i%len(pad)] = 1
	return pad[(i+1)%len(pad)]
}
