package events

import (
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/notify"
)

// What the journal encoded is what the hub carries; an event it did not
// encode is encoded here, once.
func TestPublishUsesTheJournalsBytes(t *testing.T) {
	hub := notify.NewHub(4)
	journaled := engine.Event{Seq: 1, ExecutionID: "ex_1", Event: engine.EventTaskStart, Encoded: []byte(`{"seq":1,"from":"journal"}`)}
	if err := Publish(hub, journaled); err != nil {
		t.Fatal(err)
	}
	if err := Publish(hub, engine.Event{Seq: 2, ExecutionID: "ex_1", Event: engine.EventTaskStart}); err != nil {
		t.Fatal(err)
	}
	got, _ := hub.Read(nil, 0, 2)
	if len(got) != 2 || string(got[0].JSON) != `{"seq":1,"from":"journal"}` {
		t.Fatalf("published %q, want the journal's bytes", got[0].JSON)
	}
	if v, ok := got[1].Value.(engine.Event); !ok || v.Seq != 2 || len(got[1].JSON) == 0 {
		t.Errorf("the second event: %q, value %+v", got[1].JSON, got[1].Value)
	}
}
