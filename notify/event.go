package notify

import (
	"bytes"
	"strconv"
)

// Event is one event as the hub carries it: its envelope encoded once, and
// its SSE frame built once, for every listener.
type Event struct {
	Seq         uint64
	ExecutionID string
	Name        string
	// JSON is the envelope. Once the event is framed it is a view into
	// Frame, not a copy.
	JSON []byte
	// Frame is the event as an SSE stream sends it (id:, event:, data:
	// and the blank line that ends it), built when the event enters the
	// hub so that a thousand subscribers write the same bytes instead of
	// each formatting its own.
	Frame []byte
	// Value is the envelope JSON encodes, when the publisher had it (nil
	// for an event read back from the journal): a listener in the same
	// process uses it rather than decode JSON.
	Value any
}

// framed returns ev with its Frame built (once: a framed event is returned
// as it is).
func (ev Event) framed() Event {
	if ev.Frame != nil {
		return ev
	}
	name := ev.Name
	if bytes.ContainsAny([]byte(name), "\r\n") {
		// A line break in the name would end the event: the name is the
		// sidecar's own, so this is a bug, but the stream stays whole.
		name = string(bytes.Map(func(r rune) rune {
			if r == '\r' || r == '\n' {
				return ' '
			}
			return r
		}, []byte(name)))
	}
	f := make([]byte, 0, len(ev.JSON)+len(name)+40)
	f = append(f, "id: "...)
	f = strconv.AppendUint(f, ev.Seq, 10)
	f = append(f, "\nevent: "...)
	f = append(f, name...)
	f = append(f, "\ndata: "...)
	if !bytes.ContainsAny(ev.JSON, "\r\n") {
		// What json.Marshal makes: one line, which the frame then holds
		// as it is, and which JSON can point into.
		start := len(f)
		f = append(f, ev.JSON...)
		ev.JSON = f[start:len(f):len(f)]
	} else {
		// Every line break in the data starts a data: line of its own,
		// which the client joins back with "\n".
		f = appendDataLines(f, ev.JSON)
	}
	ev.Frame = append(f, "\n\n"...)
	return ev
}

// appendDataLines appends data with each of its line breaks (\n, \r or
// \r\n, as SSE counts them) turned into "\ndata: ".
func appendDataLines(f, data []byte) []byte {
	for len(data) > 0 {
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			return append(f, data...)
		}
		f = append(f, data[:i]...)
		f = append(f, "\ndata: "...)
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	return f
}
