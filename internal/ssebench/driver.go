package ssebench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Target is the stream every subscriber follows.
type Target struct {
	URL    string // e.g. http://127.0.0.1:41234/events
	Header http.Header
}

// Clients are n subscribers in another process, connected and idle.
type Clients struct {
	n     int
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines *bufio.Scanner
	// idlePerSub is what the server's heap and stacks grew by, per
	// subscriber, once every one was connected.
	idlePerSub float64
}

// Subscribe starts the client process (this binary again, which must call
// ClientsMain first) and returns once its n subscribers follow the target.
// The server must run in this process: what its heap and goroutine stacks
// gained meanwhile is taken as the memory of n idle subscribers.
func Subscribe(ctx context.Context, t Target, n int) (*Clients, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this binary to start the clients: %w", err)
	}
	sp, err := json.Marshal(spec{URL: t.URL, Header: t.Header, Subscribers: n})
	if err != nil {
		return nil, fmt.Errorf("encode the clients' spec: %w", err)
	}
	before := serverMemory()
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), clientsEnv+"="+string(sp))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start the clients: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start the clients: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the clients: %w", err)
	}
	c := &Clients{n: n, cmd: cmd, stdin: stdin, lines: bufio.NewScanner(stdout)}
	c.lines.Buffer(nil, 1<<20)
	if _, err := c.line("ready"); err != nil {
		c.Close()
		return nil, err
	}
	c.idlePerSub = float64(serverMemory()-before) / float64(n)
	return c, nil
}

// serverMemory is this process's live heap and goroutine stacks. Two
// collections: what sync.Pools hold (net/http's buffers among them) goes
// at the second, so it counts neither before nor after.
func serverMemory() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

// Close stops the client process and waits for it. Its exit status is not
// an error: whatever it had to say came in its result or on stderr.
func (c *Clients) Close() error {
	c.stdin.Close()
	if c.cmd.Process != nil {
		_ = c.cmd.Process.Kill()
	}
	err := c.cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return nil
	}
	return err
}

// line returns the rest of the client process's next line that starts
// with word, skipping whatever else the binary prints.
func (c *Clients) line(word string) (string, error) {
	for c.lines.Scan() {
		if rest, ok := strings.CutPrefix(c.lines.Text(), linePrefix+word); ok {
			return strings.TrimSpace(rest), nil
		}
	}
	if err := c.lines.Err(); err != nil {
		return "", fmt.Errorf("read the clients' %s: %w", word, err)
	}
	return "", fmt.Errorf("the clients' process ended before it was %s (its errors are above)", word)
}

// Publish hands one event to the server under test: seq increases by one
// from 1, envelope is the data every subscriber must get.
type Publish func(seq uint64, envelope []byte)

// Run is one run of events to the clients.
type Run struct {
	c       *Clients
	publish Publish
	pace    time.Duration
	seq     uint64
	start   time.Time
	cpu     time.Duration
}

// Start begins a run: each Next publishes one event, pace after the one
// before (0: at once), on a fixed schedule so that a late wake-up does not
// lower the rate.
func (c *Clients) Start(publish Publish, pace time.Duration) *Run {
	return &Run{c: c, publish: publish, pace: pace, start: time.Now(), cpu: cpuTime()}
}

// Next publishes the next event, after waiting for its time.
func (r *Run) Next() {
	if r.pace > 0 && r.seq > 0 {
		time.Sleep(time.Until(r.start.Add(time.Duration(r.seq) * r.pace)))
	}
	r.seq++
	r.publish(r.seq, Envelope(r.seq, time.Now()))
}

// Finish publishes the end of the run and returns what the subscribers
// received. A subscriber that has not seen the end within wait is cut
// off; what it got still counts.
func (r *Run) Finish(wait time.Duration) (Result, error) {
	r.publish(r.seq+1, end(r.seq+1))
	timer := time.AfterFunc(wait, func() { r.c.stdin.Close() })
	defer timer.Stop()
	line, err := r.c.line("result")
	cpu := cpuTime() - r.cpu
	if err != nil {
		return Result{}, err
	}
	var rep report
	if err := json.Unmarshal([]byte(line), &rep); err != nil {
		return Result{}, fmt.Errorf("read the clients' result %q: %w", line, err)
	}
	res := Result{
		Subscribers:     r.c.n,
		Events:          int(r.seq),
		Delivered:       rep.Delivered,
		Cut:             rep.Cut,
		P50:             time.Duration(rep.P50),
		P99:             time.Duration(rep.P99),
		Max:             time.Duration(rep.Max),
		ServerCPU:       cpu,
		IdleBytesPerSub: r.c.idlePerSub,
	}
	if rep.Delivered > 0 {
		res.Elapsed = time.Unix(0, rep.LastNanos).Sub(r.start)
	}
	return res, nil
}

// Result is what one run's subscribers received.
type Result struct {
	Subscribers, Events int
	// Delivered counts the events the subscribers read, all together.
	Delivered int
	// Cut counts the subscribers whose stream ended early.
	Cut int
	// Elapsed runs from the first publish to the last event read.
	Elapsed       time.Duration
	P50, P99, Max time.Duration
	// ServerCPU is this process's CPU time (user and system) during the
	// run: the server's, since the clients are another process.
	ServerCPU       time.Duration
	IdleBytesPerSub float64
}

// DeliveriesPerSecond is what the subscribers achieved, not what was asked
// of them: deliveries over the time from the first publish to the last
// event read.
func (r Result) DeliveriesPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Delivered) / r.Elapsed.Seconds()
}

// ReceivedFraction is the share of the events × subscribers delivered.
func (r Result) ReceivedFraction() float64 {
	if r.Events == 0 || r.Subscribers == 0 {
		return 0
	}
	return float64(r.Delivered) / float64(r.Events*r.Subscribers)
}

// CPUPerMillion is the server's CPU seconds per million deliveries.
func (r Result) CPUPerMillion() float64 {
	if r.Delivered == 0 {
		return 0
	}
	return r.ServerCPU.Seconds() / float64(r.Delivered) * 1e6
}

// Metrics are the figures as name → value, in the units their names say.
func (r Result) Metrics() []Metric {
	return []Metric{
		{r.DeliveriesPerSecond(), "deliveries/s"},
		{ms(r.P50), "p50-ms"},
		{ms(r.P99), "p99-ms"},
		{r.CPUPerMillion(), "cpu-s/M-deliveries"},
		{r.IdleBytesPerSub / 1024, "KiB/idle-sub"},
		{r.ReceivedFraction(), "received-fraction"},
	}
}

// Metric is one figure and its unit, as testing.B.ReportMetric takes them.
type Metric struct {
	Value float64
	Unit  string
}

// Report reports the figures to a benchmark.
func (r Result) Report(b interface{ ReportMetric(float64, string) }) {
	for _, m := range r.Metrics() {
		b.ReportMetric(m.Value, m.Unit)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
