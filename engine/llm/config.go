// Package llm provides the llm worker and QC agents: language models behind
// any OpenAI-compatible chat-completions endpoint (Ollama, llama.cpp's
// server, vLLM, LM Studio, OpenAI), reached through the official Go SDK.
//
// The engine knows nothing of it; whoever wires the engine up adds it:
//
//	agents := engine.Agents{"exec": exec.Agent()}
//	agents["llm"] = llm.LoadKind(workspaceDir, llm.WithLogger(logger))
//
// (or llm.Kind over a Config of its own).
package llm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// Config is the set of providers the llm agents may use.
type Config struct {
	// Default names the provider of agents and workflows that name none.
	Default string
	// Providers by name.
	Providers map[string]*Provider
	// Files are the configuration files that were read, lowest precedence
	// first, so messages can say where to change a setting.
	Files []string
}

// Provider is one OpenAI-compatible endpoint.
type Provider struct {
	Name    string
	BaseURL string
	// Model is asked when neither the agent nor the workflow names one.
	Model string
	// APIKeyEnv is the NAME of the environment variable holding the API
	// key ("" for servers that need none). The key itself is read when the
	// agents are made and never written anywhere.
	APIKeyEnv string
	// Timeout bounds one request (one model answer, streamed or not).
	Timeout time.Duration
	// Concurrency is how many requests may be in flight to this provider at
	// once, across every agent and execution that uses it: a local server
	// answers one or two at a time and queues (or fails) the rest.
	Concurrency int
	// MaxToolCalls is a worker's default limit of tool calls per attempt.
	MaxToolCalls int
	// MaxRetries is how many times a request refused with 429 or a 5xx is
	// tried again (Retry-After honoured, else exponential backoff).
	MaxRetries int
	// Stream asks for streamed answers, so a slow model's answer arrives as
	// it is made rather than all at the end of a long wait.
	Stream bool
	// StructuredOutput sends the QC verdict's JSON Schema as response_format;
	// endpoints that reject it are asked again without it.
	StructuredOutput bool

	// keyWithheld, when set, says why the key in APIKeyEnv is not sent
	// (the baseURL came from another configuration layer than apiKeyEnv;
	// see loadConfig) and how to have it sent. Unexported so that only
	// loadConfig sets it: a Config built by hand sends its key to its own
	// baseURL.
	keyWithheld string
}

// Defaults of a provider's settings.
const (
	DefaultTimeout      = 5 * time.Minute
	DefaultConcurrency  = 2
	DefaultMaxToolCalls = 25
	DefaultMaxRetries   = 3
)

// Ollama is there without any configuration: a local Ollama is what most
// people try first, and the only thing it then needs is a model name.
const (
	builtinProvider = "ollama"
	builtinBaseURL  = "http://localhost:11434/v1"
)

// Environment variables that override the configuration files for the
// default provider, so a run can be pointed at an endpoint in one line.
const (
	EnvProvider = "MIMIR_LLM_PROVIDER"
	EnvBaseURL  = "MIMIR_LLM_BASE_URL"
	EnvModel    = "MIMIR_LLM_MODEL"
)

// Bounds on configured values.
const (
	maxConcurrency = 256
	maxToolCalls   = 1000
	maxRetries     = 10
	maxConfigSize  = 1 << 20
)

// LoadConfig reads the llm configuration: the user's
// (os.UserConfigDir()/mimir/config.yaml), then the workspace's
// (<workspace>/.mimir/config.yaml) over it, then the MIMIR_LLM_*
// environment variables over both. Missing files are fine; without any,
// the built-in "ollama" provider at http://localhost:11434/v1 is the
// default and only needs a model.
func LoadConfig(workspaceDir string) (*Config, error) {
	var files []configFile
	if path := engine.UserConfigFile(); path != "" {
		files = append(files, configFile{path: path})
	}
	if workspaceDir != "" {
		files = append(files, configFile{path: engine.WorkspaceConfigFile(workspaceDir), workspace: true})
	}
	return loadConfig(files, os.Getenv)
}

// configFile is one layer of configuration. A workspace's file came with
// the repository, not from the user: it may choose models and addresses,
// but never which of the user's environment variables is sent as a key.
type configFile struct {
	path      string
	workspace bool
}

// The file format. Pointers tell "not set here" from a zero, so a later
// file overrides only what it sets.
type fileConfig struct {
	LLM *fileLLM `yaml:"llm"`
	// The rest of the file belongs to other parts of the sidecar.
	Rest map[string]any `yaml:",inline"`
}

type fileLLM struct {
	Default   string                   `yaml:"default"`
	Providers map[string]*fileProvider `yaml:"providers"`
}

type fileProvider struct {
	BaseURL          *string   `yaml:"baseURL"`
	Model            *string   `yaml:"model"`
	APIKeyEnv        *string   `yaml:"apiKeyEnv"`
	Timeout          *duration `yaml:"timeout"`
	Concurrency      *int      `yaml:"concurrency"`
	MaxToolCalls     *int      `yaml:"maxToolCalls"`
	MaxRetries       *int      `yaml:"maxRetries"`
	Stream           *bool     `yaml:"stream"`
	StructuredOutput *bool     `yaml:"structuredOutput"`
}

