package engine

import _ "embed"

// Schema is the JSON Schema of the workflow format, for editors' completion
// and validation. The decoder enforces the same rules and more that a
// schema cannot say (references, cycles, unique ids); schema_test.go reads
// the schema and holds the decoder to every field, bound and rule in it.
//
//go:embed workflow.schema.json
var Schema []byte
