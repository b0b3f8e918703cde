package rpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
//
// It bounds the answers owed: every call it reads takes a slot until its
// response has been written, and with every slot taken it reads nothing
// more. jsonrpc2 keeps no outgoing queue of its own: an answer waits in
// the goroutine of the handler that made it, blocked on the write, and an
// async handler hands the reading on to a new goroutine. A client that
// sends requests without reading answers would thus grow one goroutine and
// one answer per request; with the slots, its own pipe fills instead and
// its writes block. Notifications the server sends need no slot: events
// come from one forwarder goroutine, which waits its turn.
type stream struct {
	in       *bufio.Reader
	out      io.Writer
	closer   io.Closer
	maxFrame int

	rbuf []byte
	// resync is set after a header that gave no trustworthy length: the
	// next read skips to the next header.
	resync bool

	wmu   sync.Mutex
	wbuf  []byte            // the body being written, reused
	fbuf  []byte            // the frame being written, reused
	hooks map[string]func() // by response id, as JSON

	// owed holds a token per call read and not yet answered (a batch
	// with calls counts once: it is answered in one frame).
	owed chan struct{}

	// Frames go out through one goroutine (writeOut), so that a writer
	// stuck on a client that does not read can be let go: once closing
	// is closed, writes fail at once instead of waiting on the pipe.
	frames    chan []byte
	wrote     chan writeResult
	closing   chan struct{}
	closeOnce sync.Once
	// inputEnded is closed when reading stops for good (end of input, or
	// an error): the server then ends without waiting for ever on answers
	// a client that has stopped reading will never take.
	inputEnded chan struct{}
	endOnce    sync.Once
}

type writeResult struct {
	n   int
	err error
}

// errWritesAbandoned is what a write gets once the stream is closing.
var errWritesAbandoned = errors.New("the sidecar is stopping: output to the editor abandoned")

// DefaultMaxUnanswered bounds the requests read and not yet answered.
// An answer costs tens of KB while it waits (its handler's goroutine and
// encoded result), so this keeps a client that never reads to a few MB;
// a client that reads its answers never gets near it.
const DefaultMaxUnanswered = 64

// reuse returns buf emptied for the next write, or nil when it is larger
// than the stream keeps: a rare large answer's memory goes back to the
// heap.
func reuse(buf []byte) []byte {
	if cap(buf) > 1<<20 {
		return nil
	}
	return buf[:0]
}

func newStream(r io.Reader, w io.Writer, c io.Closer, maxFrame, maxUnanswered int) *stream {
	s := &stream{
		in: bufio.NewReaderSize(r, 64<<10), out: w, closer: c, maxFrame: maxFrame,
		hooks: map[string]func(){}, owed: make(chan struct{}, maxUnanswered),
		frames: make(chan []byte), wrote: make(chan writeResult, 1),
		closing: make(chan struct{}), inputEnded: make(chan struct{}),
	}
	go s.writeOut()
	return s
}

// writeOut writes the frames handed to it, one at a time. It returns once
// the stream is closing, at the latest when a write it is blocked in
// returns (the client reads, or its pipe breaks).
func (s *stream) writeOut() {
	for {
		select {
		case frame := <-s.frames:
			n, err := s.out.Write(frame)
			select {
			case s.wrote <- writeResult{n, err}:
			case <-s.closing:
				return
			}
		case <-s.closing:
			return
		}
	}
}

// abandonWrites makes every write, under way or to come, fail at once,
// and stops reading: for a server that is ending whether or not the
// client reads.
func (s *stream) abandonWrites() {
	s.closeOnce.Do(func() { close(s.closing) })
}

func (s *stream) endInput() {
	s.endOnce.Do(func() { close(s.inputEnded) })
}

// owe takes a slot for a call about to be handed to jsonrpc2, waiting
// while every slot is taken: the back-pressure that keeps memory flat.
func (s *stream) owe(ctx context.Context) error {
	select {
	case s.owed <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing:
		return errWritesAbandoned
	}
}

// paid frees the slot of an answered call. Written or not (a client gone
// away), the answer no longer waits. An answer that took no slot (the
// error for an empty batch, say) frees another's: the bound is loose by
// those, where the opposite mistake could leave the reader stuck.
func (s *stream) paid() {
	select {
	case <-s.owed:
	default:
	}
}

// expectsAnswer says whether jsonrpc2 will answer body, a valid JSON-RPC
// message or batch.
func expectsAnswer(body []byte) bool {
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		views, err := jsonrpc2.ScanRequestViews(body)
		if err != nil {
			return true // answered with an error
		}
		for _, v := range views {
			if v.Err != nil || v.View.Kind == jsonrpc2.MessageViewCall {
				return true
			}
		}
		return false
	}
	v, err := jsonrpc2.ScanMessageView(body)
	return err == nil && v.Kind == jsonrpc2.MessageViewCall
}

