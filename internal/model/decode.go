package model

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	yaml "go.yaml.in/yaml/v3"

	"github.com/flinksync/flinksync/internal/diag"
)

// The load rules, one per class of problem the loader finds; findings are
// made from them (Rule.At), with the severity each carries.
var (
	RuleSyntax       = diag.NewRule("LOAD-001", diag.Error, "malformed YAML")
	RuleUnknownField = diag.NewRule("LOAD-002", diag.Error, "a field the repository format does not have")
	RuleWrongType    = diag.NewRule("LOAD-003", diag.Error, "a value of the wrong type")
	RuleRequired     = diag.NewRule("LOAD-004", diag.Error, "a required field is missing")
	RuleName         = diag.NewRule("LOAD-005", diag.Error, "a name that is not a DNS-1123 label")
	RuleDuplicate    = diag.NewRule("LOAD-006", diag.Error, "two objects of one kind with one name")
	RuleReference    = diag.NewRule("LOAD-007", diag.Error, "a reference to a missing environment or pool")
	RulePoolNotAllow = diag.NewRule("LOAD-008", diag.Error, "a pool used in an environment it does not allow")
	RuleQuantity     = diag.NewRule("LOAD-009", diag.Error, "an invalid Kubernetes quantity")
	RuleEnum         = diag.NewRule("LOAD-010", diag.Error, "a value outside the field's allowed set")
	RuleNoEnv        = diag.NewRule("LOAD-011", diag.Error, "a repository with no environment")
	RuleKind         = diag.NewRule("LOAD-012", diag.Error, "an unknown apiVersion or kind")
	RuleInvalidValue = diag.NewRule("LOAD-013", diag.Error, "a value of the right type that is not allowed")
	RuleRead         = diag.NewRule("LOAD-014", diag.Error, "a file that cannot be read")
)

// LoadRules describes the LOAD rules, for output formats that list rules.
var LoadRules = diag.Infos(RuleSyntax, RuleUnknownField, RuleWrongType, RuleRequired, RuleName, RuleDuplicate,
	RuleReference, RulePoolNotAllow, RuleQuantity, RuleEnum, RuleNoEnv, RuleKind, RuleInvalidValue, RuleRead, RuleUnused)

// decoder turns one YAML document into a typed value, strictly: it reports
// every unknown field, wrong type, missing required field and bad enum value
// with its line, and records the line of every field for later stages.
type decoder struct {
	file     string
	findings []*diag.Finding
	lines    map[string]int
	// env and app label the findings of an override or application.
	env, app string
	// failed records the paths that had a problem.
	failed map[string]bool
	// lenient skips required-field checks (for overrides, which are partial).
	lenient bool
	// overlay decodes over a value that holds the base spec, the way
	// mergeNodes merges: maps merge key by key, structs field by field,
	// lists and plain values replace, and null clears.
	overlay bool
	// dropped counts the findings past MaxFindingsPerFile, not kept.
	dropped int
}

func (d *decoder) fail(line int, path string, rule *diag.Rule, msg string) {
	if d.failed != nil {
		d.failed[path] = true
	}
	if len(d.findings) >= MaxFindingsPerFile {
		d.dropped++
		return
	}
	if path != "" {
		msg = path + ": " + msg
	}
	d.findings = append(d.findings, rule.At(d.file, line, msg).For(d.env, d.app))
}

// line records where the field at path is written (its key's line), once.
func (d *decoder) line(path string, line int) {
	if d.lines == nil || path == "" {
		return
	}
	if _, seen := d.lines[path]; !seen {
		d.lines[path] = line
	}
}

var decoderType = reflect.TypeFor[nodeDecoder]()

