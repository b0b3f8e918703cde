package llm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// client is one provider's endpoint, shared by every agent that uses it.
type client struct {
	p      Provider
	svc    openai.ChatCompletionService
	key    string
	keyErr error // set when apiKeyEnv names an empty variable
	// slots bounds the requests in flight to this provider.
	slots chan struct{}
	// noSchema is set once the endpoint has refused response_format
	// json_schema, so later QC requests do not ask again.
	noSchema atomic.Bool
	log      *slog.Logger
	// backoff is the first wait before retrying a 429 or 5xx that gave no
	// Retry-After; it doubles with each retry.
	backoff time.Duration
}

// maxBackoff caps the exponential backoff between retries.
const maxBackoff = 30 * time.Second

func newClient(p Provider, log *slog.Logger, backoff time.Duration) *client {
	// A Config built by hand rather than loaded may leave settings zero;
	// zero slots would block every request forever.
	if p.Concurrency < 1 {
		p.Concurrency = DefaultConcurrency
	}
	if p.Timeout <= 0 {
		p.Timeout = DefaultTimeout
	}
	if p.MaxToolCalls < 1 {
		p.MaxToolCalls = DefaultMaxToolCalls
	}
	p.MaxRetries = max(p.MaxRetries, 0)
	c := &client{
		p:       p,
		slots:   make(chan struct{}, p.Concurrency),
		log:     log.With("provider", p.Name),
		backoff: backoff,
	}
	switch {
	case p.APIKeyEnv != "" && p.keyWithheld != "":
		// Not even read: a key that is never in memory cannot leak. The
		// request goes without one; a 401 then says why.
		c.log.Info("not sending the API key of provider "+strconv.Quote(p.Name)+" "+p.keyWithheld,
			"apiKeyEnv", p.APIKeyEnv, "baseURL", redactURL(p.BaseURL))
	case p.APIKeyEnv != "":
		c.key = os.Getenv(p.APIKeyEnv)
		if c.key == "" {
			c.keyErr = fmt.Errorf("provider %q: the environment variable %s named by apiKeyEnv is empty or not set: export the API key in it before starting the sidecar", p.Name, p.APIKeyEnv)
		}
	}
	opts := []option.RequestOption{
		option.WithBaseURL(p.BaseURL),
		option.WithHTTPClient(&http.Client{Transport: &lazyTransport{}}),
		// Retries are ours: they free the provider's slot while waiting,
		// log, and say in the final error how many were made.
		option.WithMaxRetries(0),
	}
	if c.key != "" {
		opts = append(opts, option.WithAPIKey(c.key))
	}
	// NewChatCompletionService, not openai.NewClient: the client would pick
	// up OPENAI_API_KEY and OPENAI_BASE_URL from the environment and send a
	// user's OpenAI key to whatever endpoint this provider names.
	c.svc = openai.NewChatCompletionService(opts...)
	return c
}

// lazyTransport is a provider's own transport, made on its first request:
// its idle connections are the provider's, and nothing set on the default
// one leaks in. Made at start, it would set up HTTP/2 on the default
// transport it clones, work (and 0.2 MB of code paged in) that a
// sidecar whose llm agents do not run never needs.
type lazyTransport struct {
	once sync.Once
	rt   *http.Transport
}

func (t *lazyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.once.Do(func() {
		t.rt = &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true, IdleConnTimeout: 90 * time.Second}
		if dt, ok := http.DefaultTransport.(*http.Transport); ok {
			t.rt = dt.Clone()
		}
	})
	return t.rt.RoundTrip(r)
}

// chatRequest is one question to the model.
type chatRequest struct {
	model       string
	messages    []openai.ChatCompletionMessageParamUnion
	tools       []openai.ChatCompletionToolUnionParam
	schema      *jsonSchema // ask for structured output; nil for free text
	temperature *float64
}

// jsonSchema is a response format the answer must match.
type jsonSchema struct {
	name   string
	schema map[string]any
}

// reply is the model's answer: text, tool calls, or both.
type reply struct {
	content   string
	toolCalls []toolCall
	finish    string
}

type toolCall struct {
	id, name, args string
}

func (r chatRequest) params() openai.ChatCompletionNewParams {
	p := openai.ChatCompletionNewParams{
		Model:    r.model,
		Messages: r.messages,
		Tools:    r.tools,
	}
	if r.temperature != nil {
		p.Temperature = openai.Float(*r.temperature)
	}
	if r.schema != nil {
		p.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{
			OfJSONSchema: &openai.ResponseFormatJSONSchemaParam{
				JSONSchema: openai.ResponseFormatJSONSchemaJSONSchemaParam{
					Name:   r.schema.name,
					Strict: openai.Bool(true),
					Schema: r.schema.schema,
				},
			},
		}
	}
	return p
}

