package llm

import (
	"encoding/json"
	"errors"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// Each failure people meet is an error that says what to change, and
// fails the attempt rather than crashing or hanging.
func TestErrorsSayWhatToChange(t *testing.T) {
	t.Setenv("MIMIR_TEST_KEY", "sk-some-key")
	cases := []struct {
		name     string
		script   []step
		mod      func(*Provider)
		kind     failure
		requests int
		want     []string
	}{
		{
			name:     "wrong model name",
			script:   []step{status(404, `{"error": {"message": "The model 'test-model' does not exist", "type": "invalid_request_error", "code": "model_not_found"}}`)},
			kind:     failModel,
			requests: 1,
			want:     []string{`has no model "test-model" (404`, "set `model`"},
		},
		{
			name:     "ollama's wrong model name",
			script:   []step{status(404, `{"error": {"message": "model \"test-model\" not found, try pulling it first", "type": "api_error"}}`)},
			kind:     failModel,
			requests: 1,
			want:     []string{`has no model "test-model"`, "try pulling it first"},
		},
		{
			name:     "wrong base URL",
			script:   []step{status(404, `404 page not found`)},
			kind:     failNotFound,
			requests: 1,
			want:     []string{"has no chat-completions API (404", "fix `baseURL`", "/v1"},
		},
		{
			// What python -m http.server answers a POST with.
			name:     "not an LLM server",
			script:   []step{status(501, "<!DOCTYPE HTML>\n<html><head><title>Error response</title></head><body><h1>Error response</h1><p>Error code: 501</p></body></html>")},
			kind:     failNotFound,
			requests: 1,
			want:     []string{"does not serve an OpenAI-compatible chat-completions API (501 Not Implemented", "with a web page", "fix `baseURL`"},
		},
		{
			name:     "a proxy's error page, retried",
			script:   []step{status(502, "<html><body>Bad Gateway</body></html>"), status(502, "<html><body>Bad Gateway</body></html>"), status(502, "<html><body>Bad Gateway</body></html>")},
			kind:     failServer,
			requests: 3,
			want:     []string{"failed (502 Bad Gateway, with a web page rather than an API's answer)"},
		},
		{
			name:     "wrong key",
			script:   []step{status(401, `{"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}`)},
			mod:      func(p *Provider) { p.APIKeyEnv = "MIMIR_TEST_KEY" },
			kind:     failAuth,
			requests: 1,
			want:     []string{"refused the API key from $MIMIR_TEST_KEY (401: Incorrect API key provided): set a valid key in MIMIR_TEST_KEY"},
		},
		{
			name:     "missing key",
			script:   []step{status(401, `{"error": {"message": "Missing bearer authentication", "code": 401}}`)},
			kind:     failAuth,
			requests: 1,
			want:     []string{"wants an API key (401", "`apiKeyEnv`"},
		},
		{
			name:     "server error, retried then given up",
			script:   []step{status(500, `{"error": {"message": "llama runner process has terminated"}}`), status(502, `bad gateway`), status(503, `{"message": "overloaded"}`)},
			kind:     failServer,
			requests: 3,
			want:     []string{"failed (503 Service Unavailable: overloaded)", "check the server's log", "still so after 2 retries"},
		},
		{
			name:     "server error, then an answer",
			script:   []step{status(500, `{}`), answer("fine")},
			requests: 2,
		},
		{
			name:     "rate limited past the retries",
			script:   []step{status(429, `{}`, "Retry-After", "0"), status(429, `{}`), status(429, `{"error": {"message": "slow down"}}`)},
			kind:     failRateLimit,
			requests: 3,
			want:     []string{"rate limiting requests (429: slow down)", "lower `concurrency`", "still so after 2 retries"},
		},
		{
			name:     "rate limited for too long",
			script:   []step{status(429, `{}`, "Retry-After", "3600")},
			kind:     failRateLimit,
			requests: 1,
			want:     []string{"it asks to wait 1h0m0s before retrying, longer than the 2m0s the sidecar waits)"},
		},
		{
			name:     "rate limited, then for too long",
			script:   []step{status(429, `{}`, "Retry-After-Ms", "5"), status(429, `{}`, "Retry-After", "3600")},
			kind:     failRateLimit,
			requests: 2,
			want:     []string{"it asks to wait 1h0m0s before retrying", "; 1 retry made already, having waited 5ms)"},
		},
		{
			name:     "context length",
			script:   []step{status(400, `{"error": {"message": "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.", "type": "invalid_request_error", "code": "context_length_exceeded"}}`)},
			kind:     failContext,
			requests: 1,
			want:     []string{`context window of model "test-model"`, "maximum context length is 8192", "longer context", "split the task"},
		},
		{
			name:     "llama.cpp's context length",
			script:   []step{status(400, `{"error": {"code": 400, "message": "the request exceeds the available context size, try increasing it", "type": "exceed_context_size_error"}}`)},
			kind:     failContext,
			requests: 1,
			want:     []string{"context window"},
		},
		{
			name:     "model without tools",
			script:   []step{status(400, `{"error": {"message": "registry.ollama.ai/library/gemma:2b does not support tools"}}`)},
			kind:     failNoTools,
			requests: 1,
			want:     []string{"cannot call tools", "supports tool calling"},
		},
		{
			name:     "timeout",
			script:   []step{hang()},
			mod:      func(p *Provider) { p.Timeout = 200 * time.Millisecond },
			kind:     failTimeout,
			requests: 1,
			want:     []string{"did not answer within 200ms", "raise `timeout`"},
		},
		{
			name:     "not a chat completion",
			script:   []step{status(200, `<html>hello</html>`)},
			mod:      nonStreaming,
			kind:     failBadAnswer,
			requests: 1,
			want:     []string{"not a chat completion", "`baseURL`"},
		},
		{
			name:     "no stream",
			script:   []step{status(200, `{"choices": []}`)},
			kind:     failBadAnswer,
			requests: 1,
			want:     []string{"without a stream", "`stream: false`"},
		},
		{
			name: "connection lost mid-answer, then an answer",
			script: []step{func(w http.ResponseWriter, r *http.Request, req *seenRequest) {
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close()
				}
			}, answer("fine")},
			requests: 2,
		},
		{
			name: "error inside a stream",
			script: []step{func(w http.ResponseWriter, r *http.Request, req *seenRequest) {
				w.Header().Set("Content-Type", "text/event-stream")
				w.Write([]byte("data: {\"error\": {\"message\": \"prompt is too long for the context window\"}}\n\n"))
			}},
			kind:     failContext,
			requests: 1,
			want:     []string{"context window"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeLLM(t, c.script...)
			mods := []func(*Provider){}
			if c.mod != nil {
				mods = append(mods, c.mod)
			}
			task := llmTask("Write.")
			w := buildWorker(t, Kind(testConfig(f.URL(), mods...), withBackoff(time.Millisecond)), task)
			began := time.Now()
			_, err := w.Work(t.Context(), testJob(t, task))
			if took := time.Since(began); took > 5*time.Second {
				t.Errorf("took %s", took)
			}
			if n := len(f.requests()); n != c.requests {
				t.Errorf("%d requests, want %d", n, c.requests)
			}
			if c.kind == 0 {
				if err != nil {
					t.Errorf("err = %v", err)
				}
				return
			}
			var ce *callError
			if !errors.As(err, &ce) || ce.kind != c.kind {
				t.Fatalf("err = %v (%T), want kind %d", err, err, c.kind)
			}
			for _, want := range append(c.want, f.srv.URL, `provider "test"`) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "<html") || strings.Contains(err.Error(), "<!DOCTYPE") {
				t.Errorf("the error dumps a web page: %v", err)
			}
			if errors.Is(err, errRequestTimeout) || strings.Contains(err.Error(), "context deadline exceeded") {
				t.Errorf("a request timeout reads like the task's deadline: %v", err)
			}
		})
	}
}

