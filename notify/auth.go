package notify

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// The mirror runs on a shared machine: anything on it can reach loopback,
// and so can a web page in its browser (through DNS rebinding, or plain
// cross-origin requests). Every request therefore needs the token, a
// loopback Host, and an allowed Origin if it has one.

func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make the SSE token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func loopbackName(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// guard refuses what does not come from this machine's own clients.
func (s *SSE) guard(next http.Handler) http.Handler {
	_, port, _ := net.SplitHostPort(s.ln.Addr().String())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, hport, err := net.SplitHostPort(r.Host)
		if err != nil || hport != port || !loopbackName(host) {
			writeError(w, http.StatusForbidden, "the Host must be this machine's loopback address and port (127.0.0.1:"+port+")")
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" {
			if !s.origins[strings.TrimRight(origin, "/")] {
				writeError(w, http.StatusForbidden, "requests from the web page at "+origin+" are not allowed; start the sidecar with --sse-allow-origin "+origin+" to allow it")
				return
			}
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Allow-Headers", "Authorization, Last-Event-ID, Content-Type")
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
			w.Header().Set("Vary", "Origin")
			if r.Method == http.MethodOptions {
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mimir-sidecar"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong token: send Authorization: Bearer <token> or ?token=<token>; the token is in <workspace>/.mimir/sidecar.json")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *SSE) authorized(r *http.Request) bool {
	got := r.URL.Query().Get("token")
	// The scheme is case-insensitive (RFC 9110, 11.1): "bearer" and
	// "BEARER" are what some clients send. Another scheme (a browser's
	// Basic credentials for something else) leaves ?token= to decide.
	if scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " "); ok && strings.EqualFold(scheme, "Bearer") {
		got = strings.TrimSpace(tok)
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) == 1
}
