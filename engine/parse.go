package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// MaxWorkflowSize bounds what is read, so a wrong path (a log, a binary)
// fails fast with a clear message instead of eating memory.
const MaxWorkflowSize = 4 << 20

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
	// cause is errParserBug when the problem is a bug of ours.
	cause error
}

// Unwrap lets errors.Is tell an internal error from a bad workflow.
func (e *ValidationError) Unwrap() error { return e.cause }

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

// ParseWorkflowFile parses and validates the workflow read from the file
// at path (which the caller read, through the workspace's root): its
// commands run in the file's folder.
func ParseWorkflowFile(path string, data []byte) (*Workflow, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("workflow %s: %w", path, err)
	}
	wf, err := ParseWorkflow(path, data)
	if err != nil {
		return nil, err
	}
	wf.Path = abs
	wf.Dir = filepath.Dir(abs)
	return wf, nil
}

// errParserBug marks the error ParseWorkflow returns when checking a
// workflow hit a bug of ours (a panic): the caller still gets a problem to
// show, and tests can tell a bug from a bad workflow.
var errParserBug = errors.New("internal error")

// ParseWorkflow parses and validates a workflow given as YAML or JSON text;
// file names it in problems. The returned error is a *ValidationError when
// the text was read but is not a valid workflow.
func ParseWorkflow(file string, data []byte) (*Workflow, error) {
	return guardParse(file, func() (*Workflow, error) { return parseWorkflow(file, data) })
}

// guardParse runs parse, turning a panic into a problem naming the file:
// diagnostics check every workflow file of a workspace as it is typed, so a
// bug here must cost one diagnostic, not the sidecar.
func guardParse(file string, parse func() (*Workflow, error)) (wf *Workflow, err error) {
	defer func() {
		if r := recover(); r != nil {
			wf = nil
			err = &ValidationError{
				Problems: []Problem{{File: file, Line: 1, Column: 1, Message: fmt.Sprintf(
					"internal error while checking this workflow (a bug in mimir-sidecar; please report it with the file): %v", r)}},
				cause: errParserBug,
			}
		}
	}()
	return parse()
}

func parseWorkflow(file string, data []byte) (*Workflow, error) {
	if len(data) > MaxWorkflowSize {
		return nil, &ValidationError{Problems: []Problem{{File: file, Message: fmt.Sprintf("%d bytes is more than a workflow can be (%d)", len(data), MaxWorkflowSize)}}}
	}
	// JSON is YAML, but not the other way round: a .json file with a
	// syntax error must be reported as broken JSON, not read as a YAML
	// string with no tasks.
	if strings.EqualFold(filepath.Ext(file), ".json") {
		if p, ok := jsonSyntaxProblem(file, data); !ok {
			return nil, &ValidationError{Problems: []Problem{p}}
		}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &ValidationError{Problems: []Problem{syntaxProblem(file, err)}}
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if doc.Kind == 0 || (doc.Kind == yaml.ScalarNode && doc.Tag == "!!null") {
		return nil, &ValidationError{Problems: []Problem{{File: file, Line: 1, Column: 1, Message: "the workflow is empty: it needs a name and at least one task"}}}
	}
	d := &decoder{file: file, pos: map[any]positions{}, budget: aliasBudget(doc)}
	if isMimirTasks(doc) {
		doc = d.fromMimir(file, doc)
	}
	wf := &Workflow{}
	// Checks run on whatever decoded, so that an unknown field and a cycle
	// are reported together; only a root that is not a mapping leaves
	// nothing to check.
	if d.decode(doc, reflect.ValueOf(wf).Elem(), "") && !d.overBudget {
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
		if d.dropped > 0 {
			d.problems = append(d.problems, Problem{File: file, Message: fmt.Sprintf("and %d more problems not listed: fix these and check again", d.dropped)})
		}
		return nil, &ValidationError{Problems: d.problems}
	}
	for _, t := range wf.Tasks {
		if t.Isolation == "" {
			t.Isolation = wf.Isolation
		}
	}
	wf.Source = data
	return wf, nil
}

// maxAliasExpansion is how many values beyond those written in the file
// aliases may add. Sharing an agent spec among a few hundred tasks stays
// far below it; a "billion laughs" document (aliases of lists of aliases)
// reaches it long before it costs real time or memory.
const maxAliasExpansion = 1 << 20

// aliasBudget resolves every alias in the tree in place, so that the
// decoder and the validator only ever see the nodes aliases stand for
// (an alias node has no Content and an anchor name for a Value: walking
// it as a list or reading it as text was a crash and a wrong check), and
// returns how many values decoding may visit.
func aliasBudget(doc *yaml.Node) int {
	seen := map[*yaml.Node]bool{}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if seen[n] {
			return
		}
		seen[n] = true
		for i, c := range n.Content {
			for c.Kind == yaml.AliasNode && c.Alias != nil {
				c = c.Alias
			}
			n.Content[i] = c
			walk(c)
		}
	}
	walk(doc)
	return len(seen) + maxAliasExpansion
}