// An endpoint nobody listens on fails at once with what to do.
func TestErrorEndpointDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	task := llmTask("Write.")
	w := buildWorker(t, Kind(testConfig("http://"+addr+"/v1")), task)
	_, err = w.Work(t.Context(), testJob(t, task))
	var ce *callError
	if !errors.As(err, &ce) || ce.kind != failUnreachable {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"cannot reach the endpoint at http://" + addr + "/v1", "connection refused", "start the server or fix `baseURL`"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// A 429's Retry-After is waited out before the retry: the server's own
// clock shows the gap.
func TestRetryAfterHonoured(t *testing.T) {
	f := newFakeLLM(t,
		status(429, `{"error": {"message": "rate limited"}}`, "Retry-After", "1"),
		answer("done"),
	)
	task := llmTask("Write.")
	log, logs := logBuffer()
	w := buildWorker(t, Kind(testConfig(f.URL()), WithLogger(log), withBackoff(time.Millisecond)), task)
	res, err := w.Work(t.Context(), testJob(t, task))
	if err != nil || res.Output != "done" {
		t.Fatalf("res = %+v, err = %v", res, err)
	}
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	if gap := reqs[1].At.Sub(reqs[0].At); gap < time.Second || gap > 3*time.Second {
		t.Errorf("the retry came %s after the 429, want the 1s Retry-After asked for", gap)
	}
	if !strings.Contains(logs.String(), "retrying") || !strings.Contains(logs.String(), "status=429") {
		t.Errorf("the retry is not logged:\n%s", logs)
	}

	// retry-after-ms, as OpenAI sends it, and an HTTP date.
	h := http.Header{}
	h.Set("Retry-After-Ms", "250")
	if d := retryAfter(h, time.Now()); d != 250*time.Millisecond {
		t.Errorf("retry-after-ms 250 = %s", d)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h = http.Header{}
	h.Set("Retry-After", now.Add(7*time.Second).Format(http.TimeFormat))
	if d := retryAfter(h, now); d != 7*time.Second {
		t.Errorf("Retry-After date = %s", d)
	}
}

// Without Retry-After the waits grow: exponential backoff.
func TestBackoffGrows(t *testing.T) {
	f := newFakeLLM(t, status(503, `{}`), status(503, `{}`), answer("done"))
	task := llmTask("Write.")
	w := buildWorker(t, Kind(testConfig(f.URL()), withBackoff(100*time.Millisecond)), task)
	if _, err := w.Work(t.Context(), testJob(t, task)); err != nil {
		t.Fatal(err)
	}
	r := f.requests()
	first, second := r[1].At.Sub(r[0].At), r[2].At.Sub(r[1].At)
	if first < 100*time.Millisecond || second < 200*time.Millisecond {
		t.Errorf("waits %s then %s, want at least 100ms then 200ms", first, second)
	}
}

// The API key goes in the Authorization header and nowhere else: not in
// errors (even when the server echoes it), logs, events, or the commands
// a model runs. And a user's OPENAI_API_KEY is never sent to a provider
// that was not given it.
func TestAPIKeyStaysSecret(t *testing.T) {
	const key = "sk-test-SECRET-0123456789"
	t.Setenv("MIMIR_TEST_KEY", key)
	t.Setenv("OPENAI_API_KEY", "sk-users-own-openai-key")

	f := newFakeLLM(t,
		answer("", call{Name: toolRun, Args: map[string]any{"command": `echo "key=[$MIMIR_TEST_KEY]"; env | grep -c SECRET || true`}}),
		answer("done"),
		status(401, `{"error": {"message": "Incorrect API key provided: `+key+`", "code": "invalid_api_key"}}`),
	)
	cfg := testConfig(f.URL(), func(p *Provider) { p.APIKeyEnv = "MIMIR_TEST_KEY" })
	log, logs := logBuffer()
	events, _ := runWorkflow(t, `
name: secret
tasks:
  - id: t
    maxRetries: 0
    acceptanceCriteria: [it is done]
    worker: {type: llm, prompt: Do it., allowCommands: true}
    qc: {type: llm}
`, nil, cfg, WithLogger(log))

	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for _, r := range reqs {
		if r.Auth != "Bearer "+key {
			t.Errorf("Authorization = %q", r.Auth)
		}
	}
	out := reqs[1].Body.Messages[3].Text()
	if strings.Contains(out, key) || !strings.Contains(out, "key=[]") || !strings.Contains(out, "\n0\n") {
		t.Errorf("the command saw the key: %q", out)
	}

	qcDone := eventsNamed(events, engine.EventQCComplete)
	if len(qcDone) != 1 || *qcDone[0].Data.Passed {
		t.Fatalf("qc-complete = %+v", qcDone)
	}
	if fb := qcDone[0].Data.Gap.Feedback; !strings.Contains(fb, "refused the API key from $MIMIR_TEST_KEY (401") || !strings.Contains(fb, "set a valid key") {
		t.Errorf("the failed QC's gap does not say what to change: %q", fb)
	}
	all, _ := json.Marshal(events)
	if strings.Contains(string(all), key) {
		t.Error("the key is in the events")
	}
	if strings.Contains(logs.String(), key) {
		t.Errorf("the key is in the logs:\n%s", logs)
	}
	if !strings.Contains(string(all), "[redacted]") {
		t.Error("the server's echo of the key was not redacted from the message")
	}

	// No apiKeyEnv: no Authorization at all, whatever OPENAI_API_KEY holds.
	f2 := newFakeLLM(t, answer("done"))
	task := llmTask("Write.")
	if _, err := buildWorker(t, Kind(testConfig(f2.URL())), task).Work(t.Context(), testJob(t, task)); err != nil {
		t.Fatal(err)
	}
	if a := f2.requests()[0].Auth; a != "" {
		t.Errorf("a provider without apiKeyEnv sent Authorization %q", a)
	}
}

// A worker whose endpoint fails is a failed attempt with the message in
// worker-complete and in the next attempt's gap; the task goes on.
func TestWorkerErrorIsFailedAttempt(t *testing.T) {
	f := newFakeLLM(t,
		status(404, `{"error": {"message": "model not found", "code": "model_not_found"}}`),
		answer("done"),
	)
	events, _ := runWorkflow(t, `
name: retry
tasks:
  - id: t
    worker: {type: llm, prompt: Do it.}
`, nil, testConfig(f.URL()))
	done := eventsNamed(events, engine.EventWorkerComplete)
	if len(done) != 2 || *done[0].Data.OK || !*done[1].Data.OK {
		t.Fatalf("worker-complete events = %+v", done)
	}
	if !strings.Contains(done[0].Data.Error, `has no model "test-model"`) {
		t.Errorf("error = %q", done[0].Data.Error)
	}
	starts := eventsNamed(events, engine.EventWorkerStart)
	if g := starts[1].Data.Gap; g == nil || !strings.Contains(g.Feedback, `has no model "test-model"`) {
		t.Errorf("the retry's gap = %+v", g)
	}
	if len(eventsNamed(events, engine.EventTaskComplete)) != 1 {
		t.Error("the task did not complete on its retry")
	}
}

// A certificate this machine does not trust, or an https:// address of a
// server without TLS, is a certificate problem with what to change, and
// is not retried as if the connection had broken off.
func TestTLSProblemsAreNotRetried(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("a request got through a certificate that is not trusted")
	}))
	srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // the handshake errors are expected
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	plain := newFakeLLM(t)

	for _, c := range []struct {
		name, baseURL string
		want          []string
	}{
		{"self-signed certificate", srv.URL + "/v1", []string{"certificate this machine does not trust", "trust store", "SSL_CERT_FILE"}},
		{"https to a plain HTTP server", strings.Replace(plain.URL(), "http://", "https://", 1), []string{"does not speak TLS", "use http:// in `baseURL`"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			mu.Lock()
			conns = 0
			mu.Unlock()
			task := llmTask("Write.")
			w := buildWorker(t, Kind(testConfig(c.baseURL, nonStreaming), withBackoff(time.Millisecond)), task)
			_, err := w.Work(t.Context(), testJob(t, task))
			var ce *callError
			if !errors.As(err, &ce) || ce.kind != failTLS {
				t.Fatalf("err = %v, want a TLS problem", err)
			}
			for _, want := range append(c.want, `provider "test"`) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "broke off") || strings.Contains(err.Error(), "retries") {
				t.Errorf("taken for a dropped connection: %v", err)
			}
			// The server has seen each connection before the client can
			// reject its certificate, so the count is exact.
			mu.Lock()
			defer mu.Unlock()
			if c.baseURL == srv.URL+"/v1" && conns != 1 {
				t.Errorf("%d connections to the server; want 1, no retry", conns)
			}
		})
	}
}

