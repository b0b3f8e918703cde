package journal

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// watchingSink records what the journal hands on and what it reports.
type watchingSink struct {
	mu        sync.Mutex
	seen      []uint64
	want      uint64
	reached   chan struct{} // closed when the event with seq want arrives
	failures  []error
	failed    chan struct{} // closed at the first failure
	recovered int
}

func (s *watchingSink) Emit(ev engine.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = append(s.seen, ev.Seq)
	if ev.Seq == s.want {
		close(s.reached)
	}
}

func (s *watchingSink) JournalFailed(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, err)
	if len(s.failures) == 1 {
		close(s.failed)
	}
}

func (s *watchingSink) JournalRecovered() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recovered++
}

// smallDisk mounts a tmpfs of size bytes, or skips the test where that is
// not allowed.
func smallDisk(t *testing.T, size string) string {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (needs root): %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, 0) })
	return dir
}

// fill writes a file until the filesystem is full.
func fill(t *testing.T, path string) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
}

// TestJournalFullDisk: on a full disk no listener sees an event the
// journal lacks, the watcher hears of it once, and once space is freed the
// held events are written and handed on, in order.
func TestJournalFullDisk(t *testing.T) {
	disk := smallDisk(t, "4m")
	j, _, err := Open(filepath.Join(disk, ".mimir"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	const n = 20
	sink := &watchingSink{want: n, reached: make(chan struct{}), failed: make(chan struct{})}
	j.Start(sink)
	output := strings.Repeat("o", 64<<10)
	event := func(seq uint64) engine.Event {
		return engine.Event{Seq: seq, ExecutionID: "ex_01JD0000000000000000000F00", Event: engine.EventWorkerComplete, Time: time.Now().UTC(), Data: engine.EventData{TaskID: "t", Output: output}}
	}
	if err := appendEvent(j, event(1), &engine.Record{ID: "ex_01JD0000000000000000000F00", Workflow: "w", Path: "w.yaml", Dir: disk, Source: []byte("w")}); err != nil {
		t.Fatal(err)
	}
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}

	filler := filepath.Join(disk, "filler")
	fill(t, filler)
	for seq := uint64(2); seq <= n; seq++ {
		if err := appendEvent(j, event(seq), nil); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-sink.failed:
	case <-sink.reached:
	case <-time.After(time.Minute):
		t.Fatal("a full disk neither failed the journal nor let its events through")
	}
	journaled := func() map[uint64]bool {
		got, err := j.Since(context.Background(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		m := map[uint64]bool{}
		for _, e := range got {
			m[e.Seq] = true
		}
		return m
	}
	in := journaled()
	sink.mu.Lock()
	seen := append([]uint64(nil), sink.seen...)
	failures := len(sink.failures)
	sink.mu.Unlock()
	for _, seq := range seen {
		if !in[seq] {
			t.Fatalf("listeners saw event %d, which the journal does not hold (it holds %d events)", seq, len(in))
		}
	}
	if failures == 0 {
		t.Fatal("the journal did not report that it cannot write")
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sink.reached:
	case <-time.After(time.Minute):
		t.Fatal("the held events were not written once the disk had space")
	}
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
	in = journaled()
	sink.mu.Lock()
	defer sink.mu.Unlock()
	for seq := uint64(1); seq <= n; seq++ {
		if !in[seq] || sink.seen[seq-1] != seq {
			t.Fatalf("after recovery: journal has %d: %v, listeners saw %v", seq, in[seq], sink.seen)
		}
	}
	if len(sink.failures) < 1 || sink.recovered != 1 {
		t.Errorf("watcher told of %d failures and %d recoveries, want at least 1 and 1", len(sink.failures), sink.recovered)
	}
}
