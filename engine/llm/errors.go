package llm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/openai/openai-go/v3/packages/ssestream"
)

// failure is what went wrong with a request, in the terms of what a user
// has to change.
type failure int

const (
	failUnreachable failure = iota + 1 // nothing listens at baseURL (or no such host)
	failAuth                           // 401/403: the key
	failModel                          // 404 (or 400) for the model name
	failNotFound                       // 404 for the API itself: baseURL
	failRateLimit                      // 429
	failServer                         // 5xx, or the connection lost mid-request
	failTimeout                        // no answer within the provider's timeout
	failContext                        // the conversation does not fit the model
	failNoSchema                       // response_format json_schema refused
	failNoTools                        // the model cannot call tools
	failRejected                       // any other 4xx
	failBadAnswer                      // 2xx that is not a chat completion
	failTLS                            // a certificate that is not trusted, or no TLS at all
)

// callError is a failed request, with a message that says what to change.
// It deliberately does not wrap the SDK's or the transport's error: their
// texts may carry request details, and a request timeout must not look like
// the task's own deadline to the engine.
type callError struct {
	kind       failure
	status     int
	retryAfter time.Duration // from the response's headers; 0 when absent
	msg        string
}

func (e *callError) Error() string { return e.msg }

func (e *callError) retryable() bool {
	return e.kind == failRateLimit || e.kind == failServer
}

// errRequestTimeout is the cause of a request's context when the provider's
// timeout, not the caller, ended it.
var errRequestTimeout = errors.New("request timed out")

// classify turns what the SDK returned into an error a person can act on.
// ctx is the caller's context, reqCtx the one the request ran under, resp the
// HTTP response when there was one.
func (c *client) classify(ctx, reqCtx context.Context, req chatRequest, resp *http.Response, err error) error {
	model := req.model
	if ctx.Err() != nil {
		// Cancelled, or the task's own deadline: the engine reports those.
		return ctx.Err()
	}
	at := c.endpoint()
	if errors.Is(context.Cause(reqCtx), errRequestTimeout) {
		return &callError{kind: failTimeout, msg: fmt.Sprintf(
			"%s did not answer within %s (the timeout of provider %q): raise `timeout` for the provider in the llm configuration, or use a smaller or faster model than %q",
			at, c.p.Timeout, c.p.Name, model)}
	}
	if resp != nil && resp.StatusCode >= 400 {
		return c.fromStatus(req, resp)
	}
	var se *ssestream.StreamError
	if errors.As(err, &se) {
		// An error sent inside a stream that had started well: same
		// wording as for a status, with the error object from the event.
		code, msg := errorFields(se.Event.Data)
		if isContextLength(code, msg) {
			return c.contextError(model, 0, msg)
		}
		return &callError{kind: failServer, msg: fmt.Sprintf("%s reported an error while answering: %s: check the server's log", at, c.redact(clip(msg, 300)))}
	}
	if ce := c.tlsError(err); ce != nil {
		// Before the checks below, which would take it for a dropped
		// connection and retry: a certificate does not fix itself.
		return ce
	}
	if isDialError(err) {
		hint := "start the server or fix `baseURL` in the llm configuration"
		if c.p.Name == builtinProvider || strings.Contains(c.p.BaseURL, ":11434") {
			hint = "start Ollama (`ollama serve`) or fix `baseURL` in the llm configuration"
		}
		return &callError{kind: failUnreachable, msg: fmt.Sprintf("cannot reach %s: %s: %s", at, c.redact(netReason(err)), hint)}
	}
	var ue *url.Error
	if errors.As(err, &ue) || isNetError(err) {
		// Connected, then lost: a server that crashed or restarted under
		// load, worth a retry like a 5xx.
		return &callError{kind: failServer, msg: fmt.Sprintf("the connection to %s broke off (%s): the server may have crashed or restarted; check its log", at, c.redact(netReason(err)))}
	}
	return &callError{kind: failBadAnswer, msg: fmt.Sprintf(
		"%s answered something that is not a chat completion (%s): check that `baseURL` of provider %q points at an OpenAI-compatible API (it usually ends in /v1)",
		at, c.redact(clip(err.Error(), 200)), c.p.Name)}
}

