package rpc

import (
	"context"
	"encoding/json"
)

// sse tells a client where the SSE mirror listens, for a dashboard or a
// script it wants to hand the stream to.
func (s *Server) sse(_ context.Context, params json.RawMessage) (any, error) {
	var p struct{}
	if err := decode("mimir/sse", params, &p); err != nil {
		return nil, err
	}
	s.mu.Lock()
	m := s.mirror
	s.mu.Unlock()
	if m == nil {
		return nil, rpcError(CodeSSEDisabled, nil, "the SSE mirror is off: start the sidecar without --no-sse to get one")
	}
	return encode(sseInfo{URL: m.URL(), Token: m.Token()})
}
