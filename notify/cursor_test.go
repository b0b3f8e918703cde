package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// readAll reads the cursor until it has nothing more, and returns the seqs
// and the gaps it reported, as text: "1 2 [gap 2→7] 7 8".
func readAll(t *testing.T, c *Cursor) string {
	t.Helper()
	var out []string
	for {
		evs, gap, err := c.Read(context.Background(), nil, 3)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if gap != nil {
			out = append(out, fmt.Sprintf("[gap %d→%d]", gap.After, gap.ResumesAt))
		}
		if len(evs) == 0 {
			return strings.Join(out, " ")
		}
		for _, ev := range evs {
			out = append(out, fmt.Sprint(ev.Seq))
		}
	}
}

// Every cursor sees every event exactly once and in order while a
// publisher runs flat out.
func TestCursorsSeeEverythingInOrder(t *testing.T) {
	const n = 20000
	h := NewHub(n) // big enough that nobody is lapped
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			c := NewCursor(ctx, h, nil, 0)
			var want uint64 = 1
			for want <= n {
				evs, gap, err := c.Next(ctx, nil, 64)
				if err != nil || gap != nil {
					errs <- fmt.Errorf("at %d: gap %v, err %v", want, gap, err)
					return
				}
				for _, ev := range evs {
					if ev.Seq != want {
						errs <- fmt.Errorf("got seq %d, want %d", ev.Seq, want)
						return
					}
					want++
				}
			}
		})
	}
	publishN(h, 1, n)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCursorDrainsThenReportsClose(t *testing.T) {
	h := NewHub(8)
	publishN(h, 1, 3)
	h.Close()
	c := NewCursor(context.Background(), h, nil, 0)
	evs, _, err := c.Next(context.Background(), nil, 10)
	if err != nil || fmt.Sprint(seqs(evs)) != "[1 2 3]" {
		t.Fatalf("Next on a closed hub = %v, %v; want [1 2 3]", seqs(evs), err)
	}
	if _, _, err := c.Next(context.Background(), nil, 10); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next once drained = %v, want ErrClosed", err)
	}
}

func TestCursorWaitHonoursContext(t *testing.T) {
	h := NewHub(8)
	ctx, cancel := context.WithCancel(context.Background())
	c := NewCursor(ctx, h, nil, 0)
	cancel()
	if _, _, err := c.Next(ctx, nil, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next with a cancelled context = %v", err)
	}
}

// Lapped by the ring, a cursor reads what it missed from the backlog, then
// goes on in the hub; without a backlog, or when the backlog lacks them,
// it reports the gap once, with the first event after it.
func TestCursorLapped(t *testing.T) {
	cases := []struct {
		name    string
		backlog Backlog
		want    string
	}{
		{"no backlog", nil, "[gap 2→7] 7 8 9 10"},
		{"backlog has them", newJournal(1, 10), "3 4 5 6 7 8 9 10"},
		{"backlog behind the hub", newJournal(1, 4), "3 4 [gap 4→7] 7 8 9 10"},
		{"backlog fails", &journal{err: errors.New("disk I/O error")}, "[gap 2→7] 7 8 9 10"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHub(4)
			c := NewCursor(context.Background(), h, tc.backlog, 2)
			publishN(h, 1, 10) // keeps 7..10
			if got := readAll(t, c); got != tc.want {
				t.Errorf("read %q, want %q", got, tc.want)
			}
		})
	}
}

// A gap says why the events are gone.
func TestCursorGapReason(t *testing.T) {
	h := NewHub(4)
	publishN(h, 1, 10)
	_, gap, _ := NewCursor(context.Background(), h, &journal{err: errors.New("disk I/O error")}, 2).Read(context.Background(), nil, 10)
	if gap == nil || !strings.Contains(gap.String(), "the journal cannot be read: disk I/O error") || !strings.Contains(gap.String(), "continues at 7") {
		t.Errorf("gap %v", gap)
	}
}

// A resume from a seq the sidecar never reached (its seqs started over)
// starts from the beginning after a gap; one the backlog knows replays it.
func TestCursorResume(t *testing.T) {
	h := NewHub(4)
	publishN(h, 1, 3)
	if got := readAll(t, NewCursor(context.Background(), h, nil, 50)); got != "[gap 50→1] 1 2 3" {
		t.Errorf("from the future, no backlog: %q", got)
	}
	if got := readAll(t, NewCursor(context.Background(), h, newJournal(1, 3), 50)); got != "[gap 50→1] 1 2 3" {
		t.Errorf("from the future, with a backlog: %q", got)
	}
	// After a restart: an empty hub, a journal that has what came before.
	empty := NewHub(4)
	c := NewCursor(context.Background(), empty, newJournal(1, 10), 7)
	if got := readAll(t, c); got != "8 9 10" {
		t.Errorf("after a restart: %q", got)
	}
	publishN(empty, 11, 12)
	if got := readAll(t, c); got != "11 12" {
		t.Errorf("then live: %q", got)
	}
}

// An envelope with line breaks (JSON need not be on one line) becomes one
// data: line per line, as SSE clients join them back.
func TestFrameSplitsLines(t *testing.T) {
	ev := Event{Seq: 3, Name: "e", JSON: []byte("{\n\"a\":1\r\n}")}.framed()
	if string(ev.Frame) != "id: 3\nevent: e\ndata: {\ndata: \"a\":1\ndata: }\n\n" {
		t.Errorf("frame %q", ev.Frame)
	}
}