// complete asks the model once, retrying what the server says is worth
// retrying (429, 5xx) a bounded number of times.
func (c *client) complete(ctx context.Context, req chatRequest) (reply, error) {
	// waited is the time spent waiting to retry, for the final message:
	// the editor sees nothing while a request waits, so the error that
	// ends it says how long that went on.
	var waited time.Duration
	for retry := 0; ; retry++ {
		r, err := c.once(ctx, req)
		if err == nil {
			return r, nil
		}
		var ce *callError
		if !errors.As(err, &ce) || !ce.retryable() {
			return reply{}, err
		}
		if retry >= c.p.MaxRetries {
			if retry > 0 {
				ce.msg += fmt.Sprintf(" (still so after %s, having waited %s in all)", retries(retry), roundWait(waited))
			}
			return reply{}, ce
		}
		wait := ce.retryAfter
		if wait == 0 {
			wait = c.backoff << retry
			if wait <= 0 || wait > maxBackoff {
				wait = maxBackoff
			}
			// Up to a fifth more, so that agents refused together do not
			// all come back at the same moment.
			wait += time.Duration(rand.Int64N(int64(wait)/5 + 1))
		} else if wait > maxRetryAfter {
			ce.msg += fmt.Sprintf(" (it asks to wait %s before retrying, longer than the %s the sidecar waits", wait.Round(time.Second), maxRetryAfter)
			if retry > 0 {
				ce.msg += fmt.Sprintf("; %s made already, having waited %s", retries(retry), roundWait(waited))
			}
			ce.msg += ")"
			return reply{}, ce
		}
		c.log.Warn("llm request refused; retrying", "model", req.model, "status", ce.status, "wait", wait, "retry", retry+1, "maxRetries", c.p.MaxRetries)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return reply{}, ctx.Err()
		case <-t.C:
		}
		waited += wait
	}
}

func retries(n int) string {
	if n == 1 {
		return "1 retry"
	}
	return fmt.Sprintf("%d retries", n)
}

// roundWait shows a wait as people read one: "2.5s", "1m30s", "3ms".
func roundWait(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

// once makes one request, holding one of the provider's slots for it.
func (c *client) once(ctx context.Context, req chatRequest) (reply, error) {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return reply{}, ctx.Err()
	}
	defer func() { <-c.slots }()

	// The timeout starts once the slot is ours: waiting for another agent's
	// request is not the endpoint being slow.
	reqCtx, cancel := context.WithTimeoutCause(ctx, c.p.Timeout, errRequestTimeout)
	defer cancel()
	began := time.Now()
	var resp *http.Response
	params := req.params()
	var r reply
	var err error
	if c.p.Stream {
		r, err = c.streamed(reqCtx, params, &resp)
	} else {
		r, err = c.plain(reqCtx, params, &resp)
	}
	if err != nil {
		err = c.classify(ctx, reqCtx, req, resp, err)
		if ctx.Err() == nil {
			c.log.Info("llm request failed", "model", req.model, "duration", time.Since(began), "error", err.Error())
		}
		return reply{}, err
	}
	c.log.Debug("llm answer", "model", req.model, "stream", c.p.Stream, "duration", time.Since(began),
		"toolCalls", len(r.toolCalls), "chars", len(r.content), "finish", r.finish)
	return r, nil
}

func (c *client) plain(ctx context.Context, params openai.ChatCompletionNewParams, resp **http.Response) (reply, error) {
	cc, err := c.svc.New(ctx, params, option.WithResponseInto(resp))
	if err != nil {
		return reply{}, err
	}
	return c.replyFrom(cc)
}

func (c *client) streamed(ctx context.Context, params openai.ChatCompletionNewParams, resp **http.Response) (reply, error) {
	stream := c.svc.NewStreaming(ctx, params, option.WithResponseInto(resp))
	defer stream.Close()
	var acc openai.ChatCompletionAccumulator
	chunks := 0
	for stream.Next() {
		chunks++
		if !acc.AddChunk(stream.Current()) {
			return reply{}, &callError{kind: failBadAnswer, msg: fmt.Sprintf("%s streamed an answer whose parts do not fit together: set `stream: false` for provider %q", c.endpoint(), c.p.Name)}
		}
	}
	if err := stream.Err(); err != nil {
		return reply{}, err
	}
	if chunks == 0 {
		return reply{}, &callError{kind: failBadAnswer, msg: fmt.Sprintf("%s answered a streamed request without a stream: set `stream: false` for provider %q", c.endpoint(), c.p.Name)}
	}
	return c.replyFrom(&acc.ChatCompletion)
}

func (c *client) replyFrom(cc *openai.ChatCompletion) (reply, error) {
	if cc == nil || len(cc.Choices) == 0 {
		return reply{}, &callError{kind: failBadAnswer, msg: fmt.Sprintf("%s answered with no choices: check that provider %q is an OpenAI-compatible chat-completions API", c.endpoint(), c.p.Name)}
	}
	ch := cc.Choices[0]
	r := reply{content: ch.Message.Content, finish: ch.FinishReason}
	for _, tc := range ch.Message.ToolCalls {
		// Some servers leave out "type"; a call with a function name is a
		// function call whatever its type says.
		if tc.Function.Name == "" {
			continue
		}
		r.toolCalls = append(r.toolCalls, toolCall{id: tc.ID, name: tc.Function.Name, args: tc.Function.Arguments})
	}
	return r, nil
}
