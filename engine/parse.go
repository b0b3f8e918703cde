package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxWorkflowSize bounds what is read, so a wrong path (a log, a binary)
// fails fast with a clear message instead of eating memory.
const maxWorkflowSize = 4 << 20

// Problem is one thing wrong with a workflow, where it is.
type Problem struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Line == 0 {
		return fmt.Sprintf("%s: %s", p.File, p.Message)
	}
	return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Column, p.Message)
}

// ValidationError lists every problem found in a workflow, so a user fixes
// them in one pass rather than one per run.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	if len(e.Problems) == 1 {
		b.WriteString("invalid workflow: ")
		b.WriteString(e.Problems[0].String())
		return b.String()
	}
	fmt.Fprintf(&b, "invalid workflow: %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// LoadWorkflow reads, parses and validates a workflow file.
func LoadWorkflow(path string) (*Workflow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read workflow: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read workflow %s: %w", path, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("read workflow %s: it is a folder; name the workflow file inside it", path)
	}
	if st.Size() > maxWorkflowSize {
		return nil, fmt.Errorf("read workflow %s: %d bytes is more than a workflow can be (%d); is this the right file?", path, st.Size(), maxWorkflowSize)
	}
	data := make([]byte, st.Size())
	if _, err := f.ReadAt(data, 0); err != nil && st.Size() > 0 {
		return nil, fmt.Errorf("read workflow %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("read workflow %s: %w", path, err)
	}
	wf, err := ParseWorkflow(path, data)
	if err != nil {
		return nil, err
	}
	wf.Path = abs
	wf.Dir = filepath.Dir(abs)
	return wf, nil
}

// ParseWorkflow parses and validates a workflow given as YAML or JSON text;
// file names it in problems. The returned error is a *ValidationError when
// the text was read but is not a valid workflow.
func ParseWorkflow(file string, data []byte) (*Workflow, error) {
	if len(data) > maxWorkflowSize {
		return nil, &ValidationError{[]Problem{{File: file, Message: fmt.Sprintf("%d bytes is more than a workflow can be (%d)", len(data), maxWorkflowSize)}}}
	}
	d := &decoder{file: file, pos: map[any]positions{}}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &ValidationError{[]Problem{syntaxProblem(file, err)}}
	}
	wf := &Workflow{}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if doc.Kind == 0 || (doc.Kind == yaml.ScalarNode && doc.Tag == "!!null") {
		return nil, &ValidationError{[]Problem{{File: file, Line: 1, Column: 1, Message: "the workflow is empty: it needs a name and at least one task"}}}
	}
	d.decode(doc, reflect.ValueOf(wf).Elem(), "")
	if len(d.problems) == 0 {
		d.validate(wf, doc)
	}
	if len(d.problems) > 0 {
		sort.SliceStable(d.problems, func(i, j int) bool {
			a, b := d.problems[i], d.problems[j]
			if a.Line != b.Line {
				return a.Line < b.Line
			}
			return a.Column < b.Column
		})
		return nil, &ValidationError{d.problems}
	}
	wf.Source = data
	return wf, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func syntaxProblem(file string, err error) Problem {
	p := Problem{File: file, Line: 1, Column: 1, Message: "not valid YAML or JSON: " + err.Error()}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Message = "not valid YAML or JSON: " + m[2]
	}
	return p
}

// positions records where each field of a mapping stood (under "" the
// mapping itself), so validation can point at the offending line.
type positions map[string]field

type field struct{ key, value *yaml.Node }

type decoder struct {
	file     string
	problems []Problem
	pos      map[any]positions
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	p := Problem{File: d.file, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	d.problems = append(d.problems, p)
}

var (
	commandType  = reflect.TypeFor[Command]()
	durationType = reflect.TypeFor[Duration]()
)

// decode fills v from n by the same rules as the JSON Schema, recording a
// problem for everything that does not fit instead of stopping at the first.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	switch v.Type() {
	case commandType:
		d.decodeCommand(n, v.Addr().Interface().(*Command), path)
		return
	case durationType:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, "%s must be a duration such as \"30s\" or \"5m\"", path)
			return
		}
		dur, err := parseDuration(n.Value)
		if err != nil {
			d.errorf(n, "%s: %v", path, err)
			return
		}
		v.Set(reflect.ValueOf(dur))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, "%s must be a list", path)
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			elem := fmt.Sprintf("%s[%d]", path, i)
			if c.Kind == yaml.ScalarNode && c.Tag == "!!null" {
				// An empty item ("-" alone) would otherwise be a nil task.
				d.errorf(c, "%s is empty: remove the lone '-' or fill it in", elem)
				continue
			}
			d.decode(c, s.Index(i), elem)
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.errorf(n, "%s must be a mapping of names to values", path)
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			elem := reflect.New(v.Type().Elem()).Elem()
			d.decode(val, elem, path+"."+k.Value)
			m.SetMapIndex(reflect.ValueOf(k.Value), elem)
		}
		v.Set(m)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, "%s must be text", path)
			return
		}
		v.SetString(n.Value)
	case reflect.Int:
		i, err := strconv.Atoi(n.Value)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.errorf(n, "%s must be a whole number, not %s", path, describe(n))
			return
		}
		v.SetInt(int64(i))
	case reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || err != nil {
			d.errorf(n, "%s must be a number, not %s", path, describe(n))
			return
		}
		v.SetFloat(f)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || err != nil {
			d.errorf(n, "%s must be true or false, not %s", path, describe(n))
			return
		}
		v.SetBool(b)
	default:
		d.errorf(n, "%s: cannot decode into %s", path, v.Type())
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	what := path
	if what == "" {
		what = "the workflow"
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s must be a mapping of fields, not %s", what, describe(n))
		return
	}
	t := v.Type()
	fields := map[string]int{}
	var names []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = i
		names = append(names, name)
	}
	pos := positions{"": {n, n}}
	d.pos[v.Addr().Interface()] = pos
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if first, dup := pos[k.Value]; dup {
			d.errorf(k, "%s: %q is given twice (first at line %d)", what, k.Value, first.key.Line)
			continue
		}
		pos[k.Value] = field{k, val}
		idx, ok := fields[k.Value]
		if !ok {
			d.errorf(k, "%s: unknown field %q%s", what, k.Value, suggest(k.Value, names))
			continue
		}
		d.decode(val, v.Field(idx), join(path, k.Value))
	}
}

func (d *decoder) decodeCommand(n *yaml.Node, c *Command, path string) {
	switch n.Kind {
	case yaml.ScalarNode:
		c.Shell = n.Value
	case yaml.SequenceNode:
		for _, e := range n.Content {
			if e.Kind != yaml.ScalarNode {
				d.errorf(e, "%s: each argument must be text", path)
				return
			}
			c.Argv = append(c.Argv, e.Value)
		}
	default:
		d.errorf(n, "%s must be a shell command (text) or an argument list", path)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

// suggest names the known field closest to a misspelt one.
func suggest(got string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if dist := editDistance(strings.ToLower(got), strings.ToLower(k)); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return " (known fields: " + strings.Join(known, ", ") + ")"
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
