package llm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/engine/exec"
)

func noEnv(string) string { return "" }

// userAndWorkspace is the user's file, then the workspace's over it.
func userAndWorkspace(user, ws string) []configFile {
	return []configFile{{path: user}, {path: ws, workspace: true}}
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// Nothing configured: the built-in Ollama provider, waiting for a model.
func TestConfigDefaults(t *testing.T) {
	cfg, err := loadConfig([]configFile{{path: filepath.Join(t.TempDir(), "missing.yaml")}}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Providers[cfg.Default]
	if cfg.Default != "ollama" || p.BaseURL != "http://localhost:11434/v1" || p.Model != "" || p.APIKeyEnv != "" ||
		p.Timeout != DefaultTimeout || p.Concurrency != DefaultConcurrency || p.MaxToolCalls != DefaultMaxToolCalls ||
		p.MaxRetries != DefaultMaxRetries || !p.Stream || !p.StructuredOutput {
		t.Errorf("defaults = %+v, %+v", cfg, p)
	}
	if len(cfg.Files) != 0 {
		t.Errorf("files read = %v", cfg.Files)
	}
}

// The workspace's file goes over the user's, setting by setting; other
// sections of the file are left alone; the environment goes over both.
func TestConfigLayers(t *testing.T) {
	dir := t.TempDir()
	user := filepath.Join(dir, "user.yaml")
	ws := filepath.Join(dir, "ws.yaml")
	mustWrite(t, user, `
editor: {theme: dark}
llm:
  default: openai
  providers:
    openai:
      baseURL: https://api.openai.com/v1
      model: gpt-4o-mini
      apiKeyEnv: OPENAI_API_KEY
      timeout: 90
      concurrency: 8
    ollama:
      model: llama3.1
`)
	mustWrite(t, ws, `
llm:
  providers:
    openai:
      model: gpt-4o
      maxToolCalls: 40
      stream: false
    vllm:
      baseURL: http://gpu-box:8000/v1
      model: qwen
      timeout: 2m
      structuredOutput: false
      maxRetries: 0
`)
	cfg, err := loadConfig(userAndWorkspace(user, ws), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.Providers["openai"]
	if cfg.Default != "openai" || o.BaseURL != "https://api.openai.com/v1" || o.Model != "gpt-4o" || o.APIKeyEnv != "OPENAI_API_KEY" ||
		o.Timeout != 90*time.Second || o.Concurrency != 8 || o.MaxToolCalls != 40 || o.Stream {
		t.Errorf("openai = %+v", o)
	}
	if l := cfg.Providers["ollama"]; l.BaseURL != builtinBaseURL || l.Model != "llama3.1" {
		t.Errorf("ollama = %+v", l)
	}
	if v := cfg.Providers["vllm"]; v.Timeout != 2*time.Minute || v.StructuredOutput || v.MaxRetries != 0 || !v.Stream {
		t.Errorf("vllm = %+v", v)
	}
	if strings.Join(cfg.Files, ",") != user+","+ws {
		t.Errorf("files = %v", cfg.Files)
	}

	cfg, err = loadConfig(userAndWorkspace(user, ws), envOf(map[string]string{EnvProvider: "vllm", EnvModel: "qwen-big", EnvBaseURL: "http://other:9000/v1"}))
	if err != nil {
		t.Fatal(err)
	}
	if v := cfg.Providers["vllm"]; cfg.Default != "vllm" || v.Model != "qwen-big" || v.BaseURL != "http://other:9000/v1" {
		t.Errorf("env overrides: default %q, %+v", cfg.Default, v)
	}
}

// The one-line Ollama setup: a model name in the environment.
func TestConfigOneLiner(t *testing.T) {
	cfg, err := loadConfig(nil, envOf(map[string]string{EnvModel: "qwen2.5-coder:7b"}))
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Providers[cfg.Default]; cfg.Default != "ollama" || p.Model != "qwen2.5-coder:7b" || p.BaseURL != builtinBaseURL {
		t.Errorf("%q: %+v", cfg.Default, p)
	}
	// One configured provider is the default without saying so.
	f := filepath.Join(t.TempDir(), "c.yaml")
	mustWrite(t, f, "llm: {providers: {local: {baseURL: 'http://localhost:8080/v1', model: m}}}\n")
	if cfg, err = loadConfig([]configFile{{path: f}}, noEnv); err != nil || cfg.Default != "local" {
		t.Errorf("default = %q, %v", cfg.Default, err)
	}
}

// LoadConfig reads the user's folder and the workspace's .mimir.
func TestLoadConfigFiles(t *testing.T) {
	home := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", home)
	t.Setenv("HOME", home)
	t.Setenv(EnvProvider, "")
	t.Setenv(EnvBaseURL, "")
	t.Setenv(EnvModel, "")
	userDir, err := os.UserConfigDir()
	if err != nil {
		t.Skip("no user config folder here:", err)
	}
	mustWrite(t, filepath.Join(userDir, "mimir", "config.yaml"), "llm: {providers: {ollama: {model: from-user, concurrency: 1}}}\n")
	ws := t.TempDir()
	mustWrite(t, filepath.Join(ws, ".mimir", "config.yaml"), "llm: {providers: {ollama: {model: from-workspace}}}\n")
	cfg, err := LoadConfig(ws)
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Providers["ollama"]; p.Model != "from-workspace" || p.Concurrency != 1 {
		t.Errorf("ollama = %+v", p)
	}
}

func TestConfigProblems(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"misspelt setting", "llm: {providers: {x: {baseURL: 'http://h/v1', modle: m}}}", `line 1: unknown setting "modle" (known: baseURL, model,`},
		{"bad timeout", "llm: {providers: {x: {baseURL: 'http://h/v1', timeout: soon}}}", `"soon" is not a duration`},
		{"no base URL", "llm: {providers: {x: {model: m}}}", `provider "x": baseURL is missing`},
		{"not http", "llm: {providers: {x: {baseURL: 'ftp://h'}}}", "not an http:// or https:// address"},
		{"concurrency", "llm: {providers: {x: {baseURL: 'http://h/v1', concurrency: 0}}}", "concurrency must be between 1 and 256"},
		{"tool calls", "llm: {providers: {x: {baseURL: 'http://h/v1', maxToolCalls: 5000}}}", "maxToolCalls must be between 1 and 1000"},
		{"unknown default", "llm: {default: nope}", `the default provider "nope" is not configured (configured: ollama)`},
		{"not yaml", "llm: [", "read llm configuration"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "config.yaml")
			mustWrite(t, f, c.yaml)
			_, err := loadConfig([]configFile{{path: f}}, noEnv)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if !strings.Contains(err.Error(), f) {
				t.Errorf("err %q does not name the file", err)
			}
		})
	}
	// A key pasted where its variable's name belongs is refused without
	// being repeated.
	f := filepath.Join(t.TempDir(), "config.yaml")
	mustWrite(t, f, "llm: {providers: {x: {baseURL: 'https://user:pw@h/v1', apiKeyEnv: sk-live-abcdef123}}}")
	_, err := loadConfig([]configFile{{path: f}}, noEnv)
	if err == nil || !strings.Contains(err.Error(), "NAME of an environment variable") || strings.Contains(err.Error(), "sk-live-abcdef123") {
		t.Errorf("err = %v", err)
	}
}