// duration accepts "90s", "5m" or a number of seconds.
type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a duration must be like \"30s\" or \"5m\"", n.Line)
	}
	if v, err := time.ParseDuration(n.Value); err == nil {
		*d = duration(v)
		return nil
	}
	if secs, err := strconv.ParseFloat(n.Value, 64); err == nil {
		*d = duration(secs * float64(time.Second))
		return nil
	}
	return fmt.Errorf("line %d: %q is not a duration: write it like \"30s\", \"5m\" or \"1h\"", n.Line, n.Value)
}

func newProvider(name string) *Provider {
	return &Provider{
		Name:             name,
		Timeout:          DefaultTimeout,
		Concurrency:      DefaultConcurrency,
		MaxToolCalls:     DefaultMaxToolCalls,
		MaxRetries:       DefaultMaxRetries,
		Stream:           true,
		StructuredOutput: true,
	}
}

// defaultConfig is the configuration when nothing is configured.
func defaultConfig() *Config {
	p := newProvider(builtinProvider)
	p.BaseURL = builtinBaseURL
	return &Config{Default: builtinProvider, Providers: map[string]*Provider{builtinProvider: p}}
}

// origin records which configuration layer set a provider's baseURL and
// apiKeyEnv, since a key may only go to an address configured beside it.
type origin struct {
	// url and key index layers: 0 is the built-in defaults, then one per
	// file read, then the environment.
	url, key int
}