// decode fills v (addressable) from n; path is the field path for messages.
//
// An alias of a plain value reads that value. An alias of a map or a list
// is refused: each one would decode its anchor again, so a few kilobytes of
// "- *w" lines under an anchor of many keys made millions of findings.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return
		}
		if n.Alias.Kind != yaml.ScalarNode {
			d.fail(n.Line, path, RuleSyntax, "an alias "+clip("*"+n.Value)+" of a map or a list is not supported; write the value out")
			return
		}
		n = n.Alias
	}
	d.line(path, n.Line)
	if d.overlay && n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		v.Set(reflect.Zero(v.Type()))
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(decoderType) {
		var base reflect.Value
		if d.overlay && v.Kind() == reflect.Map && !v.IsNil() {
			base = reflect.ValueOf(v.Interface()) // the base's map, not the field
		}
		if fe := v.Addr().Interface().(nodeDecoder).decodeNode(n); fe != nil {
			d.fail(n.Line, path, fe.rule, fe.msg)
		} else if base.IsValid() && v.Pointer() != base.Pointer() {
			// decodeNode made a new map of the override's keys: add the
			// base's other keys to it (the base's own map is not changed).
			iter := base.MapRange()
			for iter.Next() {
				if !v.MapIndex(iter.Key()).IsValid() {
					v.SetMapIndex(iter.Key(), iter.Value())
				}
			}
		}
		if n.Kind == yaml.MappingNode && path != "" {
			for i := 0; i+1 < len(n.Content); i += 2 {
				d.line(joinKey(path, n.Content[i].Value), n.Content[i].Line)
			}
		}
		return
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // absent and null mean the same: the default applies
	}
	switch v.Kind() {
	case reflect.Pointer:
		nv := reflect.New(v.Type().Elem())
		if d.overlay && !v.IsNil() {
			nv.Elem().Set(v.Elem())
		}
		d.decode(n, nv.Elem(), path)
		v.Set(nv)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n.Line, path, RuleWrongType, "expected a map, got "+describe(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		if d.overlay && !v.IsNil() {
			iter := v.MapRange()
			for iter.Next() {
				m.SetMapIndex(iter.Key(), iter.Value())
			}
		}
		d.eachPair(n, path, func(key string, kn, vn *yaml.Node) {
			d.line(joinKey(path, key), kn.Line)
			ev := reflect.New(v.Type().Elem()).Elem()
			d.decode(vn, ev, joinKey(path, key))
			m.SetMapIndex(reflect.ValueOf(key).Convert(v.Type().Key()), ev)
		})
		v.Set(m)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n.Line, path, RuleWrongType, "expected a list, got "+describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, en := range n.Content {
			d.decode(en, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			d.fail(n.Line, path, RuleWrongType, "expected a string, got "+describe(n)+quoteHint(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Int, reflect.Int64, reflect.Int32:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			d.fail(n.Line, path, RuleWrongType, "expected a whole number, got "+describe(n))
			return
		}
		if len(n.Value) > MaxNumberLength {
			d.fail(n.Line, path, RuleInvalidValue, fmt.Sprintf("a number of %d characters is out of range", len(n.Value)))
			return
		}
		i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
		if err != nil || v.OverflowInt(i) {
			d.fail(n.Line, path, RuleInvalidValue, fmt.Sprintf("%s is out of range", n.Value))
			return
		}
		if i < 0 {
			d.fail(n.Line, path, RuleInvalidValue, fmt.Sprintf("must not be negative, got %d", i))
			return
		}
		v.SetInt(i)
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			d.fail(n.Line, path, RuleWrongType, "expected true or false, got "+describe(n))
			return
		}
		v.SetBool(n.Value == "true" || n.Value == "True" || n.Value == "TRUE")
	default:
		d.fail(n.Line, path, RuleWrongType, "unsupported field type "+v.Type().String())
	}
}

// quoteHint suggests quoting when a number or boolean stands where a string belongs.
func quoteHint(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!float" || n.Tag == "!!bool") {
		return " (quote it: " + clip(n.Value) + ")"
	}
	return ""
}

// eachPair walks a mapping node's key/value pairs, reporting non-string
// keys; of a key written twice it reads the first (repeatedKeys reports it).
func (d *decoder) eachPair(n *yaml.Node, path string, f func(key string, kn, vn *yaml.Node)) {
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		if kn.Kind != yaml.ScalarNode {
			d.fail(kn.Line, path, RuleWrongType, "a map key must be a plain string, got "+describe(kn))
			continue
		}
		if kn.Tag == "!!merge" {
			d.fail(kn.Line, path, RuleSyntax, "YAML merge keys (<<) are not supported; write the fields out")
			continue
		}
		if seen[kn.Value] {
			continue // reported once per document by repeatedKeys
		}
		seen[kn.Value] = true
		f(kn.Value, kn, vn)
	}
}

// repeatedKeys reports every key written twice in any mapping of a document,
// at the second key's line; the first one is the one read. It runs once per
// document, over the nodes as written: an alias is not followed (its anchor
// is checked where it is written).
func repeatedKeys(file string, n *yaml.Node) []*diag.Finding {
	d := &decoder{file: file}
	d.repeatedKeys(n, nil)
	return d.findings
}

// pathStep is one step of a field path: a key, or an index when key is nil.
type pathStep struct {
	key   *string
	index int
}

