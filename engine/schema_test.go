package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The JSON Schema (for editors) and the decoder (for runs) describe one
// format. These tests read the schema and hold the decoder to it, so a
// field, a bound or a rule added to one side and not the other fails here.

// schemaObjects maps each object of the schema that has properties to the
// Go type the decoder fills from it.
var schemaObjects = map[string]reflect.Type{
	"":                   reflect.TypeFor[Workflow](),
	"/$defs/task":        reflect.TypeFor[Task](),
	"/$defs/agent":       reflect.TypeFor[AgentSpec](),
	"/$defs/llmDefaults": reflect.TypeFor[LLMDefaults](),
}

func loadSchema(t *testing.T) map[string]any {
	t.Helper()
	var s map[string]any
	if err := json.Unmarshal(Schema, &s); err != nil {
		t.Fatalf("the schema is not JSON: %v", err)
	}
	return s
}

// objectsWithProperties lists the JSON pointers of every schema object
// that declares properties.
func objectsWithProperties(node any, ptr string, out *[]string) {
	switch n := node.(type) {
	case map[string]any:
		if _, ok := n["properties"].(map[string]any); ok {
			*out = append(*out, ptr)
		}
		for k, v := range n {
			objectsWithProperties(v, ptr+"/"+k, out)
		}
	case []any:
		for i, v := range n {
			objectsWithProperties(v, fmt.Sprintf("%s/%d", ptr, i), out)
		}
	}
}

func at(schema map[string]any, ptr string) map[string]any {
	n := schema
	for _, k := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		if k == "" {
			continue
		}
		n = n[k].(map[string]any)
	}
	return n
}

