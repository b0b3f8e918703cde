package rpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"sync"

	"go.lsp.dev/jsonrpc2"
)

// stream is LSP's Content-Length framing, forgiving where jsonrpc2's is not:
// a frame whose body is not JSON, whose header is malformed, or which is
// larger than the limit is answered with an error response and skipped, and
// the connection lives on. It also runs hooks once a response has been
// written, which is how an execution starts only after its id has reached
// the client.
type stream struct {
	in       *bufio.Reader
	out      io.Writer
	closer   io.Closer
	maxFrame int

	rbuf []byte

	wmu   sync.Mutex
	wbuf  []byte
	hooks map[string]func() // by response id, as JSON
}

func newStream(r io.Reader, w io.Writer, c io.Closer, maxFrame int) *stream {
	return &stream{in: bufio.NewReaderSize(r, 64<<10), out: w, closer: c, maxFrame: maxFrame, hooks: map[string]func(){}}
}

// afterResponse runs f once the response with this id has been written.
func (s *stream) afterResponse(id jsonrpc2.ID, f func()) {
	key := idKey(id)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.hooks[key] = f
}

// idKey is the id as it appears in JSON, the form takeHook finds it in.
func idKey(id jsonrpc2.ID) string {
	if n, ok := id.Number(); ok {
		return strconv.FormatInt(n, 10)
	}
	s, _ := id.StringValue()
	b, _ := json.Marshal(s)
	return string(b)
}

// ReadFrame returns the next frame whose body is JSON. The conn calls it
// (instead of Read) because it implements jsonrpc2's frame interface.
func (s *stream) ReadFrame(ctx context.Context) ([]byte, int64, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		length, hdr, err := s.readHeader()
		if err != nil {
			if ferr, ok := err.(*frameError); ok {
				s.writeError(ctx, ferr.code, ferr.msg)
				continue
			}
			return nil, 0, err
		}
		if length > s.maxFrame {
			if _, err := io.CopyN(io.Discard, s.in, int64(length)); err != nil {
				return nil, 0, unexpected(err)
			}
			s.writeError(ctx, jsonrpc2.InvalidRequest, fmt.Sprintf(
				"message of %d bytes is larger than the sidecar accepts (%d); send less, or start the sidecar with a larger --max-message", length, s.maxFrame))
			continue
		}
		if cap(s.rbuf) < length {
			s.rbuf = make([]byte, length)
		}
		body := s.rbuf[:length]
		if _, err := io.ReadFull(s.in, body); err != nil {
			return nil, 0, unexpected(err)
		}
		if !json.Valid(body) {
			s.writeError(ctx, jsonrpc2.ParseError, "message body is not valid JSON: "+excerpt(body))
			continue
		}
		return body, int64(hdr + length), nil
	}
}

// Read implements jsonrpc2.Stream for completeness; the conn uses ReadFrame.
func (s *stream) Read(ctx context.Context) (jsonrpc2.Message, int64, error) {
	body, n, err := s.ReadFrame(ctx)
	if err != nil {
		return nil, 0, err
	}
	msg, err := jsonrpc2.DecodeMessage(body)
	return msg, n, err
}

// Write frames msg, then runs the hook waiting for it if it is a response.
// The hook runs after the write lock is released: hooks may write
// themselves (initialize's sends diagnostics and warnings).
func (s *stream) Write(ctx context.Context, msg jsonrpc2.Message) (int64, error) {
	s.wmu.Lock()
	body := jsonrpc2.AppendMessage(s.wbuf[:0], msg)
	n, err := s.writeLocked(body)
	var hook func()
	if err == nil && len(s.hooks) > 0 {
		hook = s.takeHook(body)
	}
	s.wbuf = body[:0]
	s.wmu.Unlock()
	if hook != nil {
		hook()
	}
	return n, err
}

// WriteFrame writes an already encoded body (jsonrpc2 uses it for batches).
func (s *stream) WriteFrame(ctx context.Context, data []byte) (int64, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.writeLocked(data)
}

func (s *stream) Close() error { return s.closer.Close() }

func (s *stream) writeLocked(body []byte) (int64, error) {
	frame := make([]byte, 0, len(body)+32)
	frame = append(frame, "Content-Length: "...)
	frame = strconv.AppendInt(frame, int64(len(body)), 10)
	frame = append(frame, "\r\n\r\n"...)
	frame = append(frame, body...)
	n, err := s.out.Write(frame)
	return int64(n), err
}

// takeHook removes and returns the hook waiting for the response in body,
// if body is one. The caller holds wmu.
func (s *stream) takeHook(body []byte) func() {
	var head struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	if json.Unmarshal(body, &head) != nil || head.Method != "" || len(head.ID) == 0 {
		return nil
	}
	key := string(head.ID)
	f := s.hooks[key]
	delete(s.hooks, key)
	return f
}

func (s *stream) writeError(ctx context.Context, code jsonrpc2.Code, msg string) {
	body, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0",
		"id":      nil,
		"error":   map[string]any{"code": code, "message": msg},
	})
	_, _ = s.WriteFrame(ctx, body)
}

// frameError is a frame that can be answered and skipped.
type frameError struct {
	code jsonrpc2.Code
	msg  string
}

func (e *frameError) Error() string { return e.msg }

const maxHeaderLine = 4 << 10

// readHeader reads one header block. A malformed block is skipped up to its
// blank line and reported as a frameError, so the next frame can be read.
func (s *stream) readHeader() (length, consumed int, err error) {
	length = -1
	var bad string
	for lines := 0; ; lines++ {
		line, err := s.in.ReadSlice('\n')
		consumed += len(line)
		if err == bufio.ErrBufferFull || len(line) > maxHeaderLine {
			return 0, 0, fmt.Errorf("read message header: line longer than %d bytes: the client is not speaking LSP framing", maxHeaderLine)
		}
		if err != nil {
			if err == io.EOF && consumed == 0 {
				return 0, 0, io.EOF
			}
			return 0, 0, unexpected(err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if lines == 0 {
				consumed = 0 // stray blank line between frames
				lines = -1
				continue
			}
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			bad = fmt.Sprintf("malformed header line %q: expected \"Name: value\"", excerpt(line))
			continue
		}
		if bytes.EqualFold(bytes.TrimSpace(name), []byte("Content-Length")) {
			n, err := strconv.Atoi(string(bytes.TrimSpace(value)))
			if err != nil || n < 0 {
				bad = fmt.Sprintf("Content-Length %q is not a length", excerpt(value))
				continue
			}
			length = n
		}
	}
	if bad == "" && length < 0 {
		bad = "message header has no Content-Length"
	}
	if bad != "" {
		// Without a trustworthy length the body cannot be skipped exactly;
		// a body that follows will itself fail to parse as a header and be
		// reported, and reading resynchronizes at the next header block.
		return 0, 0, &frameError{jsonrpc2.ParseError, bad}
	}
	return length, consumed, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func excerpt(b []byte) string {
	const max = 80
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}
