// Command mercure compares the sidecar's SSE hub with Mercure's
// (github.com/dunglas/mercure, the reference Go SSE hub, embedded with its
// local transport), one after the other in one run: the same 1,000
// subscribers on loopback (in another process), the same envelopes (the
// same bytes after data:), at 200 events a second and as fast as each
// goes. It prints each figure for both and their ratio.
//
// Mercure is AGPL-3.0: it lives in this module of its own, which the
// sidecar's module neither requires nor builds.
//
//	cd bench/mercure && go run .
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/dunglas/mercure"

	"github.com/mimir-sidecar/mimir-sidecar/internal/ssebench"
	"github.com/mimir-sidecar/mimir-sidecar/notify"
)

func main() {
	ssebench.ClientsMain()
	subs := flag.Int("subscribers", 1000, "SSE subscribers, in a separate process")
	paced := flag.Int("paced-events", 1000, "events published at 200 a second")
	// Mercure cuts a subscriber off once 1,000 events wait for it; a run
	// this long measures how fast each server delivers, not how it drops.
	unpaced := flag.Int("unpaced-events", 1000, "events published as fast as the server takes them")
	flag.Parse()

	ctx := context.Background()
	var rows []row
	for _, sc := range []struct {
		name   string
		pace   time.Duration
		events int
	}{{"200 events/s", 5 * time.Millisecond, *paced}, {"unpaced", 0, *unpaced}} {
		ours, err := measure(ctx, startOurs, *subs, sc.events, sc.pace)
		if err != nil {
			fail("our hub, %s: %v", sc.name, err)
		}
		theirs, err := measure(ctx, startMercure, *subs, sc.events, sc.pace)
		if err != nil {
			fail("Mercure, %s: %v", sc.name, err)
		}
		rows = append(rows, row{sc.name, ours, theirs})
	}
	printTable(os.Stdout, *subs, rows)
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "mercure comparison: "+format+"\n", args...)
	os.Exit(1)
}

// server is one SSE server under test, running in this process.
type server struct {
	target  ssebench.Target
	publish ssebench.Publish
	close   func()
}

func measure(ctx context.Context, start func() (server, error), subs, events int, pace time.Duration) (ssebench.Result, error) {
	base := runtime.NumGoroutine()
	s, err := start()
	if err != nil {
		return ssebench.Result{}, err
	}
	defer func() {
		s.close()
		settle(base)
	}()
	clients, err := ssebench.Subscribe(ctx, s.target, subs)
	if err != nil {
		return ssebench.Result{}, err
	}
	defer clients.Close()
	run := clients.Start(s.publish, pace)
	for range events {
		run.Next()
	}
	return run.Finish(time.Minute)
}

// settle waits (up to 10s) for a closed server's goroutines to end: a
// server closes its connections before its handlers have returned, and
// the next run's idle memory must not count them as its own (nor its CPU
// their ending).
func settle(goroutines int) {
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > goroutines && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
}

func startOurs() (server, error) {
	hub := notify.NewHub(8192) // the sidecar's
	s, err := notify.StartSSE(hub, notify.SSEOptions{})
	if err != nil {
		return server{}, err
	}
	return server{
		target: ssebench.Target{URL: s.URL() + "/events", Header: http.Header{"Authorization": {"Bearer " + s.Token()}}},
		publish: func(seq uint64, envelope []byte) {
			hub.Append(notify.Event{Seq: seq, ExecutionID: "ex_bench", Name: ssebench.EventName, JSON: envelope})
		},
		close: func() { s.Close(); hub.Close() },
	}, nil
}

// startMercure embeds Mercure as its library documents it: a hub on the
// local transport (no history), served by net/http, subscribers anonymous
// (ours check a token, which costs nothing per event), its default write
// and dispatch timeouts.
func startMercure() (server, error) {
	ctx, cancel := context.WithCancel(context.Background())
	hub, err := mercure.NewHub(ctx,
		mercure.WithAnonymous(),
		mercure.WithTransport(mercure.NewLocalTransport(mercure.NewSubscriberList(mercure.DefaultSubscriberListCacheSize))),
		mercure.WithLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		cancel()
		return server{}, fmt.Errorf("start Mercure's hub: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		return server{}, fmt.Errorf("listen for Mercure: %w", err)
	}
	srv := &http.Server{Handler: hub, ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)}
	go srv.Serve(ln)
	const topic = "https://example.com/bench"
	return server{
		target: ssebench.Target{URL: "http://" + ln.Addr().String() + "/.well-known/mercure?topic=" + topic},
		publish: func(seq uint64, envelope []byte) {
			// Same id, type and data as ours: the same frame on the wire.
			_ = hub.Publish(ctx, &mercure.Update{Topics: []string{topic},
				Event: mercure.Event{ID: strconv.FormatUint(seq, 10), Type: ssebench.EventName, Data: string(envelope)}})
		},
		close: func() {
			_ = hub.Stop(ctx)
			cancel()
			srv.Close()
		},
	}, nil
}

type row struct {
	scenario     string
	ours, theirs ssebench.Result
}

// printTable writes the table: each figure, ours, Mercure's, and ours ÷
// Mercure's (above 1 is better for deliveries/s and received, below 1 for
// the rest).
func printTable(w io.Writer, subs int, rows []row) {
	fmt.Fprintf(w, "our hub vs Mercure v0.21.4 (local transport), %d subscribers in another process, same envelopes\n", subs)
	fmt.Fprintf(w, "ours/Mercure: above 1 is ours ahead for deliveries/s and received-fraction, below 1 for the others\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tfigure\tours\tMercure\tours/Mercure\t")
	for _, r := range rows {
		om, tm := r.ours.Metrics(), r.theirs.Metrics()
		for i := range om {
			ratio := "-"
			if tm[i].Value != 0 {
				ratio = fmt.Sprintf("%.2f", om[i].Value/tm[i].Value)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", r.scenario, om[i].Unit, num(om[i].Value), num(tm[i].Value), ratio)
		}
	}
	tw.Flush()
}

func num(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}
