package llm

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/internal/safefile"
)

// Option tunes the agents Kind makes.
type Option func(*options)

type options struct {
	log     *slog.Logger
	backoff time.Duration
	fixHint string
}

// WithFixHint says what to do once a broken llm configuration is fixed
// ("run the workflow again"), when that is not to start the sidecar
// again: a one-shot command reads it anew on each run.
func WithFixHint(hint string) Option {
	return func(o *options) {
		if hint != "" {
			o.fixHint = hint
		}
	}
}

// WithLogger sends the agents' logs (requests, retries, failures; never
// the API key) to l.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

// withBackoff sets the first retry wait; tests shorten it.
func withBackoff(d time.Duration) Option {
	return func(o *options) { o.backoff = d }
}

// kind holds one client per provider, so the concurrency limit of a
// provider holds across every agent and execution made from it.
type kind struct {
	cfg     *Config
	clients map[string]*client
	// keyEnvs are every provider's key variables, hidden from the
	// commands a worker runs so a model cannot read a key out of them.
	keyEnvs []string
	log     *slog.Logger
}

// Kind makes llm workers and QC agents from cfg (nil: the built-in
// defaults). API keys are read from the environment here, once.
func Kind(cfg *Config, opts ...Option) engine.AgentKind {
	o := options{log: slog.New(slog.DiscardHandler), backoff: time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	if cfg == nil {
		cfg = defaultConfig()
	}
	k := &kind{cfg: cfg, clients: map[string]*client{}, log: o.log}
	for name, p := range cfg.Providers {
		k.clients[name] = newClient(*p, o.log, o.backoff)
		if p.APIKeyEnv != "" {
			k.keyEnvs = append(k.keyEnvs, p.APIKeyEnv)
		}
	}
	return engine.AgentKind{
		Worker: func(task *engine.Task, spec *engine.AgentSpec) (engine.Worker, error) {
			a, err := k.agent(task, spec)
			if err != nil {
				return nil, err
			}
			limit := spec.MaxToolCalls
			if limit <= 0 {
				limit = a.client.p.MaxToolCalls
			}
			return &worker{agent: a, maxToolCalls: limit, allowCommands: spec.AllowCommands, env: k.commandEnv(spec)}, nil
		},
		QC: func(task *engine.Task, spec *engine.AgentSpec) (engine.QC, error) {
			a, err := k.agent(task, spec)
			if err != nil {
				return nil, err
			}
			return &qc{agent: a, threshold: task.Threshold()}, nil
		},
	}
}

// LoadKind is Kind over LoadConfig(workspaceDir). A configuration that
// cannot be used (a misspelt setting, an unknown provider, a file that
// cannot be read) does not stop the sidecar, whose exec workflows need none
// of it: the kind it returns then refuses to make llm agents, with the
// configuration's error, so only workflows that use llm agents fail, when
// they are prepared, saying which file to fix and what.
func LoadKind(workspaceDir string, opts ...Option) engine.AgentKind {
	cfg, err := LoadConfig(workspaceDir)
	if err != nil {
		return unusableKind(err, opts...)
	}
	return Kind(cfg, opts...)
}

// unusableKind is the llm kind of a sidecar whose llm configuration
// failed to load: every agent it is asked for fails with err.
func unusableKind(err error, opts ...Option) engine.AgentKind {
	o := options{log: slog.New(slog.DiscardHandler), fixHint: "start the sidecar again"}
	for _, opt := range opts {
		opt(&o)
	}
	err = fmt.Errorf("the llm agents are unavailable because the llm configuration cannot be used: %w; fix it and %s (workflows without llm agents still run)", err, o.fixHint)
	// Info, not a warning: each workflow that uses llm agents reports it,
	// and a warning would say it twice on a terminal.
	o.log.Info("llm configuration unusable; llm agents are unavailable", "error", err.Error())
	return engine.AgentKind{
		Worker: func(*engine.Task, *engine.AgentSpec) (engine.Worker, error) { return nil, err },
		QC:     func(*engine.Task, *engine.AgentSpec) (engine.QC, error) { return nil, err },
	}
}

// agent is what a worker and a QC agent share: where to ask, whom, and
// with which standing instructions.
type agent struct {
	client      *client
	model       string
	preamble    string
	prompt      string
	temperature *float64
	log         *slog.Logger
}

// maxPreambleSize bounds a preamble file: it goes into every request.
const maxPreambleSize = 256 << 10

// agent resolves provider and model (the agent's own, which the engine
// has filled in from the workflow's llm defaults, else the
// configuration's) and reads the preamble, so that a workflow naming
// something unusable fails before its execution starts.
func (k *kind) agent(task *engine.Task, spec *engine.AgentSpec) (*agent, error) {
	name := first(spec.Provider, k.cfg.Default)
	c, ok := k.clients[name]
	if !ok {
		return nil, fmt.Errorf("llm provider %q is not configured (configured: %s): add it under llm.providers in .mimir/config.yaml", name, strings.Join(k.cfg.names(), ", "))
	}
	if c.keyErr != nil {
		return nil, c.keyErr
	}
	model := first(spec.Model, c.p.Model)
	if model == "" {
		return nil, fmt.Errorf("no model for llm provider %q: set `model` on the agent or under `llm:` in the workflow, or for the provider in .mimir/config.yaml (or %s)", name, EnvModel)
	}
	preamble := spec.Preamble
	if spec.PreambleFile != "" {
		var err error
		if preamble, err = readPreamble(spec.PreambleFile); err != nil {
			return nil, err
		}
	}
	return &agent{
		client:      c,
		model:       model,
		preamble:    preamble,
		prompt:      spec.Prompt,
		temperature: spec.Temperature,
		log:         k.log.With("provider", name, "model", model, "task", task.ID),
	}, nil
}

// readPreamble reads a preamble file. The engine has made its path
// absolute when it lies inside the workflow's folder, and left it as
// written when it does not.
func readPreamble(path string) (string, error) {
	if !filepath.IsAbs(path) {
		if !filepath.IsLocal(filepath.FromSlash(path)) {
			return "", fmt.Errorf("preambleFile %q leads out of the workflow's folder: give a path inside that folder, relative to it and without \"..\" (like prompts/writer.md)", path)
		}
		return "", fmt.Errorf("preambleFile %q is not inside the workflow's folder (a symlink leads out of it, or the workflow has no folder): put the file itself in the workflow's folder", path)
	}
	// A named pipe is refused rather than waited on.
	f, _, err := safefile.Open(safefile.Path, path)
	if safefile.IsNotRegular(err) {
		return "", fmt.Errorf("read preambleFile %s: %v: point preambleFile at a text file", path, err)
	}
	if err != nil {
		return "", fmt.Errorf("read preambleFile: %w", err)
	}
	defer f.Close()
	data, err := safefile.ReadAtMost(f, maxPreambleSize)
	if errors.Is(err, safefile.ErrTooLarge) {
		return "", fmt.Errorf("read preambleFile %s: more than %d KiB; a preamble goes into every request, keep it short", path, maxPreambleSize>>10)
	}
	if err != nil {
		return "", fmt.Errorf("read preambleFile: %w", err)
	}
	return string(data), nil
}

// commandEnv is the environment added to a worker's commands: the agent's
// env, with every provider's key variable emptied.
func (k *kind) commandEnv(spec *engine.AgentSpec) map[string]string {
	env := make(map[string]string, len(spec.Env)+len(k.keyEnvs))
	for name, v := range spec.Env {
		env[name] = v
	}
	for _, name := range k.keyEnvs {
		env[name] = ""
	}
	return env
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