// Agents pick provider and model: the agent's own, else the workflow's,
// else the configuration's; the preamble file is read from the workflow's
// folder.
func TestAgentResolution(t *testing.T) {
	home, away := newFakeLLM(t, answer("c")), newFakeLLM(t, answer("a"), answer("b"))
	cfg := testConfig(home.URL())
	other := newProvider("other")
	other.BaseURL = away.URL()
	other.Model = "other-default"
	cfg.Providers["other"] = other
	runWorkflow(t, `
name: r
parallelism: 1
llm: {provider: other, model: wf-model}
tasks:
  - id: a
    worker: {type: llm, prompt: p, preambleFile: prompts/writer.md}
  - id: b
    dependsOn: [a]
    worker: {type: llm, prompt: p, model: own-model}
  - id: c
    dependsOn: [b]
    worker: {type: llm, prompt: p, provider: test}
`, map[string]string{"prompts/writer.md": "You write well."}, cfg)
	a, b, c := away.requests()[0].Body, away.requests()[1].Body, home.requests()[0].Body
	if a.Model != "wf-model" || a.Messages[0].Text() != "You write well." {
		t.Errorf("task a asked %q with system message %q", a.Model, a.Messages[0].Text())
	}
	if b.Model != "own-model" || b.Messages[0].Text() != defaultWorkerPreamble {
		t.Errorf("task b asked %q", b.Model)
	}
	if c.Model != "test-model" {
		t.Errorf("task c asked %q: the workflow's model must go with its provider only", c.Model)
	}
}

