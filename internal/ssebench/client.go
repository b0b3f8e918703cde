package ssebench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"time"
)

// clientsEnv carries the clients' spec to the client process.
const clientsEnv = "MIMIR_SSEBENCH_CLIENTS"

// The client process speaks to the driver in lines on its stdout, each
// starting with linePrefix; a test binary may print other lines.
const linePrefix = "ssebench "

// spec is what the client process is asked to do.
type spec struct {
	URL         string      `json:"url"`
	Header      http.Header `json:"header"`
	Subscribers int         `json:"subscribers"`
}

// report is what the client process answers once every subscriber has
// the end of the run or has been cut off.
type report struct {
	Delivered int   `json:"delivered"`
	LastNanos int64 `json:"last"` // unix ns of the last event read
	P50       int64 `json:"p50"`
	P99       int64 `json:"p99"`
	Max       int64 `json:"max"`
	// Cut counts the subscribers whose stream ended before the end of
	// the run (the server dropped them, or the driver gave up waiting).
	Cut int `json:"cut"`
}

// ClientsMain runs the subscribers and exits when this process was started
// as Subscribe's client process, and returns at once otherwise. Call it
// first in main, or in TestMain before anything else.
func ClientsMain() {
	raw, ok := os.LookupEnv(clientsEnv)
	if !ok {
		return
	}
	if err := runClients(raw, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ssebench clients:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runClients(raw string, stop io.Reader, out io.Writer) error {
	var sp spec
	if err := json.Unmarshal([]byte(raw), &sp); err != nil {
		return fmt.Errorf("read the spec in %s: %w", clientsEnv, err)
	}
	subs := make([]*subscriber, 0, sp.Subscribers)
	defer func() {
		for _, s := range subs {
			s.conn.Close()
		}
	}()
	for i := range sp.Subscribers {
		s, err := subscribe(sp)
		if err != nil {
			return fmt.Errorf("subscriber %d of %d: %w", i+1, sp.Subscribers, err)
		}
		subs = append(subs, s)
	}
	fmt.Fprintln(out, linePrefix+"ready")

	// The driver closes our stdin when it stops waiting: whoever has not
	// seen the end by then is cut off, and what it got still counts.
	go func() {
		_, _ = io.Copy(io.Discard, stop)
		for _, s := range subs {
			s.conn.Close()
		}
	}()
	var wg sync.WaitGroup
	for _, s := range subs {
		wg.Go(s.read)
	}
	wg.Wait()

	var r report
	var all []int64
	for _, s := range subs {
		all = append(all, s.latencies...)
		r.LastNanos = max(r.LastNanos, s.last)
		if !s.ended {
			r.Cut++
		}
	}
	r.Delivered = len(all)
	if len(all) > 0 {
		slices.Sort(all)
		r.P50, r.P99, r.Max = all[len(all)/2], all[len(all)*99/100], all[len(all)-1]
	}
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode the result: %w", err)
	}
	_, err = fmt.Fprintf(out, "%sresult %s\n", linePrefix, line)
	return err
}

// subscriber is one SSE stream on its own connection.
type subscriber struct {
	conn      net.Conn
	body      *bufio.Reader
	latencies []int64 // ns, one per event read
	last      int64   // unix ns of the last event read
	ended     bool    // it read the end of the run
}

// subscribe opens a stream and reads its first line: the servers measured
// here register a subscriber before they write anything to it, so from then
// on it misses no event.
func subscribe(sp spec) (*subscriber, error) {
	u, err := url.Parse(sp.URL)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", sp.URL, err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", u.Host, err)
	}
	req, err := http.NewRequest(http.MethodGet, sp.URL, nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("make the request: %w", err)
	}
	for k, v := range sp.Header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "text/event-stream")
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("send the request: %w", err)
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("read the response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		conn.Close()
		return nil, fmt.Errorf("GET %s: %s: %s", sp.URL, resp.Status, bytes.TrimSpace(msg))
	}
	// The body undoes the chunked encoding: a batch of frames larger than
	// the server's buffer is split into chunks anywhere, mid-line too.
	body := bufio.NewReaderSize(resp.Body, 64<<10)
	if _, err := body.ReadSlice('\n'); err != nil {
		conn.Close()
		return nil, fmt.Errorf("read the stream's first line: %w", err)
	}
	return &subscriber{conn: conn, body: body}, nil
}

// read counts and times every event until the end of the run or the end
// of the stream.
func (s *subscriber) read() {
	for {
		line, err := s.body.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			continue // longer than any event measured here: not one of ours
		}
		if err != nil {
			return
		}
		data, ok := bytes.CutPrefix(line, []byte("data: "))
		if !ok {
			continue
		}
		if IsEnd(data) {
			s.ended = true
			return
		}
		published, ok := PublishedAt(data)
		if !ok {
			continue
		}
		now := time.Now().UnixNano()
		s.latencies = append(s.latencies, now-published.UnixNano())
		s.last = now
	}
}