// tlsError says what to change when the TLS handshake with the endpoint
// failed; nil when err is something else.
func (c *client) tlsError(err error) *callError {
	at := c.endpoint()
	reason := c.redact(netReason(err))
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		record   tls.RecordHeaderError
		alert    tls.AlertError
	)
	var msg string
	switch {
	case errors.As(err, &unknown):
		msg = fmt.Sprintf("%s presents a certificate this machine does not trust (%s): if the server uses a self-signed or private certificate, add its CA to the system's trust store (or point SSL_CERT_FILE at it); for a local server without TLS, use http:// in `baseURL` of provider %q", at, reason, c.p.Name)
	case errors.As(err, &hostname):
		msg = fmt.Sprintf("%s presents a certificate for another name (%s): set `baseURL` of provider %q to a name the certificate is for", at, reason, c.p.Name)
	case errors.As(err, &invalid):
		msg = fmt.Sprintf("%s presents a certificate that is not valid (%s): renew it on the server, or check this machine's clock", at, reason)
	case errors.Is(err, http.ErrSchemeMismatch), errors.As(err, &record):
		msg = fmt.Sprintf("%s does not speak TLS (%s): if it serves plain HTTP, use http:// in `baseURL` of provider %q", at, reason, c.p.Name)
	case errors.As(err, &verify), errors.As(err, &alert):
		msg = fmt.Sprintf("the TLS handshake with %s failed (%s): check the server's certificate and `baseURL` of provider %q", at, reason, c.p.Name)
	default:
		return nil
	}
	return &callError{kind: failTLS, msg: msg}
}

func (c *client) fromStatus(req chatRequest, resp *http.Response) *callError {
	model := req.model
	at := c.endpoint()
	status := resp.StatusCode
	var body []byte
	if resp.Body != nil {
		body, _ = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	}
	code, msg := errorFields(body)
	said := ""
	html := isHTML(resp.Header, body)
	switch {
	case html:
		// A web page (a web server's error page, a login portal): its
		// markup says nothing an API's error would, and buries the hint.
		msg, said = "", ", with a web page rather than an API's answer"
	case msg != "":
		said = ": " + c.redact(clip(msg, 300))
	}
	e := &callError{status: status, retryAfter: retryAfter(resp.Header, time.Now())}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.kind = failAuth
		switch {
		case c.p.APIKeyEnv != "" && c.p.keyWithheld != "":
			e.msg = fmt.Sprintf("%s wants an API key (%d%s); the key in $%s of provider %q was not sent %s",
				at, status, said, c.p.APIKeyEnv, c.p.Name, c.p.keyWithheld)
		case c.p.APIKeyEnv != "":
			e.msg = fmt.Sprintf("%s refused the API key from $%s (%d%s): set a valid key in %s", at, c.p.APIKeyEnv, status, said, c.p.APIKeyEnv)
		default:
			e.msg = fmt.Sprintf("%s wants an API key (%d%s): put the key in an environment variable and name that variable in `apiKeyEnv` of provider %q", at, status, said, c.p.Name)
		}
	case isContextLength(code, msg):
		return c.contextError(model, status, msg)
	case isModelMissing(status, code, msg):
		e.kind = failModel
		hint := "use a model the server has"
		if c.p.Name == builtinProvider || strings.Contains(c.p.BaseURL, ":11434") {
			hint = fmt.Sprintf("pull it (`ollama pull %s`) or use one that `ollama list` shows", model)
		}
		e.msg = fmt.Sprintf("%s has no model %q (%d%s): %s, and set `model` in the workflow or the llm configuration", at, model, status, said, hint)
	case status == http.StatusNotFound || status == http.StatusNotImplemented || status == http.StatusMethodNotAllowed:
		// 501 and 405 are what a web server that is not an LLM API answers
		// a POST with: retrying will not make it one.
		e.kind = failNotFound
		if status != http.StatusNotFound {
			e.msg = fmt.Sprintf("%s does not serve an OpenAI-compatible chat-completions API (%d %s for %s/chat/completions%s): fix `baseURL` of provider %q to point at the LLM server (it usually ends in /v1)", at, status, http.StatusText(status), redactURL(strings.TrimSuffix(c.p.BaseURL, "/")), said, c.p.Name)
			break
		}
		e.msg = fmt.Sprintf("%s has no chat-completions API (404 for %s/chat/completions%s): fix `baseURL` of provider %q (OpenAI-compatible servers usually serve it under /v1)", at, redactURL(strings.TrimSuffix(c.p.BaseURL, "/")), said, c.p.Name)
	case status == http.StatusTooManyRequests:
		e.kind = failRateLimit
		e.msg = fmt.Sprintf("%s is rate limiting requests (429%s): lower `concurrency` of provider %q, or wait and run again", at, said, c.p.Name)
	case status >= 500:
		e.kind = failServer
		e.msg = fmt.Sprintf("%s failed (%d %s%s): check the server's log (a local server may be out of memory for model %q)", at, status, http.StatusText(status), said, model)
	case req.schema != nil && isSchemaRefused(code, msg):
		e.kind = failNoSchema
		e.msg = fmt.Sprintf("%s does not support structured output (%d%s): set `structuredOutput: false` for provider %q", at, status, said, c.p.Name)
	case isToolsRefused(msg):
		e.kind = failNoTools
		e.msg = fmt.Sprintf("model %q at %s cannot call tools (%d%s): use a model that supports tool calling (with Ollama, for example qwen2.5 or llama3.1)", model, at, status, said)
	default:
		e.kind = failRejected
		e.msg = fmt.Sprintf("%s rejected the request (%d %s%s): check `model` and the settings of provider %q", at, status, http.StatusText(status), said, c.p.Name)
	}
	return e
}

