package rpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
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

// paramsProblem says what is wrong with the params decoded into v in the
// protocol's words (its field names, JSON's kinds), never in the Go types
// behind them, which mean nothing to a client's author.
func paramsProblem(err error, v any) error {
	var se *jsonv2.SemanticError
	if !errors.As(err, &se) {
		var syn *jsontext.SyntacticError
		if errors.As(err, &syn) {
			return fmt.Errorf("not valid JSON: %v", syn.Err)
		}
		return err
	}
	field := strings.Join(slices.Collect(se.JSONPointer.Tokens()), ".")
	switch {
	case errors.Is(se.Err, jsonv2.ErrUnknownName):
		known := jsonFields(reflect.TypeOf(v), se.JSONPointer.Parent())
		if len(known) == 0 {
			return fmt.Errorf("unknown field %q", field)
		}
		return fmt.Errorf("unknown field %q (known fields: %s)", field, strings.Join(known, ", "))
	case se.GoType != nil && se.JSONKind != 0:
		if field == "" {
			return fmt.Errorf("params must be %s, not %s", jsonKindOf(se.GoType), kindName(se.JSONKind))
		}
		return fmt.Errorf("%s must be %s, not %s", field, jsonKindOf(se.GoType), kindName(se.JSONKind))
	case field != "":
		return fmt.Errorf("%s: not a valid value", field)
	}
	return errors.New("not a valid value")
}

// jsonFields is the JSON names of the fields of the struct at ptr inside
// t, or nil when there is none.
func jsonFields(t reflect.Type, ptr jsontext.Pointer) []string {
	for tok := range ptr.Tokens() {
		t = deref(t)
		switch t.Kind() {
		case reflect.Struct:
			f, ok := fieldByJSONName(t, tok)
			if !ok {
				return nil
			}
			t = f.Type
		case reflect.Slice, reflect.Array, reflect.Map:
			t = t.Elem()
		default:
			return nil
		}
	}
	t = deref(t)
	if t.Kind() != reflect.Struct {
		return nil
	}
	var names []string
	for f := range t.Fields() {
		if name, ok := jsonName(f); ok {
			names = append(names, name)
		}
	}
	return names
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

func fieldByJSONName(t reflect.Type, name string) (reflect.StructField, bool) {
	for f := range t.Fields() {
		if n, ok := jsonName(f); ok && n == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func jsonName(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	switch name {
	case "-":
		return "", false
	case "":
		return f.Name, true
	}
	return name, true
}

// kindName names a JSON kind as jsonKindOf does.
func kindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "true or false"
	case 'n':
		return "null"
	case '[':
		return "an array"
	case '{':
		return "an object"
	}
	return "another kind of value"
}

// jsonKindOf is what JSON a Go type is decoded from.
func jsonKindOf(t reflect.Type) string {
	switch deref(t).Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "another kind of value"
}

func unknownExecution(id string) *jsonrpc2.Error {
	return rpcError(CodeUnknownExecution, &errorData{ExecutionID: id},
		"no execution %q: list them with mimir/executions", id)
}

func internalError(method string, err any) *jsonrpc2.Error {
	return rpcError(jsonrpc2.InternalError, &errorData{Method: method},
		"internal error while handling %s: %v (this is a bug in mimir-sidecar; the sidecar carries on)", method, err)
}
