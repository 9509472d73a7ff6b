package render

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

// The per-object overlay path (fastPlan) applies a JSON patch the way
// kustomize does: the object to JSON, the patch library over the JSON, the
// JSON back into an object. Three encodings of every object dominate the
// render of a large environment with an overlay, so the common operations
// are applied here to the object itself, with the same result: add,
// replace and remove of a key in a map reached through maps. Anything else
// (another operation, a list on the way, a key to remove that is missing,
// a value that JSON would change) leaves the object to the library, which
// then also reports any error, in its own words.

// mapOp is one add, replace or remove operation of a JSON patch whose path
// goes through maps only, as the patch library reads it.
type mapOp struct {
	remove bool
	// parents are the keys of the maps on the way, key the key changed.
	parents []string
	key     string
	// value is what the library's result holds for the operation's value:
	// its JSON decoded as k8s.io/apimachinery decodes objects.
	value any
}

// patchKeyDecoder undoes the escapes of a JSON pointer's reference tokens
// as the patch library does (RFC 6901: "~1" is '/', "~0" is '~').
var patchKeyDecoder = strings.NewReplacer("~1", "/", "~0", "~")

// mapOps returns ops as mapOps, or false when one of them is not an add,
// replace or remove with a path and (but for remove) a value.
func mapOps(ops jsonpatch.Patch) ([]mapOp, bool) {
	out := make([]mapOp, 0, len(ops))
	for _, op := range ops {
		kind := op.Kind()
		if kind != "add" && kind != "replace" && kind != "remove" {
			return nil, false
		}
		path, err := op.Path()
		if err != nil {
			return nil, false
		}
		// The library splits the path at every '/' and ignores what comes
		// before the first.
		split := strings.Split(path, "/")
		if len(split) < 2 {
			return nil, false
		}
		m := mapOp{remove: kind == "remove", key: patchKeyDecoder.Replace(split[len(split)-1])}
		for _, part := range split[1 : len(split)-1] {
			m.parents = append(m.parents, patchKeyDecoder.Replace(part))
		}
		if !m.remove {
			raw := op["value"]
			if raw == nil {
				return nil, false
			}
			if err := utiljson.Unmarshal(*raw, &m.value); err != nil {
				return nil, false
			}
		}
		out = append(out, m)
	}
	return out, true
}

// applyMapOps applies ops to obj in place, reporting false when one of them
// cannot be applied here; obj is then partly changed.
func applyMapOps(obj map[string]any, ops []mapOp) bool {
	for _, op := range ops {
		m := obj
		for _, k := range op.parents {
			next, ok := m[k].(map[string]any)
			if !ok {
				return false
			}
			m = next
		}
		if op.remove {
			if _, ok := m[op.key]; !ok {
				return false
			}
			delete(m, op.key)
			continue
		}
		// The library adds or replaces a map's key alike, present or not.
		// Each object gets its own copy of the value.
		m[op.key] = runtime.DeepCopyJSONValue(op.value)
	}
	return true
}

// jsonCopy is a deep copy of an object's value as encoding it to JSON and
// decoding it with k8s.io/apimachinery gives it back: a whole float64 in
// int64's range becomes an int64, a nil map or list becomes nil. It
// reports false for what that would change otherwise or refuse (a string
// that is not UTF-8, NaN, a type no object holds).
func jsonCopy(v any) (any, bool) {
	switch x := v.(type) {
	case nil, bool, int64:
		return x, true
	case string:
		return x, utf8.ValidString(x)
	case float64:
		switch {
		case math.IsNaN(x) || math.IsInf(x, 0):
			return nil, false
		case x != math.Trunc(x) || math.Abs(x) >= 1e21:
			// Written with a fraction or an exponent: read back as it was.
			return x, true
		case math.Abs(x) < 1<<53:
			// Written as its digits ("-0" for -0): an int64.
			return int64(x), true
		}
		// Written as its shortest digits padded with zeros, which decode as
		// an int64 when they fit one (not always x's exact value).
		if i, err := strconv.ParseInt(strconv.FormatFloat(x, 'f', -1, 64), 10, 64); err == nil {
			return i, true
		}
		return x, true
	case map[string]any:
		if x == nil {
			return nil, true
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			c, ok := jsonCopy(e)
			if !ok || !utf8.ValidString(k) {
				return nil, false
			}
			out[k] = c
		}
		return out, true
	case []any:
		if x == nil {
			return nil, true
		}
		out := make([]any, len(x))
		for i, e := range x {
			c, ok := jsonCopy(e)
			if !ok {
				return nil, false
			}
			out[i] = c
		}
		return out, true
	}
	return nil, false
}
