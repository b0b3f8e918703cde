package engine

import _ "embed"

// Schema is the JSON Schema of the workflow format, for editors' completion
// and validation. The decoder enforces the same rules (schema_test.go keeps
// the two in step).
//
//go:embed workflow.schema.json
var Schema []byte