// isAnswer says whether an outgoing body answers what the client sent.
func isAnswer(body []byte) bool {
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		return true // only answers go out in batches
	}
	v, err := jsonrpc2.ScanMessageView(body)
	return err == nil && (v.Kind == jsonrpc2.MessageViewResponseResult || v.Kind == jsonrpc2.MessageViewResponseError)
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

// ReadFrame returns the next frame whose body is a JSON-RPC message (or a
// batch of them). The conn calls it (instead of Read) because it implements
// jsonrpc2's frame interface.
func (s *stream) ReadFrame(ctx context.Context) (body []byte, n int64, err error) {
	defer func() {
		if err != nil {
			s.endInput()
		}
	}()
	return s.readFrame(ctx)
}

func (s *stream) readFrame(ctx context.Context) ([]byte, int64, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		length, hdr, err := s.readHeader()
		if err != nil {
			if ferr, ok := err.(*frameError); ok {
				s.writeError(ctx, nil, ferr.code, ferr.msg)
				continue
			}
			return nil, 0, err
		}
		if length > s.maxFrame {
			if _, err := io.CopyN(io.Discard, s.in, int64(length)); err != nil {
				return nil, 0, unexpected(err)
			}
			s.writeError(ctx, nil, jsonrpc2.InvalidRequest, fmt.Sprintf(
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
			s.writeError(ctx, nil, jsonrpc2.ParseError, "message body is not valid JSON: "+excerpt(body))
			continue
		}
		// jsonrpc2 ends the connection on a frame that is JSON but not a
		// JSON-RPC message; answer it here instead. Batches are checked
		// member by member by jsonrpc2 itself.
		if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] != '[' {
			if _, err := jsonrpc2.DecodeMessage(body); err != nil {
				s.writeError(ctx, looseID(body), jsonrpc2.InvalidRequest, fmt.Sprintf(
					"not a JSON-RPC 2.0 message (%v): send {\"jsonrpc\":\"2.0\",\"id\":…,\"method\":…,\"params\":…}: %s", err, excerpt(body)))
				continue
			}
		}
		if expectsAnswer(body) {
			if err := s.owe(ctx); err != nil {
				return nil, 0, err
			}
		}
		return body, int64(hdr + length), nil
	}
}

// looseID is the id of a message that could not be decoded, if it has a
// usable one, so the client can match the error to its request.
func looseID(body []byte) json.RawMessage {
	var head struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(body, &head) != nil || len(head.ID) == 0 {
		return nil
	}
	switch head.ID[0] {
	case '"', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return head.ID
	}
	return nil
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
	if isAnswer(body) {
		s.paid()
	}
	var hook func()
	if err == nil && len(s.hooks) > 0 {
		// jsonrpc2 hands responses over in a type of its own; decoding the
		// body is the way to their id.
		if resp, ok := decodeResponse(body); ok {
			hook = s.takeHook(resp.ID())
		}
	}
	s.wbuf = reuse(body)
	s.wmu.Unlock()
	if hook != nil {
		hook()
	}
	return n, err
}

// WriteFrame writes an already encoded body: jsonrpc2 uses it for the
// responses to a batch, which may answer requests with hooks.
func (s *stream) WriteFrame(ctx context.Context, data []byte) (int64, error) {
	n, err := s.writeFrame(data)
	if isAnswer(data) {
		s.paid()
	}
	return n, err
}

// writeFrame writes data and runs the hooks of the responses in it.
func (s *stream) writeFrame(data []byte) (int64, error) {
	s.wmu.Lock()
	n, err := s.writeLocked(data)
	var hooks []func()
	if err == nil && len(s.hooks) > 0 {
		var members []json.RawMessage
		_ = json.Unmarshal(data, &members)
		for _, m := range members {
			if resp, ok := decodeResponse(m); ok {
				if f := s.takeHook(resp.ID()); f != nil {
					hooks = append(hooks, f)
				}
			}
		}
	}
	s.wmu.Unlock()
	for _, f := range hooks {
		f()
	}
	return n, err
}

func decodeResponse(b []byte) (*jsonrpc2.Response, bool) {
	msg, err := jsonrpc2.DecodeMessage(b)
	if err != nil {
		return nil, false
	}
	resp, ok := msg.(*jsonrpc2.Response)
	return resp, ok
}

func (s *stream) Close() error {
	s.abandonWrites()
	return s.closer.Close()
}

// Notify sends a notification whose params are already encoded: they go
// into the frame as they are. jsonrpc2's Notify would encode them again
// (a json.RawMessage is compacted and copied), which for the event stream
// was a second encoding of every event.
func (s *stream) Notify(method string, params jsonrpc2.RawMessage) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	body := jsonrpc2.AppendNotification(s.wbuf[:0], method, params)
	_, err := s.writeLocked(body)
	s.wbuf = reuse(body)
	return err
}