// jsonSyntaxProblem reports where data is not JSON; ok when it is.
func jsonSyntaxProblem(file string, data []byte) (p Problem, ok bool) {
	var v any
	err := json.Unmarshal(data, &v)
	if err == nil {
		return Problem{}, true
	}
	p = Problem{File: file, Line: 1, Column: 1, Message: "not valid JSON: " + err.Error()}
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		before := data[:min(int(syntax.Offset), len(data))]
		p.Line = 1 + bytes.Count(before, []byte("\n"))
		p.Column = 1 + len(before) - (bytes.LastIndexByte(before, '\n') + 1)
		if p.Column > 1 {
			p.Column-- // the offset is just past the offending byte
		}
	}
	return p, false
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

type field struct {
	key, value *yaml.Node
	// bad is set when the value did not decode: its problem is reported
	// already, so validation does not judge the zero value left in its place.
	bad bool
}

// given reports whether the field was written and decoded.
func (p positions) given(name string) bool {
	f, ok := p[name]
	return ok && !f.bad
}

// bad reports whether the field was written but did not decode, or a
// misspelling of it was written ("wroker"): either way its problem is
// reported already, and "needs a worker" would only repeat it.
func (p positions) bad(name string) bool { return p[name].bad || p[misspelt+name].bad }

// misspelt prefixes the entry that marks a field as misspelt.
const misspelt = "\x00misspelt:"

type decoder struct {
	file     string
	problems []Problem
	pos      map[any]positions
	// budget bounds the values decoded, which aliases can multiply; once
	// spent, decoding stops with one problem (overBudget).
	budget     int
	overBudget bool
	dropped    int // problems past maxProblems
}

// maxProblems bounds the problems listed for one file: past it a person
// fixes the first ones and checks again, and a hostile file cannot make the
// list (sent to the editor as diagnostics) as large as itself.
const maxProblems = 200

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	if len(d.problems) >= maxProblems {
		d.dropped++
		return
	}
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
// problem for everything that does not fit instead of stopping at the
// first. It reports whether n had the right shape for v: a value that is
// not is left as it was (a pointer stays nil), so that validation does not
// judge a zero value nobody wrote.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) bool {
	if d.budget--; d.budget < 0 {
		if !d.overBudget {
			d.overBudget = true
			// Appended past maxProblems too: it says why checking stopped.
			d.problems = append(d.problems, Problem{File: d.file, Line: n.Line, Column: n.Column, Message: fmt.Sprintf(
				"%s: aliases expand this workflow to more than %d values; write the repeated parts out or share less", orRoot(path), maxAliasExpansion)})
		}
		return false
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return true
	}
	switch v.Type() {
	case commandType:
		return d.decodeCommand(n, v.Addr().Interface().(*Command), path)
	case durationType:
		dur, err := decodeDuration(n)
		if err != nil {
			d.errorf(n, "%s: %v", path, err)
			return false
		}
		v.Set(reflect.ValueOf(dur))
		return true
	}
	switch v.Kind() {
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		if !d.decode(n, elem.Elem(), path) {
			return false
		}
		v.Set(elem)
	case reflect.Struct:
		return d.decodeStruct(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, "%s must be a list, not %s", path, describe(n))
			return false
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
			d.errorf(n, "%s must be a mapping of names to values, not %s", path, describe(n))
			return false
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				d.errorf(k, "%s: a name must be text, not %s", path, describe(k))
				continue
			}
			elem := reflect.New(v.Type().Elem()).Elem()
			if d.decode(val, elem, path+"."+k.Value) {
				m.SetMapIndex(reflect.ValueOf(k.Value), elem)
			}
		}
		v.Set(m)
	case reflect.String:
		// Any scalar is taken as the text written (title: 2024 is "2024",
		// country: no is "no"), never as YAML's reading of it.
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, "%s must be text, not %s", path, describe(n))
			return false
		}
		v.SetString(n.Value)
	case reflect.Int:
		i, ok := wholeNumber(n)
		if !ok {
			d.errorf(n, "%s must be a whole number, not %s", path, describe(n))
			return false
		}
		v.SetInt(i)
	case reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || err != nil {
			d.errorf(n, "%s must be a number, not %s", path, describe(n))
			return false
		}
		v.SetFloat(f)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || err != nil {
			d.errorf(n, "%s must be true or false, not %s", path, describe(n))
			return false
		}
		v.SetBool(b)
	default:
		d.errorf(n, "%s: cannot decode into %s", path, v.Type())
		return false
	}
	return true
}

// wholeNumber reads an integer the way the schema's "integer" does: a
// number without a fraction (2 or 2.0), never text ("2" in quotes is a
// string to every JSON Schema validator, so it is an error here too rather
// than a silent conversion).
func wholeNumber(n *yaml.Node) (int64, bool) {
	if n.Kind != yaml.ScalarNode {
		return 0, false
	}
	switch n.Tag {
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil {
			return 0, false
		}
		return i, true
	case "!!float":
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, false
		}
		return int64(f), true
	}
	return 0, false
}

