package main

import (
	"os"
	"testing"

	"github.com/mimir-sidecar/mimir-sidecar/internal/ssebench"
)

func TestMain(m *testing.M) {
	ssebench.ClientsMain()
	os.Exit(m.Run())
}

// Both servers, measured as main measures them, deliver every event of a
// small run to every subscriber: the comparison compares deliveries, not
// one side losing its subscribers.
func TestBothServersDeliverEverything(t *testing.T) {
	for name, start := range map[string]func() (server, error){"ours": startOurs, "Mercure": startMercure} {
		res, err := measure(t.Context(), start, 5, 20, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.ReceivedFraction() != 1 || res.Cut != 0 {
			t.Errorf("%s: received %v of the deliveries, %d subscribers cut off", name, res.ReceivedFraction(), res.Cut)
		}
	}
}