// fieldNames are the names the decoder accepts for a struct.
func fieldNames(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func TestSchemaFieldsMatchDecoder(t *testing.T) {
	schema := loadSchema(t)
	var objs []string
	objectsWithProperties(schema, "", &objs)
	// The conditionals under allOf and if/then name a few properties to
	// require or forbid them; they declare no object of their own.
	objs = slices.DeleteFunc(objs, func(p string) bool {
		return strings.Contains(p, "/allOf/") || strings.Contains(p, "/if") || strings.Contains(p, "/then")
	})
	sort.Strings(objs)
	for _, ptr := range objs {
		typ, ok := schemaObjects[ptr]
		if !ok {
			t.Errorf("schema object %q has no decoder type in schemaObjects", ptr)
			continue
		}
		obj := at(schema, ptr)
		var props []string
		for k := range obj["properties"].(map[string]any) {
			props = append(props, k)
		}
		sort.Strings(props)
		if want := fieldNames(typ); !slices.Equal(props, want) {
			t.Errorf("schema %q has properties %v; the decoder's %s has fields %v", ptr, props, typ.Name(), want)
		}
		// The decoder refuses every unknown field.
		if obj["additionalProperties"] != false {
			t.Errorf("schema %q: additionalProperties must be false (the decoder rejects unknown fields)", ptr)
		}
	}
	for ptr := range schemaObjects {
		if !slices.Contains(objs, ptr) {
			t.Errorf("schemaObjects names %q, which the schema does not declare", ptr)
		}
	}
	// env is the one free-form object: names to text, as the decoder's map.
	env := at(schema, "/$defs/agent/properties/env")
	if env["type"] != "object" || env["additionalProperties"].(map[string]any)["type"] != "string" {
		t.Errorf("env: %v", env)
	}
	if f, _ := reflect.TypeFor[AgentSpec]().FieldByName("Env"); f.Type != reflect.TypeFor[map[string]string]() {
		t.Errorf("AgentSpec.Env is %s", f.Type)
	}
}

// doc is a minimal valid workflow with the object under test at slot, and
// value set as its property prop (deleted when value is nil).
func doc(slot, prop string, value any) map[string]any {
	worker := map[string]any{"command": "x"}
	switch {
	case slot != "/$defs/agent":
	case slices.Contains(acpFields, prop) && prop != "prompt" || value == "acp":
		worker = map[string]any{"type": "acp", "command": "x", "prompt": "p"}
		if prop == "agent" {
			delete(worker, "command")
		}
	case slices.Contains(llmFields, prop) || value == "llm":
		worker = map[string]any{"type": "llm", "prompt": "p"}
	}
	task := map[string]any{"id": "a", "worker": worker}
	root := map[string]any{"name": "x", "tasks": []any{task, map[string]any{"id": "b", "worker": map[string]any{"command": "y"}}}}
	obj := map[string]map[string]any{"": root, "/$defs/task": task, "/$defs/agent": worker}
	if slot == "/$defs/llmDefaults" {
		root["llm"] = map[string]any{}
		obj[slot] = root["llm"].(map[string]any)
	}
	if value == nil {
		delete(obj[slot], prop)
	} else {
		obj[slot][prop] = value
	}
	return root
}

func parseDoc(t *testing.T, d map[string]any) error {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParseWorkflow("schema.json", b)
	if errors.Is(err, errParserBug) {
		t.Fatalf("%s: %v", b, err)
	}
	return err
}

func TestSchemaRequiredMatchesDecoder(t *testing.T) {
	schema := loadSchema(t)
	for ptr := range schemaObjects {
		if err := parseDoc(t, doc(ptr, "", nil)); err != nil {
			t.Fatalf("the minimal workflow for %q is refused: %v", ptr, err)
		}
		req, _ := at(schema, ptr)["required"].([]any)
		for _, r := range req {
			if err := parseDoc(t, doc(ptr, r.(string), nil)); err == nil {
				t.Errorf("%q requires %q; the decoder accepts it missing", ptr, r)
			}
		}
	}
	// The agent's conditional requirements: an exec agent needs a command,
	// an llm worker a prompt.
	if parseDoc(t, doc("/$defs/agent", "command", nil)) == nil {
		t.Error("an exec worker without a command was accepted")
	}
	if parseDoc(t, doc("/$defs/agent", "prompt", nil)) == nil {
		t.Error("an llm worker without a prompt was accepted")
	}
}

// Every bound, type, enum, length and uniqueness rule the schema gives a
// property is tried on the decoder: values just inside must pass, values
// just outside must fail.
func TestSchemaValuesMatchDecoder(t *testing.T) {
	schema := loadSchema(t)
	durationPattern := regexp.MustCompile(at(schema, "/$defs/duration")["oneOf"].([]any)[0].(map[string]any)["pattern"].(string))
	checked := 0
	for ptr := range schemaObjects {
		for prop, p := range at(schema, ptr)["properties"].(map[string]any) {
			ps := p.(map[string]any)
			try := func(v any, want bool) {
				t.Helper()
				checked++
				err := parseDoc(t, doc(ptr, prop, v))
				if (err == nil) != want {
					t.Errorf("%s.%s = %#v: schema says valid=%v, decoder says %v", ptr, prop, v, want, err)
				}
			}
			if ps["$ref"] == "#/$defs/duration" {
				for _, s := range []string{"90s", "1h30m", "1.5s", "500ms", "2m30s", "90", "-5s", "soon", "", "1d", " 5s"} {
					try(s, durationPattern.MatchString(s))
				}
				for _, n := range []float64{90, 0.5, 0, -1} {
					try(n, n > 0)
				}
				continue
			}
			if enum, ok := ps["enum"].([]any); ok {
				for _, e := range enum {
					try(e, true)
				}
				try("not-"+fmt.Sprint(enum[0]), false)
			}
			switch ps["type"] {
			case "integer", "number":
				lo, hasLo := ps["minimum"].(float64)
				hi, hasHi := ps["maximum"].(float64)
				step := 1.0
				if ps["type"] == "number" {
					step = 0.5
				}
				if hasLo {
					try(lo, true)
					try(lo-step, false)
				}
				if hasHi {
					try(hi, true)
					try(hi+step, false)
				}
				if ps["type"] == "integer" {
					try(lo+0.5, false)
					try(fmt.Sprint(lo), false) // text, however number-like
				}
				try(true, false)
			case "boolean":
				try(true, true)
				try(false, true)
				try("true", false)
				try(1, false)
			case "string":
				if ml, _ := ps["minLength"].(float64); ml == 1 {
					try("", false)
				}
				if pat, ok := ps["pattern"].(string); ok {
					re := regexp.MustCompile(pat)
					valid := re.MatchString
					notSchema, _ := ps["not"].(map[string]any)
					if not, ok := notSchema["pattern"].(string); ok {
						notRe := regexp.MustCompile(not)
						valid = func(s string) bool { return re.MatchString(s) && !notRe.MatchString(s) }
					}
					for _, s := range []string{"a", "A-1._x", "9", "-a", ".a", "a/b", "a b", "é", strings.Repeat("a", 64), strings.Repeat("a", 65),
						"a.", "a..", "a.b", "CON", "con.txt", "Lpt1", "nul.", "COM0", "COM10", "CONSOLE", "acon", "aux-1"} {
						try(s, valid(s))
					}
				}
				try([]any{"x"}, false)
				try(map[string]any{}, false)
			case "array":
				items, _ := ps["items"].(map[string]any)
				if mi, _ := ps["minItems"].(float64); mi == 1 {
					try([]any{}, false)
				}
				if items["type"] == "string" {
					try([]any{"b"}, true)
					try([]any{[]any{"b"}}, false)
					if ml, _ := items["minLength"].(float64); ml == 1 {
						try([]any{""}, false)
					}
				}
				if ps["uniqueItems"] == true {
					try([]any{"b", "b"}, false)
				}
				try("b", false)
			case "object":
				try([]any{}, false)
				try("x", false)
			}
		}
	}
	t.Logf("%d values checked", checked)
	if checked < 80 {
		t.Errorf("only %d values checked: is the schema still being read?", checked)
	}
}

// What the schema cannot say (references, cycles, unique ids, a zero
// duration written as text, a misplaced llm field) the decoder still
// checks; these stay refused even though a schema validator passes them.
func TestDecoderChecksBeyondSchema(t *testing.T) {
	for name, d := range map[string]map[string]any{
		"unknown dependency":   doc("/$defs/task", "dependsOn", []any{"zz"}),
		"self dependency":      doc("/$defs/task", "dependsOn", []any{"a"}),
		"duplicate id":         doc("/$defs/task", "id", "b"),
		"id differing in case": doc("/$defs/task", "id", "B"),
		"zero duration text":   doc("/$defs/task", "timeout", "0s"),
		"escaping glob":        doc("/$defs/task", "deliverables", []any{"../x"}),
	} {
		if parseDoc(t, d) == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The examples a new user runs first must be valid workflows: every YAML or
// JSON file under examples/ that has tasks.
func TestExamplesAreValid(t *testing.T) {
	n := 0
	err := filepath.WalkDir(filepath.Join("..", "examples"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(p) {
		case ".yaml", ".yml", ".json":
		default:
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !regexp.MustCompile(`(?m)^tasks:|"tasks"\s*:`).Match(b) {
			return nil // not a workflow (a config or data beside one)
		}
		n++
		if _, err := ParseWorkflowFile(p, b); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no example workflows found")
	}
	t.Logf("%d example workflows", n)
}

// The one deliberate difference: where the schema says string, the decoder
// takes any scalar as the text written (title: 2024, env: {DEBUG: 1}), which
// YAML users expect and which cannot misread anything, since the text is
// kept as written (country: no stays "no"). Editors flag these; runs accept
// them.
func TestTextFieldsTakeScalarsAsWritten(t *testing.T) {
	wf, err := ParseWorkflow("wf.yaml", []byte("name: 2024\ntasks:\n  - id: 1\n    title: no\n    worker: {command: x, env: {DEBUG: 1, RATE: 1.50}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	tk := wf.Tasks[0]
	if wf.Name != "2024" || tk.ID != "1" || tk.Title != "no" || tk.Worker.Env["DEBUG"] != "1" || tk.Worker.Env["RATE"] != "1.50" {
		t.Errorf("decoded %q %q %q %v", wf.Name, tk.ID, tk.Title, tk.Worker.Env)
	}
}