// Error statuses read the same when the provider does not stream: the
// status and the server's message come from a plain response.
func TestErrorStatusNotStreamed(t *testing.T) {
	t.Setenv("MIMIR_TEST_KEY", "sk-some-key")
	cases := []struct {
		name     string
		script   []step
		keyed    bool
		kind     failure
		requests int
		want     []string
	}{
		{
			name:     "wrong key",
			script:   []step{status(401, `{"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}`)},
			keyed:    true,
			kind:     failAuth,
			requests: 1,
			want:     []string{"refused the API key from $MIMIR_TEST_KEY (401: Incorrect API key provided)"},
		},
		{
			name:     "wrong model name",
			script:   []step{status(404, `{"error": {"message": "model \"test-model\" not found, try pulling it first"}}`)},
			kind:     failModel,
			requests: 1,
			want:     []string{`has no model "test-model" (404`},
		},
		{
			name:     "context length",
			script:   []step{status(400, `{"error": {"message": "This model's maximum context length is 8192 tokens.", "code": "context_length_exceeded"}}`)},
			kind:     failContext,
			requests: 1,
			want:     []string{"context window", "maximum context length is 8192"},
		},
		{
			name:     "server error past the retries",
			script:   []step{status(500, `{}`), status(502, `bad gateway`), status(503, `{"message": "overloaded"}`)},
			kind:     failServer,
			requests: 3,
			want:     []string{"failed (503 Service Unavailable: overloaded)", "still so after 2 retries, having waited ", "ms in all)"},
		},
		{
			name:     "server error, then an answer",
			script:   []step{status(503, `{}`), answer("fine")},
			requests: 2,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeLLM(t, c.script...)
			cfg := testConfig(f.URL(), nonStreaming, func(p *Provider) {
				if c.keyed {
					p.APIKeyEnv = "MIMIR_TEST_KEY"
				}
			})
			task := llmTask("Write.")
			_, err := buildWorker(t, Kind(cfg, withBackoff(time.Millisecond)), task).Work(t.Context(), testJob(t, task))
			reqs := f.requests()
			if len(reqs) != c.requests {
				t.Errorf("%d requests, want %d", len(reqs), c.requests)
			}
			for _, r := range reqs {
				if r.Body.Stream {
					t.Error("a request asked for a stream")
				}
			}
			if c.kind == 0 {
				if err != nil {
					t.Errorf("err = %v", err)
				}
				return
			}
			var ce *callError
			if !errors.As(err, &ce) || ce.kind != c.kind {
				t.Fatalf("err = %v, want kind %d", err, c.kind)
			}
			for _, want := range c.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}
