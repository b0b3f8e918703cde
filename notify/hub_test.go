package notify

import (
	"fmt"
	"testing"
)

func publishN(h *Hub, from, to uint64) {
	for s := from; s <= to; s++ {
		h.Append(Event{Seq: s, Name: "e", JSON: []byte(fmt.Sprint(s))})
	}
}

func seqs(evs []Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}

func TestReadFromCursor(t *testing.T) {
	h := NewHub(4)
	publishN(h, 1, 3)
	got, lapped := h.Read(nil, 1, 10)
	if lapped || fmt.Sprint(seqs(got)) != "[2 3]" {
		t.Fatalf("Read after 1 = %v lapped=%v, want [2 3] false", seqs(got), lapped)
	}
	got, _ = h.Read(nil, 3, 10)
	if len(got) != 0 {
		t.Fatalf("Read at the head = %v, want nothing", seqs(got))
	}
	got, _ = h.Read(nil, 0, 2)
	if fmt.Sprint(seqs(got)) != "[1 2]" {
		t.Fatalf("Read with max 2 = %v", seqs(got))
	}
}

func TestReadLappedWhenRingMovedOn(t *testing.T) {
	h := NewHub(4)
	publishN(h, 1, 10) // keeps 7..10
	got, lapped := h.Read(nil, 2, 10)
	if !lapped || fmt.Sprint(seqs(got)) != "[7 8 9 10]" {
		t.Fatalf("Read after 2 = %v lapped=%v, want [7 8 9 10] true", seqs(got), lapped)
	}
	got, lapped = h.Read(nil, 6, 10)
	if lapped || fmt.Sprint(seqs(got)) != "[7 8 9 10]" {
		t.Fatalf("Read after 6 = %v lapped=%v, want not lapped: 7 is the next event", seqs(got), lapped)
	}
}

func TestAppendIgnoresOldSeq(t *testing.T) {
	h := NewHub(4)
	publishN(h, 1, 2)
	h.Append(Event{Seq: 2})
	h.Append(Event{Seq: 1})
	if got, _ := h.Read(nil, 0, 10); len(got) != 2 {
		t.Fatalf("duplicate seqs were kept: %v", seqs(got))
	}
}

func TestPublishEncodesOnce(t *testing.T) {
	h := NewHub(8)
	if err := h.Publish(1, "ex_1", "task-start", map[string]int{"seq": 1}); err != nil {
		t.Fatal(err)
	}
	got, _ := h.Read(nil, 0, 1)
	if string(got[0].JSON) != `{"seq":1}` || got[0].ExecutionID != "ex_1" || got[0].Name != "task-start" {
		t.Fatalf("published %+v", got[0])
	}
	// The frame is built as the event enters, and the envelope is its data.
	if string(got[0].Frame) != "id: 1\nevent: task-start\ndata: {\"seq\":1}\n\n" {
		t.Fatalf("frame %q", got[0].Frame)
	}
	if err := h.Publish(2, "ex_1", "bad", func() {}); err == nil {
		t.Fatal("Publish of an unencodable value did not fail")
	}
}

// BenchmarkPublish is what the engine's every event costs the hub:
// encoding the envelope and appending it.
func BenchmarkPublish(b *testing.B) {
	h := NewHub(8192)
	type data struct {
		TaskID  string `json:"taskId"`
		Attempt int    `json:"attempt"`
		Message string `json:"message"`
	}
	type envelope struct {
		Seq         uint64 `json:"seq"`
		ExecutionID string `json:"executionId"`
		Event       string `json:"event"`
		Data        data   `json:"data"`
	}
	env := envelope{ExecutionID: "ex_bench", Event: "worker-start",
		Data: data{TaskID: "task-123", Attempt: 1, Message: "🤖 Worker executing: Translate README"}}
	b.ReportAllocs()
	for i := range b.N {
		env.Seq = uint64(i + 1)
		if err := h.Publish(env.Seq, env.ExecutionID, env.Event, env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppend is the hub's share of a publish: appending an event
// already encoded.
func BenchmarkAppend(b *testing.B) {
	h := NewHub(8192)
	ev := Event{Name: "e", JSON: []byte(`{}`)}
	b.ReportAllocs()
	for i := range b.N {
		ev.Seq = uint64(i + 1)
		h.Append(ev)
	}
}