// repeatedKeys walks n; at is the path to n, made into a string only for a
// finding, so a document nested 10,000 deep does not build 10,000 paths.
func (d *decoder) repeatedKeys(n *yaml.Node, at []pathStep) {
	switch n.Kind {
	case yaml.MappingNode:
		seen := make(map[string]int, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, vn := n.Content[i], n.Content[i+1]
			if kn.Kind != yaml.ScalarNode || kn.Tag == "!!merge" {
				continue // reported where the map is decoded
			}
			if first, dup := seen[kn.Value]; dup {
				d.fail(kn.Line, joinKey(pathOf(at), kn.Value), RuleSyntax, fmt.Sprintf("key written twice (first at line %d); write it once", first))
			} else {
				seen[kn.Value] = kn.Line
			}
			if vn.Kind == yaml.MappingNode || vn.Kind == yaml.SequenceNode {
				d.repeatedKeys(vn, append(at, pathStep{key: &kn.Value}))
			}
		}
	case yaml.SequenceNode:
		for i, en := range n.Content {
			if en.Kind == yaml.MappingNode || en.Kind == yaml.SequenceNode {
				d.repeatedKeys(en, append(at, pathStep{index: i}))
			}
		}
	}
}

// pathOf writes steps as joinKey and the decoder's indexes do.
func pathOf(steps []pathStep) string {
	var b strings.Builder
	for _, s := range steps {
		switch {
		case s.key == nil:
			fmt.Fprintf(&b, "[%d]", s.index)
		case strings.ContainsAny(*s.key, ".[]"):
			b.WriteString("[" + strconv.Quote(*s.key) + "]")
		case b.Len() == 0:
			b.WriteString(*s.key)
		default:
			b.WriteString("." + *s.key)
		}
	}
	return b.String()
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, RuleWrongType, "expected a map of fields, got "+describe(n))
		return
	}
	info := fieldsOf(v.Type())
	present := make(map[string]bool, len(info.byName))
	d.eachPair(n, path, func(key string, kn, vn *yaml.Node) {
		f, ok := info.byName[key]
		if !ok {
			msg := "unknown field " + clip(key)
			if s := suggest(key, info.names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			} else {
				msg += " (known fields: " + strings.Join(info.names, ", ") + ")"
			}
			d.fail(kn.Line, path, RuleUnknownField, msg)
			return
		}
		present[key] = true
		fp := joinKey(path, key)
		d.line(fp, kn.Line)
		fv := v.Field(f.index)
		before := len(d.findings)
		d.decode(vn, fv, fp)
		if len(d.findings) == before && len(f.enum) > 0 && fv.Kind() == reflect.String && fv.String() != "" {
			if !contains(f.enum, fv.String()) {
				d.fail(vn.Line, fp, RuleEnum, clip(fv.String())+" is not one of "+strings.Join(f.enum, ", "))
				fv.SetString("")
			}
		}
	})
	for _, f := range info.fields {
		if f.required && !present[f.name] && !d.lenient {
			where := "missing required field " + strconv.Quote(f.name)
			d.fail(n.Line, path, RuleRequired, where)
		}
	}
}

type fieldInfo struct {
	name     string
	index    int
	required bool
	enum     []string
}

type structInfo struct {
	fields []fieldInfo
	byName map[string]fieldInfo
	names  []string
}

var structCache sync.Map // reflect.Type -> *structInfo

func fieldsOf(t reflect.Type) *structInfo {
	if si, ok := structCache.Load(t); ok {
		return si.(*structInfo)
	}
	si := &structInfo{byName: map[string]fieldInfo{}}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name := strings.Split(sf.Tag.Get("yaml"), ",")[0]
		if name == "" || name == "-" || !sf.IsExported() {
			continue
		}
		fi := fieldInfo{name: name, index: i, required: sf.Tag.Get("model") == "required"}
		if e := sf.Tag.Get("enum"); e != "" {
			fi.enum = strings.Split(e, ",")
		}
		si.fields = append(si.fields, fi)
		si.byName[name] = fi
		si.names = append(si.names, name)
	}
	sort.Strings(si.names)
	structCache.Store(t, si)
	return si
}

// suggest returns the known name closest to key when it is a likely typo.
func suggest(key string, names []string) string {
	best, bestD := "", 3
	lk := strings.ToLower(key)
	for _, n := range names {
		if strings.ToLower(n) == lk {
			return n
		}
		if d := editDistance(lk, strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// joinKey extends a field path; keys with dots (Flink configuration keys)
// are bracketed so paths stay unambiguous.
func joinKey(path, key string) string {
	if strings.ContainsAny(key, ".[]") {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// parentPath drops the last segment of a field path.
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndex(p, "["); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndex(p, "."); i >= 0 {
		return p[:i]
	}
	return ""
}