// durationText is the schema's pattern for a duration given as text.
var durationText = regexp.MustCompile(`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`)

var plainNumber = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// decodeDuration reads a duration as the schema allows it: text with units
// ("90s", "1h30m") or a number of seconds (90). Text without a unit ("90"
// in quotes) is refused rather than guessed at, as the schema refuses it.
func decodeDuration(n *yaml.Node) (Duration, error) {
	const hint = `write it like "30s", "5m" or "1h30m", or as a number of seconds`
	if n.Kind != yaml.ScalarNode {
		return 0, fmt.Errorf("must be a duration (%s), not %s", hint, describe(n))
	}
	switch n.Tag {
	case "!!int", "!!float":
		secs, err := strconv.ParseFloat(n.Value, 64)
		if err != nil {
			if i, ok := wholeNumber(n); ok {
				secs, err = float64(i), nil
			}
		}
		if err != nil || math.IsNaN(secs) || math.Abs(secs) > float64(math.MaxInt64/int64(time.Second)) {
			return 0, fmt.Errorf("%s is not a duration: %s", n.Value, hint)
		}
		return Duration(secs * float64(time.Second)), nil
	case "!!str":
		if plainNumber.MatchString(n.Value) {
			return 0, fmt.Errorf("%q has no unit: write %q, or the number %s without quotes for seconds", n.Value, n.Value+"s", n.Value)
		}
		if !durationText.MatchString(n.Value) {
			return 0, fmt.Errorf("%q is not a duration: %s", n.Value, hint)
		}
		v, err := time.ParseDuration(n.Value)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration: %w", n.Value, err)
		}
		return Duration(v), nil
	}
	return 0, fmt.Errorf("must be a duration (%s), not %s", hint, describe(n))
}

func orRoot(path string) string {
	if path == "" {
		return "the workflow"
	}
	return path
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) bool {
	what := orRoot(path)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s must be a mapping of fields, not %s", what, describe(n))
		return false
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
	pos := positions{"": {key: n, value: n}}
	d.pos[v.Addr().Interface()] = pos
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, "%s: a field name must be text, not %s", what, describe(k))
			continue
		}
		if first, dup := pos[k.Value]; dup {
			d.errorf(k, "%s: %q is given twice (first at line %d)", what, k.Value, first.key.Line)
			continue
		}
		idx, ok := fields[k.Value]
		if !ok && k.Tag == "!!merge" {
			// Merge keys are not part of YAML 1.2 nor of JSON Schema, so an
			// editor would judge such a mapping differently from a run.
			pos[k.Value] = field{key: k, value: val, bad: true}
			d.errorf(k, "%s: merge keys (<<) are not supported: write the fields out, or alias a whole value (worker: *shared)", what)
			// What it would have merged is not missing: "needs a command"
			// would only repeat this problem.
			merged := []*yaml.Node{val}
			if val.Kind == yaml.SequenceNode {
				merged = val.Content
			}
			for _, m := range merged {
				for j := 0; m.Kind == yaml.MappingNode && j+1 < len(m.Content); j += 2 {
					pos[misspelt+m.Content[j].Value] = field{key: k, value: val, bad: true}
				}
			}
			continue
		}
		if !ok {
			pos[k.Value] = field{key: k, value: val, bad: true}
			if near := nearest(k.Value, names); near != "" {
				pos[misspelt+near] = field{key: k, value: val, bad: true}
			}
			d.errorf(k, "%s: unknown field %q%s", what, k.Value, suggest(k.Value, names, "fields"))
			continue
		}
		before := len(d.problems)
		d.decode(val, v.Field(idx), join(path, k.Value))
		pos[k.Value] = field{key: k, value: val, bad: len(d.problems) > before}
	}
	return true
}

func (d *decoder) decodeCommand(n *yaml.Node, c *Command, path string) bool {
	switch n.Kind {
	case yaml.ScalarNode:
		c.Shell = n.Value
	case yaml.SequenceNode:
		for _, e := range n.Content {
			if e.Kind != yaml.ScalarNode || e.Tag == "!!null" {
				d.errorf(e, "%s: each argument must be text", path)
				c.Argv = nil
				return false
			}
			c.Argv = append(c.Argv, e.Value)
		}
	default:
		d.errorf(n, "%s must be a shell command (text) or an argument list", path)
		return false
	}
	return true
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

// suggest names the known name closest to a misspelt one, else lists
// them all; kind says what they are ("fields", "tasks").
func suggest(got string, known []string, kind string) string {
	if best := nearest(got, known); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return " (known " + kind + ": " + strings.Join(known, ", ") + ")"
}

// nearest is the known name within two edits of got, or "".
func nearest(got string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if dist := editDistance(strings.ToLower(got), strings.ToLower(k)); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	return best
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
