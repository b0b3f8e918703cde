package rpc

import (
	"encoding/json"

	"go.lsp.dev/jsonrpc2"
)

// Error codes beyond JSON-RPC's and LSP's; stable, see docs/protocol.md.
const (
	CodeUnknownExecution    jsonrpc2.Code = -31001
	CodeInvalidWorkflow     jsonrpc2.Code = -31002
	CodeWorkflowNotFound    jsonrpc2.Code = -31003
	CodePathNotAllowed      jsonrpc2.Code = -31004
	CodeDeliverableNotFound jsonrpc2.Code = -31005
	CodeSSEDisabled         jsonrpc2.Code = -31006
	CodeAgentUnavailable    jsonrpc2.Code = -31007
	CodeSandboxUnavailable  jsonrpc2.Code = -31008
	CodeNoChanges           jsonrpc2.Code = -31009
	CodeApplyFailed         jsonrpc2.Code = -31010

	codeRequestCancelled jsonrpc2.Code = -32800
)

// errorData names what an error concerns, so a client can act on it.
type errorData struct {
	ExecutionID string `json:"executionId,omitempty"`
	TaskID      string `json:"taskId,omitempty"`
	Path        string `json:"path,omitempty"`
	Method      string `json:"method,omitempty"`
	Problems    any    `json:"problems,omitempty"`
}

func rpcError(code jsonrpc2.Code, data *errorData, format string, args ...any) *jsonrpc2.Error {
	e := jsonrpc2.Errorf(code, format, args...)
	if data != nil {
		e.Data, _ = json.Marshal(data)
	}
	return e
}

func invalidParams(method string, err error) *jsonrpc2.Error {
	return rpcError(jsonrpc2.InvalidParams, &errorData{Method: method},
		"invalid params for %s: %v (see docs/protocol.md for the shape)", method, err)
}

func unknownExecution(id string) *jsonrpc2.Error {
	return rpcError(CodeUnknownExecution, &errorData{ExecutionID: id},
		"no execution %q: list them with mimir/executions", id)
}

func internalError(method string, err any) *jsonrpc2.Error {
	return rpcError(jsonrpc2.InternalError, &errorData{Method: method},
		"internal error while handling %s: %v (this is a bug in mimir-sidecar; the sidecar carries on)", method, err)
}
