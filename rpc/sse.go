package rpc

import (
	"context"
)

// sse tells a client where the SSE mirror listens, for a dashboard or a
// script it wants to hand the stream to.
func (s *server) sse(_ context.Context, _ struct{}) (any, error) {
	s.mu.Lock()
	m := s.mirror
	s.mu.Unlock()
	if m == nil {
		return nil, rpcError(CodeSSEDisabled, nil, "the SSE mirror is off: start the sidecar without --no-sse to get one")
	}
	return sseInfo{URL: m.URL(), Token: m.Token()}, nil
}
