package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"go.lsp.dev/jsonrpc2"
)

// executeCommand runs a mimir.* command, so a generic LSP client with no
// plugin can drive the sidecar. Each command takes one argument: the params
// of its mimir/* method, or a lone string that fills the method's stringArg
// (mimir.execute a path, mimir.cancel an id).
func (s *server) executeCommand(ctx context.Context, params json.RawMessage) (any, error) {
	var p struct {
		Command   string            `json:"command"`
		Arguments []json.RawMessage `json:"arguments"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, invalidParams("workspace/executeCommand", err)
	}
	name, ok := strings.CutPrefix(p.Command, "mimir.")
	m, known := s.methods["mimir/"+name]
	if !ok || !known || !m.command {
		return nil, rpcError(jsonrpc2.InvalidParams, &errorData{Method: p.Command},
			"unknown command %q: the commands are %s", p.Command, strings.Join(commandNames(), ", "))
	}
	if len(p.Arguments) > 1 {
		return nil, invalidParams(p.Command, fmt.Errorf("takes one argument, got %d", len(p.Arguments)))
	}
	var arg json.RawMessage
	if len(p.Arguments) == 1 {
		arg = p.Arguments[0]
	}
	var str string
	if m.stringArg != "" && json.Unmarshal(arg, &str) == nil {
		arg, _ = json.Marshal(map[string]string{m.stringArg: str})
	}
	return m.handle(s, ctx, m.name, arg)
}
