// Package remote hands a sidecar's task attempts to worker processes on
// other machines through NATS JetStream, and runs them there.
//
// The sidecar keeps everything but the run itself: scheduling, retries,
// the QC gap, the journal, the seq and the deliverables writer. A
// [Dispatcher] (an engine.Dispatcher) publishes each attempt on a
// work-queue stream and follows its events on another; a [Worker] takes
// attempts from the queue, runs them with engine.RunAttempt in a folder
// of its own, streams their events back and returns the files a worker
// attempt produced through an Object Store bucket, named by their sha256
// and checked against it on the way in.
//
// Everything lives under a prefix (one per workspace by default), so
// that several users share one NATS server without seeing each other's
// work. docs/scale-out.md has the subject layout, the delivery guarantees
// and the sizing.
package remote

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// Config says which NATS server to use and how.
type Config struct {
	// URL is the server's address (nats://host:4222, tls://… for TLS, a
	// comma-separated list for a cluster).
	URL string `yaml:"nats"`
	// Prefix scopes the subjects, streams and buckets; "" is
	// DefaultPrefix of the workspace.
	Prefix string `yaml:"prefix"`
	// Credentials is a NATS .creds file; TokenEnv names an environment
	// variable holding a token; CA a PEM file of the CAs to trust for TLS.
	Credentials string `yaml:"credentials"`
	TokenEnv    string `yaml:"tokenEnv"`
	CA          string `yaml:"ca"`
	// AckWait is how long a worker may go silent before its attempt is
	// handed to another (workers signal progress at a third of it).
	AckWait time.Duration `yaml:"ackWait"`
	// MaxDeliver bounds how many workers may take one attempt.
	MaxDeliver int `yaml:"maxDeliver"`
	// WaitNotice is how long an attempt may wait for a worker before the
	// editor is told (task-waiting).
	WaitNotice time.Duration `yaml:"waitNotice"`
	// Replicas is how many servers of a NATS cluster keep each stream and
	// bucket (default 1).
	Replicas int `yaml:"replicas"`
}

// Defaults.
const (
	DefaultAckWait    = 30 * time.Second
	DefaultMaxDeliver = 3
	DefaultWaitNotice = 5 * time.Second
)

var validPrefix = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// DefaultPrefix is the prefix of a workspace: its folder's name and a
// hash of its path, so two workspaces never share one by accident.
func DefaultPrefix(workspace string) string {
	sum := sha256.Sum256([]byte(workspace))
	name := regexp.MustCompile(`[^A-Za-z0-9_-]+`).ReplaceAllString(filepath.Base(workspace), "-")
	if len(name) > 32 {
		name = name[:32]
	}
	return "mimir-" + strings.Trim(name, "-") + "-" + hex.EncodeToString(sum[:3])
}

func (c Config) withDefaults() (Config, error) {
	if c.AckWait <= 0 {
		c.AckWait = DefaultAckWait
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	if c.WaitNotice <= 0 {
		c.WaitNotice = DefaultWaitNotice
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if !validPrefix.MatchString(c.Prefix) {
		return c, fmt.Errorf("NATS prefix %q: use 1 to 64 letters, digits, '-' or '_'", c.Prefix)
	}
	return c, nil
}

// Connect opens a connection that reconnects for ever: a server restart is
// waited out, not an error.
func Connect(c Config, name string) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
	}
	if c.Credentials != "" {
		opts = append(opts, nats.UserCredentials(c.Credentials))
	}
	if c.TokenEnv != "" {
		tok := os.Getenv(c.TokenEnv)
		if tok == "" {
			return nil, fmt.Errorf("NATS token: the environment variable %s is empty or not set", c.TokenEnv)
		}
		opts = append(opts, nats.Token(tok))
	}
	if c.CA != "" {
		opts = append(opts, nats.RootCAs(c.CA))
	}
	nc, err := nats.Connect(c.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", c.URL, err)
	}
	return nc, nil
}

// open connects as name and sets up (or finds) the prefix's streams and
// buckets.
func open(ctx context.Context, cfg Config, name string) (*nats.Conn, jetstream.JetStream, *layout, error) {
	nc, err := Connect(cfg, name)
	if err != nil {
		return nil, nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, nil, err
	}
	l, err := ensure(ctx, js, cfg)
	if err != nil {
		connected := nc.IsConnected()
		nc.Close()
		if !connected {
			return nil, nil, nil, fmt.Errorf("NATS at %s could not be reached (%w): start the server (nats-server -js) or fix the address", cfg.URL, err)
		}
		return nil, nil, nil, fmt.Errorf("NATS at %s: %w", cfg.URL, err)
	}
	return nc, js, l, nil
}

// layout is the names under a prefix, and the streams, consumer and
// buckets made from them.
type layout struct {
	cfg      Config
	attempts jetstream.Stream
	events   jetstream.Stream
	workers  jetstream.Consumer
	files    jetstream.ObjectStore
	done     jetstream.KeyValue
}

func (c Config) attemptsStream() string { return c.Prefix + "_ATTEMPTS" }
func (c Config) eventsStream() string   { return c.Prefix + "_EVENTS" }