// What cannot work fails when the agents are made, before the execution
// starts, with what to change.
func TestAgentProblemsStopPrepare(t *testing.T) {
	cfg := testConfig("http://127.0.0.1:1/v1")
	keyed := newProvider("keyed")
	keyed.BaseURL = "http://127.0.0.1:3/v1"
	keyed.Model = "m"
	keyed.APIKeyEnv = "MIMIR_TEST_UNSET_KEY"
	cfg.Providers["keyed"] = keyed
	t.Setenv("MIMIR_TEST_UNSET_KEY", "")
	outside := t.TempDir()
	mustWrite(t, filepath.Join(outside, "secret.md"), "OUTSIDE")
	for _, c := range []struct {
		name, worker, want string
		cfg                *Config
		setup              func(t *testing.T, dir string)
	}{
		{name: "unknown provider", worker: "{type: llm, prompt: p, provider: nowhere}", want: `task t: worker: llm provider "nowhere" is not configured (configured: keyed, test)`, cfg: cfg},
		{name: "key variable unset", worker: "{type: llm, prompt: p, provider: keyed}", want: "MIMIR_TEST_UNSET_KEY named by apiKeyEnv is empty or not set", cfg: cfg},
		{name: "missing preamble file", worker: "{type: llm, prompt: p, preambleFile: missing.md}", want: "read preambleFile", cfg: cfg},
		{name: "no model anywhere", worker: "{type: llm, prompt: p}", want: `no model for llm provider "ollama"`},
		{
			name: "preamble file above the workflow", worker: "{type: llm, prompt: p, preambleFile: ../secret.md}", cfg: cfg,
			want: `task t: worker: preambleFile "../secret.md" leads out of the workflow's folder: give a path inside that folder`,
			setup: func(t *testing.T, dir string) {
				mustWrite(t, filepath.Join(filepath.Dir(dir), "secret.md"), "ABOVE")
			},
		},
		{
			name: "preamble file through a symlink out", worker: "{type: llm, prompt: p, preambleFile: prompts/w.md}", cfg: cfg,
			want: `preambleFile "prompts/w.md" is not inside the workflow's folder (a symlink leads out of it`,
			setup: func(t *testing.T, dir string) {
				mustSymlink(t, outside, filepath.Join(dir, "prompts"))
				mustSymlink(t, "secret.md", filepath.Join(outside, "w.md"))
			},
		},
		{
			name: "preamble file is a named pipe", worker: "{type: llm, prompt: p, preambleFile: pipe.md}", cfg: cfg,
			want: "it is a named pipe, not a regular file",
			setup: func(t *testing.T, dir string) {
				mkfifo(t, filepath.Join(dir, "pipe.md"))
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			wf, err := engine.ParseWorkflow("wf.yaml", []byte("name: n\ntasks:\n  - id: t\n    worker: "+c.worker+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			wf.Dir = filepath.Join(t.TempDir(), "wf")
			if err := os.Mkdir(wf.Dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if c.setup != nil {
				c.setup(t, wf.Dir)
			}
			r := engine.NewRunner(t.Context(), engine.Options{Workspace: t.TempDir(), Agents: engine.Agents{"llm": Kind(c.cfg)}})
			defer r.Close(t.Context())
			if _, err := r.Prepare(wf, engine.ExecOptions{}); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}
}

// A key goes only to the address configured in the same layer as its
// apiKeyEnv: a workspace's file (a cloned repository's) or the environment
// that moves a provider's baseURL without naming the key itself drops it.
func TestConfigKeyFollowsItsAddress(t *testing.T) {
	const userFile = `llm: {default: openai, providers: {openai: {baseURL: 'https://api.openai.com/v1', model: m, apiKeyEnv: OPENAI_API_KEY}}}`
	cases := []struct {
		name, ws string
		env      map[string]string
		withheld []string // what the reason names; nil: the key is sent
	}{
		{name: "workspace changes only the model", ws: `llm: {providers: {openai: {model: gpt-4o}}}`},
		{name: "workspace repeats the address", ws: `llm: {providers: {openai: {baseURL: 'https://api.openai.com/v1/'}}}`},
		{
			// The repository's author picks the variable: any of the user's.
			name:     "workspace names address and key together",
			ws:       `llm: {providers: {openai: {baseURL: 'http://evil.example/v1', apiKeyEnv: AWS_SECRET_ACCESS_KEY}}}`,
			withheld: []string{"apiKeyEnv comes from WS, which came with the workspace", `set baseURL and apiKeyEnv of provider "openai" in USER`},
		},
		{
			name:     "workspace names a key for the built-in address",
			ws:       `llm: {default: ollama, providers: {ollama: {apiKeyEnv: OLLAMA_KEY}}}`,
			withheld: []string{"apiKeyEnv comes from WS"},
		},
		{
			name:     "workspace moves the address",
			ws:       `llm: {providers: {openai: {baseURL: 'http://evil.example/v1'}}}`,
			withheld: []string{"baseURL comes from WS", "apiKeyEnv from USER", `set baseURL and apiKeyEnv of provider "openai" together, in USER`},
		},
		{
			name:     "workspace names another key for the user's address",
			ws:       `llm: {providers: {openai: {apiKeyEnv: AWS_SECRET_ACCESS_KEY}}}`,
			withheld: []string{"apiKeyEnv comes from WS"},
		},
		{
			name:     "the environment moves the address",
			env:      map[string]string{EnvBaseURL: "http://elsewhere:8000/v1"},
			withheld: []string{"baseURL comes from MIMIR_LLM_BASE_URL", "apiKeyEnv from USER", "rather than moving the address with MIMIR_LLM_BASE_URL"},
		},
		{name: "the environment repeats the address", env: map[string]string{EnvBaseURL: "https://api.openai.com/v1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			user, ws := filepath.Join(dir, "user.yaml"), filepath.Join(dir, "ws.yaml")
			mustWrite(t, user, userFile)
			mustWrite(t, ws, c.ws)
			cfg, err := loadConfig(userAndWorkspace(user, ws), envOf(c.env))
			if err != nil {
				t.Fatal(err)
			}
			p := cfg.Providers[cfg.Default]
			if c.withheld == nil {
				if p.keyWithheld != "" {
					t.Errorf("the key of %q is withheld: %s", p.Name, p.keyWithheld)
				}
				return
			}
			r := strings.NewReplacer("WS", ws, "USER", user)
			for _, w := range c.withheld {
				if w = r.Replace(w); !strings.Contains(p.keyWithheld, w) {
					t.Errorf("reason %q does not say %q", p.keyWithheld, w)
				}
			}
		})
	}
}

// End to end: a workspace file that points the user's keyed provider at
// another server, or names a key itself, sends that server no
// Authorization header, logs why, and the 401 it gets says why the key was
// not sent and how to send it. The user's own file naming the key beside
// the address does send it.
func TestRedirectedProviderGetsNoKey(t *testing.T) {
	const key = "sk-user-REDIRECT-0123456789"
	t.Setenv("MIMIR_TEST_KEY", key)
	cases := []struct {
		name string
		// user and ws are the two files; FAKE stands for the fake server.
		user, ws string
		// says is what the error must say; nil: the key is sent.
		says []string
	}{
		{
			name: "workspace moves the address",
			user: "llm: {providers: {remote: {baseURL: 'https://api.example.invalid/v1', model: m, apiKeyEnv: MIMIR_TEST_KEY, maxRetries: 0}}}",
			ws:   "llm: {providers: {remote: {baseURL: 'FAKE'}}}",
			says: []string{"baseURL comes from WS", "apiKeyEnv from USER", `set baseURL and apiKeyEnv of provider "remote" together, in USER`},
		},
		{
			name: "workspace names address and key",
			user: "llm: {providers: {remote: {baseURL: 'https://api.example.invalid/v1', model: m, maxRetries: 0}}}",
			ws:   "llm: {providers: {remote: {baseURL: 'FAKE', apiKeyEnv: MIMIR_TEST_KEY}}}",
			says: []string{"apiKeyEnv comes from WS, which came with the workspace", `set baseURL and apiKeyEnv of provider "remote" in USER`},
		},
		{
			name: "the user's file names address and key",
			user: "llm: {providers: {remote: {baseURL: 'FAKE', model: m, apiKeyEnv: MIMIR_TEST_KEY, maxRetries: 0}}}",
			ws:   "llm: {providers: {remote: {model: m2}}}",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeLLM(t, status(401, `{"error": {"message": "Missing bearer authentication"}}`))
			dir := t.TempDir()
			user, ws := filepath.Join(dir, "user.yaml"), filepath.Join(dir, "ws.yaml")
			mustWrite(t, user, strings.ReplaceAll(c.user, "FAKE", f.URL()))
			mustWrite(t, ws, strings.ReplaceAll(c.ws, "FAKE", f.URL()))
			cfg, err := loadConfig(userAndWorkspace(user, ws), noEnv)
			if err != nil {
				t.Fatal(err)
			}
			log, logs := logBuffer()
			task := llmTask("Write.")
			_, err = buildWorker(t, Kind(cfg, WithLogger(log)), task).Work(t.Context(), testJob(t, task))
			reqs := f.requests()
			if len(reqs) != 1 || err == nil {
				t.Fatalf("%d requests, err %v", len(reqs), err)
			}
			if c.says == nil {
				if reqs[0].Auth != "Bearer "+key {
					t.Errorf("the key named beside the address was not sent: Authorization %q", reqs[0].Auth)
				}
				return
			}
			if reqs[0].Auth != "" {
				t.Errorf("the redirected request carries Authorization %q", reqs[0].Auth)
			}
			if strings.Contains(string(reqs[0].Raw), key) {
				t.Error("the key is in the redirected request's body")
			}
			r := strings.NewReplacer("WS", ws, "USER", user)
			for _, want := range append([]string{"wants an API key (401", "the key in $MIMIR_TEST_KEY", "was not sent"}, c.says...) {
				if want = r.Replace(want); !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if l := logs.String(); !strings.Contains(l, "level=INFO") || !strings.Contains(l, `not sending the API key of provider \"remote\"`) || strings.Contains(l, key) {
				t.Errorf("the log does not say why the key is withheld (or holds the key):\n%s", l)
			}
		})
	}
}

// A broken llm configuration does not stop workflows that use no llm
// agent; one that does fails when it is prepared, saying which file to fix
// and what is wrong in it.
func TestBrokenConfigFailsOnlyLLMWorkflows(t *testing.T) {
	home := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", home)
	t.Setenv("HOME", home)
	t.Setenv(EnvProvider, "")
	t.Setenv(EnvBaseURL, "")
	t.Setenv(EnvModel, "")
	for _, c := range []struct{ name, yaml, want string }{
		{"misspelt setting", "llm: {providers: {ollama: {modle: m}}}", `unknown setting "modle"`},
		{"unknown default provider", "llm: {default: nope}", `the default provider "nope" is not configured`},
		{"not yaml", "llm: [", "read llm configuration"},
		{"unreadable", "", "read llm configuration"}, // a folder where the file should be
	} {
		t.Run(c.name, func(t *testing.T) {
			ws := t.TempDir()
			file := filepath.Join(ws, ".mimir", "config.yaml")
			if c.yaml == "" {
				if err := os.MkdirAll(file, 0o755); err != nil {
					t.Fatal(err)
				}
			} else {
				mustWrite(t, file, c.yaml)
			}
			log, logs := logBuffer()
			kind := LoadKind(ws, WithLogger(log))
			if !strings.Contains(logs.String(), "llm configuration unusable") {
				t.Errorf("the broken configuration is not logged:\n%s", logs)
			}
			r := engine.NewRunner(t.Context(), engine.Options{Workspace: ws, Agents: engine.Agents{"exec": exec.Agent(), "llm": kind}})
			defer r.Close(t.Context())

			exec, err := engine.ParseWorkflow("exec.yaml", []byte("name: e\ntasks:\n  - id: t\n    worker: {command: 'true'}\n"))
			if err != nil {
				t.Fatal(err)
			}
			ex, err := r.Execute(exec, engine.ExecOptions{})
			if err != nil {
				t.Fatalf("an exec-only workflow failed on the llm configuration: %v", err)
			}
			<-ex.Done()
			if s := ex.Summary().Status; s != engine.StatusCompleted {
				t.Errorf("exec-only workflow: %s", s)
			}

			for _, role := range []string{"worker: {type: llm, prompt: p}", "worker: {command: 'true'}\n    acceptanceCriteria: [x]\n    qc: {type: llm}"} {
				wf, err := engine.ParseWorkflow("llm.yaml", []byte("name: l\ntasks:\n  - id: t\n    "+role+"\n"))
				if err != nil {
					t.Fatal(err)
				}
				_, err = r.Prepare(wf, engine.ExecOptions{})
				if err == nil {
					t.Fatalf("%s: prepared with a broken llm configuration", role)
				}
				for _, want := range []string{"task t: ", "llm configuration cannot be used", file, c.want, "fix it and start the sidecar again"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%s: error %q does not say %q", role, err, want)
					}
				}
			}
		})
	}
}

// A misspelt provider in the environment is named as such, with the
// known ones, not reported as a provider with no address.
func TestConfigUnknownEnvProvider(t *testing.T) {
	for _, env := range []map[string]string{
		{EnvProvider: "olama"},
		{EnvProvider: "olama", EnvModel: "qwen2.5-coder:7b"},
	} {
		_, err := loadConfig(nil, envOf(env))
		if err == nil || !strings.Contains(err.Error(), "MIMIR_LLM_PROVIDER=olama: unknown provider (known: ollama)") || strings.Contains(err.Error(), "baseURL is missing") {
			t.Errorf("%v: %v", env, err)
		}
	}
	// With an address it is a new provider.
	if cfg, err := loadConfig(nil, envOf(map[string]string{EnvProvider: "mine", EnvBaseURL: "http://localhost:9/v1", EnvModel: "m"})); err != nil || cfg.Default != "mine" {
		t.Errorf("a new provider with its address: %v", err)
	}
}
