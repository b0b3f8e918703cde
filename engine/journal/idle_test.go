package journal

import (
	"runtime"
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// An open journal with nothing to write holds little memory: every
// sidecar keeps one open from initialize on, most of the time idle. Its
// queue once held journalQueue events by value, 2 MB made up front.
func TestIdleJournalHoldsLittleMemory(t *testing.T) {
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	j := openJournal(t, t.TempDir())
	j.Start(engine.SinkFunc(func(engine.Event) {}))
	held := int64(heap()) - int64(before)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	const limit = 512 << 10
	if held > limit {
		t.Errorf("an idle journal holds %d KB of heap; want under %d KB", held>>10, limit>>10)
	}
	t.Logf("an idle journal holds %d KB of heap", held>>10)
}