// attemptSubject is where an attempt is queued; eventSubject where its
// events go; cancelSubject where its cancel (or, with attempt "", its
// execution's) is announced.
func (c Config) attemptSubject(exec, attempt string) string {
	return c.Prefix + ".attempts." + exec + "." + attempt
}
func (c Config) eventSubject(attempt string) string { return c.Prefix + ".events." + attempt }
func (c Config) cancelSubject(exec, attempt string) string {
	if attempt == "" {
		return c.Prefix + ".cancel." + exec
	}
	return c.Prefix + ".cancel." + exec + "." + attempt
}

// ensure makes the streams, the workers' consumer and the buckets, or
// opens them as the first side to come (the sidecar or a worker) made
// them: nothing is reconfigured once made, so a worker never changes what
// a sidecar set up (and no stream is updated under a consumer being made,
// which the server does not take well).
func ensure(ctx context.Context, js jetstream.JetStream, c Config) (*layout, error) {
	l := &layout{cfg: c}
	stream := func(cfg jetstream.StreamConfig) (jetstream.Stream, error) {
		s, err := js.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return js.Stream(ctx, cfg.Name)
		}
		return s, err
	}
	var err error
	l.attempts, err = stream(jetstream.StreamConfig{
		Name:      c.attemptsStream(),
		Subjects:  []string{c.Prefix + ".attempts.>"},
		Retention: jetstream.WorkQueuePolicy,
		Storage:   jetstream.FileStorage,
		MaxAge:    24 * time.Hour,
		Replicas:  c.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("set up the attempts stream: %w", err)
	}
	l.events, err = stream(jetstream.StreamConfig{
		Name:     c.eventsStream(),
		Subjects: []string{c.Prefix + ".events.>"},
		Storage:  jetstream.FileStorage,
		MaxAge:   24 * time.Hour,
		Replicas: c.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("set up the events stream: %w", err)
	}
	l.workers, err = l.attempts.CreateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       "workers",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		MaxDeliver:    c.MaxDeliver,
		MaxAckPending: -1,
	})
	if errors.Is(err, jetstream.ErrConsumerExists) {
		l.workers, err = l.attempts.Consumer(ctx, "workers")
	}
	if err != nil {
		return nil, fmt.Errorf("set up the workers' consumer: %w", err)
	}
	l.files, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: c.Prefix + "_files", Storage: jetstream.FileStorage, TTL: 24 * time.Hour, Replicas: c.Replicas})
	if errors.Is(err, jetstream.ErrBucketExists) {
		l.files, err = js.ObjectStore(ctx, c.Prefix+"_files")
	}
	if err != nil {
		return nil, fmt.Errorf("set up the files bucket: %w", err)
	}
	l.done, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: c.Prefix + "_done", Storage: jetstream.FileStorage, TTL: 24 * time.Hour, Replicas: c.Replicas})
	if errors.Is(err, jetstream.ErrBucketExists) {
		l.done, err = js.KeyValue(ctx, c.Prefix+"_done")
	}
	if err != nil {
		return nil, fmt.Errorf("set up the attempts' ledger: %w", err)
	}
	return l, nil
}

// ackWait is the workers' consumer's AckWait as the server has it (the
// side that made it chose), which a worker's progress must beat.
func (l *layout) ackWait() time.Duration {
	if info := l.workers.CachedInfo(); info != nil && info.Config.AckWait > 0 {
		return info.Config.AckWait
	}
	return l.cfg.AckWait
}

// attemptMsg is an attempt as it is queued.
type attemptMsg struct {
	ID           string      `json:"id"`
	ExecutionID  string      `json:"executionId"`
	TaskID       string      `json:"taskId"`
	Phase        string      `json:"phase"`
	Attempt      int         `json:"attempt"`
	MaxAttempts  int         `json:"maxAttempts"`
	Gap          *engine.Gap `json:"gap,omitempty"`
	WorkflowFile string      `json:"workflowFile"`
	Workflow     []byte      `json:"workflow"`
	// Inputs are the files laid out for it: task/… (the task's folder),
	// deps/<id>/… (its dependencies'), workflow/… (the workflow's folder).
	Inputs []fileRef `json:"inputs"`
}

// eventMsg is what a worker says about an attempt, in order.
type eventMsg struct {
	Kind     string            `json:"kind"` // started, event, result
	Worker   string            `json:"worker"`
	Delivery int               `json:"delivery,omitempty"`
	Name     string            `json:"name,omitempty"`
	Data     *engine.EventData `json:"data,omitempty"`
	Result   *resultMsg        `json:"result,omitempty"`
}

type resultMsg struct {
	Error     string          `json:"error,omitempty"`
	TimedOut  bool            `json:"timedOut,omitempty"`
	ToolCalls int             `json:"toolCalls"`
	Output    string          `json:"output,omitempty"`
	Verdict   *engine.Verdict `json:"verdict,omitempty"`
	// Outputs are the task's folder after a worker attempt.
	Outputs []fileRef `json:"outputs,omitempty"`
}

// errAttempt is an attempt's own failure as the worker reported it.
func (r *resultMsg) err() error {
	switch {
	case r.TimedOut:
		return fmt.Errorf("%w", context.DeadlineExceeded)
	case r.Error != "":
		return errors.New(r.Error)
	}
	return nil
}