// writeLocked frames body and hands it to the writer, waiting until it is
// written: the frame's buffer is then the stream's again, for the next
// write.
func (s *stream) writeLocked(body []byte) (int64, error) {
	frame := append(s.fbuf[:0], "Content-Length: "...)
	frame = strconv.AppendInt(frame, int64(len(body)), 10)
	frame = append(frame, "\r\n\r\n"...)
	frame = append(frame, body...)
	select {
	case s.frames <- frame:
	case <-s.closing:
		s.fbuf = reuse(frame)
		return 0, errWritesAbandoned
	}
	select {
	case r := <-s.wrote:
		s.fbuf = reuse(frame)
		return int64(r.n), r.err
	case <-s.closing:
		// The writer may still be writing it: it is not ours to reuse.
		s.fbuf = nil
		return 0, errWritesAbandoned
	}
}

// takeHook removes and returns the hook waiting for the response with this
// id. The caller holds wmu.
func (s *stream) takeHook(id jsonrpc2.ID) func() {
	if !id.IsValid() || len(s.hooks) == 0 {
		return nil
	}
	key := idKey(id)
	f := s.hooks[key]
	delete(s.hooks, key)
	return f
}

// writeError answers a frame that never reached jsonrpc2; id is null
// unless the frame had a usable one.
func (s *stream) writeError(ctx context.Context, id json.RawMessage, code jsonrpc2.Code, msg string) {
	if id == nil {
		id = json.RawMessage("null")
	}
	body, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0",
		"id":      id,
		"error":   map[string]any{"code": code, "message": msg},
	})
	// It answers a frame that took no slot.
	_, _ = s.writeFrame(body)
}

// frameError is a frame that can be answered and skipped.
type frameError struct {
	code jsonrpc2.Code
	msg  string
}

func (e *frameError) Error() string { return e.msg }

const maxHeaderLine = 4 << 10

// readHeader reads one header block and returns its body's length. A block
// that cannot be trusted is reported as a frameError after it has been
// passed over: when its Content-Length could be read, the body is skipped
// exactly; when not, the next read resynchronizes on the next
// "Content-Length:", so one bad frame costs that frame alone.
func (s *stream) readHeader() (length, consumed int, err error) {
	length = -1
	var bad string
	var first []byte
	if s.resync {
		n, line, err := s.skipToHeader()
		if err != nil {
			return 0, 0, err
		}
		s.resync = false
		consumed, first = n, line
	}
	for lines := 0; ; lines++ {
		var line []byte
		if first != nil {
			line, first = first, nil
		} else {
			line, err = s.in.ReadSlice('\n')
			consumed += len(line)
			if err == bufio.ErrBufferFull || len(line) > maxHeaderLine {
				s.resync = true
				return 0, 0, &frameError{jsonrpc2.ParseError, fmt.Sprintf(
					"a header line longer than %d bytes: frames are \"Content-Length: N\\r\\n\\r\\n\" and a body of N bytes", maxHeaderLine)}
			}
			if err != nil {
				if err == io.EOF && consumed == 0 {
					return 0, 0, io.EOF
				}
				return 0, 0, unexpected(err)
			}
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
				length = -1
				continue
			}
			length = n
		}
	}
	switch {
	case bad == "" && length >= 0:
		return length, consumed, nil
	case bad == "":
		bad = "message header has no Content-Length"
	}
	// A length that could be read is the body's, however large: skipping
	// it exactly is safer than scanning a body that may itself mention
	// Content-Length.
	if length >= 0 {
		if _, err := io.CopyN(io.Discard, s.in, int64(length)); err != nil {
			return 0, 0, unexpected(err)
		}
	} else {
		s.resync = true
	}
	return 0, 0, &frameError{jsonrpc2.ParseError, bad}
}

// skipToHeader discards input up to the next "Content-Length:" (in any
// case) and returns how much it read and that header line, whole.
func (s *stream) skipToHeader() (int, []byte, error) {
	const needle = "content-length:"
	n, matched := 0, 0
	for matched < len(needle) {
		b, err := s.in.ReadByte()
		if err != nil {
			if err == io.EOF {
				return 0, nil, io.EOF // the client left in the middle of garbage
			}
			return 0, nil, err
		}
		n++
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		switch {
		case b == needle[matched]:
			matched++
		case b == needle[0]:
			matched = 1 // needle's only 'c' is its first byte
		default:
			matched = 0
		}
	}
	rest, err := s.in.ReadSlice('\n')
	if err != nil {
		return 0, nil, unexpected(err)
	}
	return n + len(rest), append([]byte("Content-Length:"), rest...), nil
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