func loadConfig(files []configFile, getenv func(string) string) (*Config, error) {
	cfg := defaultConfig()
	cfg.Default = ""
	configured := map[string]bool{}
	// layers names each layer for messages, indexed like origin.
	layers := []string{"the built-in defaults"}
	// userConfig names the user's own file, for messages.
	userConfig := "your own configuration file"
	workspaceLayer := map[int]bool{}
	origins := map[string]*origin{}
	originOf := func(name string) *origin {
		if origins[name] == nil {
			origins[name] = &origin{}
		}
		return origins[name]
	}
	for _, file := range files {
		path := file.path
		if !file.workspace {
			userConfig = path
		}
		fc, err := readConfigFile(file)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		cfg.Files = append(cfg.Files, path)
		layer := len(layers)
		layers = append(layers, path)
		workspaceLayer[layer] = file.workspace
		if fc.LLM == nil {
			continue
		}
		if fc.LLM.Default != "" {
			cfg.Default = fc.LLM.Default
		}
		for name, fp := range fc.LLM.Providers {
			if fp == nil {
				continue
			}
			p, ok := cfg.Providers[name]
			if !ok {
				p = newProvider(name)
				cfg.Providers[name] = p
			}
			configured[name] = true
			o := originOf(name)
			// A layer that names the key owns the address it is sent to,
			// even when it repeats the one it had; one that only repeats
			// the address changes nothing.
			if fp.APIKeyEnv != nil {
				o.key = layer
				if fp.BaseURL != nil {
					o.url = layer
				}
			}
			if fp.BaseURL != nil && !sameURL(*fp.BaseURL, p.BaseURL) {
				o.url = layer
			}
			fp.applyTo(p)
		}
	}

	if cfg.Default == "" {
		// One configured provider is the obvious default; with several the
		// user has to say, and the built-in one stands in until they do.
		cfg.Default = builtinProvider
		if len(configured) == 1 {
			for name := range configured {
				cfg.Default = name
			}
		}
	}
	if v := getenv(EnvProvider); v != "" {
		// A name that is not configured is a typo unless the address of a
		// new provider comes with it.
		if _, ok := cfg.Providers[v]; !ok && getenv(EnvBaseURL) == "" {
			return nil, fmt.Errorf("%s=%s: unknown provider (known: %s); name one of them, or give the new one's address with %s",
				EnvProvider, v, strings.Join(cfg.names(), ", "), EnvBaseURL)
		}
		cfg.Default = v
	}
	if base, model := getenv(EnvBaseURL), getenv(EnvModel); base != "" || model != "" {
		p, ok := cfg.Providers[cfg.Default]
		if !ok {
			p = newProvider(cfg.Default)
			cfg.Providers[cfg.Default] = p
		}
		if base != "" {
			if !sameURL(base, p.BaseURL) {
				originOf(cfg.Default).url = len(layers)
			}
			p.BaseURL = base
		}
		if model != "" {
			p.Model = model
		}
	}
	layers = append(layers, EnvBaseURL)
	for name, o := range origins {
		p := cfg.Providers[name]
		// The built-in address (layer 0) is the sidecar's own choice, not
		// a file's, so any layer's key may go there.
		if p.APIKeyEnv != "" && workspaceLayer[o.key] {
			p.keyWithheld = fmt.Sprintf("because its apiKeyEnv comes from %s, which came with the workspace, and a workspace cannot choose which of your environment variables is sent as a key: to send it, set baseURL and apiKeyEnv of provider %q in %s",
				layers[o.key], name, userConfig)
			continue
		}
		if p.APIKeyEnv != "" && o.url != 0 && o.url != o.key {
			fix := fmt.Sprintf("set baseURL and apiKeyEnv of provider %q together, in %s", name, userConfig)
			if o.url == len(layers)-1 {
				fix += " (rather than moving the address with " + EnvBaseURL + ")"
			}
			p.keyWithheld = fmt.Sprintf("because its baseURL comes from %s but its apiKeyEnv from %s, and a key goes only to the address configured beside it, so that a workspace's .mimir/config.yaml cannot send a user's key elsewhere: to send it, %s",
				layers[o.url], layers[o.key], fix)
		}
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// sameURL tells whether two base URLs are the same address, so that a
// layer restating the address it already had is not taken as moving it.
func sameURL(a, b string) bool {
	return strings.TrimRight(a, "/") == strings.TrimRight(b, "/")
}

func readConfigFile(file configFile) (*fileConfig, error) {
	path := file.path
	var data []byte
	var err error
	if file.workspace {
		data, err = engine.ReadWorkspaceConfig(path)
	} else {
		data, err = engine.ReadUserConfig(path)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("read llm configuration %s: %w: make it a readable regular file, or remove it", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	// Strict within llm:, so a misspelt setting is an error rather than a
	// default that silently stays; other sections are left to their owners.
	dec.KnownFields(true)
	var fc fileConfig
	if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("read llm configuration %s: %s", path, strings.Join(readable(te.Errors), "; "))
		}
		return nil, fmt.Errorf("read llm configuration %s: %w", path, err)
	}
	return &fc, nil
}

var unknownField = regexp.MustCompile(`^(line \d+): field (\S+) not found in type llm\.(\w+)$`)

// readable rewords the decoder's complaints about unknown settings, which
// name Go types, into the file's own terms.
func readable(errs []string) []string {
	known := map[string]string{
		"fileProvider": "baseURL, model, apiKeyEnv, timeout, concurrency, maxToolCalls, maxRetries, stream, structuredOutput",
		"fileLLM":      "default, providers",
	}
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e
		if m := unknownField.FindStringSubmatch(e); m != nil && known[m[3]] != "" {
			out[i] = fmt.Sprintf("%s: unknown setting %q (known: %s)", m[1], m[2], known[m[3]])
		}
	}
	return out
}

func (fp *fileProvider) applyTo(p *Provider) {
	set(&p.BaseURL, fp.BaseURL)
	set(&p.Model, fp.Model)
	set(&p.APIKeyEnv, fp.APIKeyEnv)
	if fp.Timeout != nil {
		p.Timeout = time.Duration(*fp.Timeout)
	}
	set(&p.Concurrency, fp.Concurrency)
	set(&p.MaxToolCalls, fp.MaxToolCalls)
	set(&p.MaxRetries, fp.MaxRetries)
	set(&p.Stream, fp.Stream)
	set(&p.StructuredOutput, fp.StructuredOutput)
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// check reports every unusable setting at once, naming the files to fix.
func (c *Config) check() error {
	var problems []string
	where := "the llm configuration"
	if len(c.Files) > 0 {
		where = strings.Join(c.Files, " or ")
	}
	if _, ok := c.Providers[c.Default]; !ok {
		problems = append(problems, fmt.Sprintf("the default provider %q is not configured (configured: %s)", c.Default, strings.Join(c.names(), ", ")))
	}
	for _, name := range c.names() {
		p := c.Providers[name]
		bad := func(format string, args ...any) {
			problems = append(problems, fmt.Sprintf("provider %q: ", name)+fmt.Sprintf(format, args...))
		}
		if p.BaseURL == "" {
			bad("baseURL is missing (for example http://localhost:11434/v1)")
		} else if u, err := url.Parse(p.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("baseURL %q is not an http:// or https:// address", redactURL(p.BaseURL))
		}
		if p.APIKeyEnv != "" && !envName.MatchString(p.APIKeyEnv) {
			// Never echo the value: it may be the key itself, pasted in the
			// wrong place.
			bad("apiKeyEnv must be the NAME of an environment variable that holds the key (like OPENAI_API_KEY), not the key itself")
		}
		if p.Timeout <= 0 {
			bad("timeout must be more than zero")
		}
		if p.Concurrency < 1 || p.Concurrency > maxConcurrency {
			bad("concurrency must be between 1 and %d, not %d", maxConcurrency, p.Concurrency)
		}
		if p.MaxToolCalls < 1 || p.MaxToolCalls > maxToolCalls {
			bad("maxToolCalls must be between 1 and %d, not %d", maxToolCalls, p.MaxToolCalls)
		}
		if p.MaxRetries < 0 || p.MaxRetries > maxRetries {
			bad("maxRetries must be between 0 and %d, not %d", maxRetries, p.MaxRetries)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("llm configuration (%s): %s", where, strings.Join(problems, "; "))
	}
	return nil
}

func (c *Config) names() []string {
	names := make([]string, 0, len(c.Providers))
	for name := range c.Providers {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// redactURL hides credentials written into a URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(an address that does not parse)"
	}
	return u.Redacted()
}