// isHTML tells a web page from an API's error body.
func isHTML(h http.Header, body []byte) bool {
	if strings.Contains(strings.ToLower(h.Get("Content-Type")), "html") {
		return true
	}
	t := strings.ToLower(strings.TrimSpace(string(body[:min(len(body), 512)])))
	return strings.HasPrefix(t, "<!doctype html") || strings.HasPrefix(t, "<html") || strings.HasPrefix(t, "<head") || strings.HasPrefix(t, "<body")
}

func (c *client) contextError(model string, status int, msg string) *callError {
	code := ""
	if status != 0 {
		code = strconv.Itoa(status) + ": "
	}
	return &callError{kind: failContext, status: status, msg: fmt.Sprintf(
		"the conversation no longer fits the context window of model %q at %s (%s%s): use a model with a longer context, raise the server's context size (Ollama: OLLAMA_CONTEXT_LENGTH or num_ctx; llama.cpp: --ctx-size), or split the task so it reads and writes less",
		model, c.endpoint(), code, c.redact(clip(msg, 300)))}
}

// endpoint names the provider's server in messages.
func (c *client) endpoint() string {
	return "the endpoint at " + redactURL(c.p.BaseURL)
}

// redact removes the API key from text that came from the server, which
// may echo what it was sent.
func (c *client) redact(s string) string {
	if c.key == "" {
		return s
	}
	return strings.ReplaceAll(s, c.key, "[redacted]")
}

// errorFields finds the code and message in an error body, whichever of the
// shapes servers use: OpenAI's {"error": {"message", "code"}}, vLLM's
// {"message", "code"}, {"error": "text"}, or plain text.
func errorFields(body []byte) (code, msg string) {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  any             `json:"detail"`
		Code    any             `json:"code"`
		Type    string          `json:"type"`
	}
	if json.Unmarshal(body, &v) != nil {
		return "", strings.TrimSpace(string(body))
	}
	code, msg = scalar(v.Code), v.Message
	if len(v.Error) > 0 {
		var inner struct {
			Message string `json:"message"`
			Code    any    `json:"code"`
			Type    string `json:"type"`
		}
		var text string
		switch {
		case json.Unmarshal(v.Error, &inner) == nil:
			msg, code = inner.Message, scalar(inner.Code)
			if code == "" {
				code = inner.Type
			}
		case json.Unmarshal(v.Error, &text) == nil:
			msg = text
		}
	}
	if msg == "" && v.Detail != nil {
		msg = fmt.Sprint(v.Detail)
	}
	if code == "" {
		code = v.Type
	}
	return code, msg
}

func scalar(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func isContextLength(code, msg string) bool {
	if code == "context_length_exceeded" {
		return true
	}
	m := strings.ToLower(msg)
	for _, s := range []string{"context length", "context_length", "maximum context", "context window", "too many tokens", "exceeds the context", "prompt is too long", "n_ctx", "context size"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

func isModelMissing(status int, code, msg string) bool {
	if code == "model_not_found" {
		return true
	}
	m := strings.ToLower(msg)
	if status == http.StatusNotFound {
		return strings.Contains(m, "model")
	}
	return status == http.StatusBadRequest && strings.Contains(m, "model") &&
		(strings.Contains(m, "not found") || strings.Contains(m, "does not exist") || strings.Contains(m, "unknown model"))
}

func isSchemaRefused(code, msg string) bool {
	m := strings.ToLower(code + " " + msg)
	return strings.Contains(m, "response_format") || strings.Contains(m, "json_schema") || strings.Contains(m, "structured output")
}

func isToolsRefused(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "does not support tools") || (strings.Contains(m, "tool") && strings.Contains(m, "not supported"))
}

// isDialError tells a server that is not there (refused, unknown host)
// from a connection that was made and then lost.
func isDialError(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &dns) || (errors.As(err, &op) && op.Op == "dial")
}

func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, io.ErrUnexpectedEOF)
}

// netReason is the transport's reason without the URL and method the
// url.Error wraps around it.
func netReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return "connection refused"
	}
	return clip(err.Error(), 200)
}

// maxRetryAfter is the longest wait a server may ask for that is honoured;
// past it the attempt fails rather than sit silent for longer.
const maxRetryAfter = 2 * time.Minute

// retryAfter reads how long the server asked to wait: retry-after-ms, or
// Retry-After as seconds or an HTTP date. 0 when it did not say.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		secs = min(secs, 1e6) // keeps an absurd value from overflowing
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// clip bounds text from a server before it goes into a message.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
