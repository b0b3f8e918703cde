// Package ssebench measures an SSE server with many subscribers on real
// loopback connections, the subscribers in another process: in the
// server's process their buffers would be counted in its heap, their
// reading in its CPU time, and their goroutines would share its scheduler.
//
// The driver side (Subscribe, Run) lives in the process that serves the
// stream; the client side is the same binary started again with an
// environment variable, which ClientsMain, called first thing in main or
// TestMain, recognises. The publish time travels in each event (Envelope's
// "t"), so latency is measured on one clock, the machine's.
package ssebench

import (
	"bytes"
	"strconv"
	"time"
)

// Envelope is the event every run publishes: an engine event of the usual
// size and shape (what the sidecar's SSE mirror and its editor carry), with
// its publish time in unix nanoseconds as "t". Every server under
// comparison gets these same bytes as its data.
func Envelope(seq uint64, published time.Time) []byte {
	b := make([]byte, 0, 320)
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"executionId":"ex_bench","event":"worker-start","time":"`...)
	b = published.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","data":{"taskId":"task-123","taskTitle":"Translate README","phase":"worker","attempt":1,"maxAttempts":3,"message":"🤖 Worker executing: Translate README"},"t":`...)
	b = strconv.AppendInt(b, published.UnixNano(), 10)
	return append(b, '}')
}

// EventName is the SSE event name of Envelope's events.
const EventName = "worker-start"

// end is the event that follows a run's last: the subscribers stop at it.
// It carries no "t" and is not counted.
func end(seq uint64) []byte {
	return strconv.AppendUint([]byte(`{"end":true,"seq":`), seq, 10)
}

var (
	endPrefix = []byte(`{"end":true`)
	tKey      = []byte(`"t":`)
)

// IsEnd says whether data is the end of a run (which a listener other than
// the subscribers, such as an editor, may see go by too).
func IsEnd(data []byte) bool { return bytes.Contains(data, endPrefix) }

// PublishedAt is the publish time an Envelope carries, and false for data
// that carries none (the end of a run, a server's own notices).
func PublishedAt(data []byte) (time.Time, bool) {
	i := bytes.LastIndex(data, tKey)
	if i < 0 {
		return time.Time{}, false
	}
	rest := data[i+len(tKey):]
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	ns, err := strconv.ParseInt(string(rest[:n]), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}
