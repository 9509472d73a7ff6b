// Package jsonptr reads and writes the values JSON pointers (RFC 6901)
// name in unstructured objects (maps and lists as encoding/json decodes
// them). An ignore rule names its fields by JSON pointer from the
// repository's YAML; sync and cmfsync follow them into the objects they
// compare and write.
package jsonptr

import (
	"strconv"
	"strings"

	"github.com/go-openapi/jsonpointer"
)

// Split is the unescaped tokens of JSON pointer p: "" is the whole object
// (no tokens), "/" the key "" at the root. A p that does not start with
// '/' is no pointer (model.ValidPointer refuses it) and is one token.
func Split(p string) []string {
	ptr, err := jsonpointer.New(p)
	if err != nil {
		return []string{p}
	}
	return ptr.DecodedTokens()
}

// Join is the JSON pointer of tokens, the inverse of Split: each token
// after a '/', with '~' written "~0" and '/' written "~1".
func Join(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(jsonpointer.Escape(t))
	}
	return b.String()
}

// Lookup is the value at tokens in v: a map's entry by key, a list's
// element by decimal index. ok is false when the way ends before the last
// token (a missing key, an index that is not one or past the end, a value
// that is neither map nor list).
func Lookup(v any, tokens []string) (value any, ok bool) {
	for _, t := range tokens {
		switch x := v.(type) {
		case map[string]any:
			c, ok := x[t]
			if !ok {
				return nil, false
			}
			v = c
		case []any:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// Set sets the value at tokens in obj to v, making the maps on the way
// that are missing. It does nothing where the way goes through something
// else than a map or a list, or past the end of a list (a list does not
// grow), and for no tokens.
func Set(obj map[string]any, tokens []string, v any) {
	n := len(tokens)
	if n == 0 {
		return
	}
	for i := 1; i < n; i++ {
		if _, ok := Lookup(obj, tokens[:i]); ok {
			continue
		}
		parent, _ := Lookup(obj, tokens[:i-1])
		m, ok := parent.(map[string]any)
		if !ok {
			return
		}
		m[tokens[i-1]] = map[string]any{}
	}
	switch parent, _ := Lookup(obj, tokens[:n-1]); x := parent.(type) {
	case map[string]any:
		x[tokens[n-1]] = v
	case []any:
		if i, err := strconv.Atoi(tokens[n-1]); err == nil && i >= 0 && i < len(x) {
			x[i] = v
		}
	}
}

// Delete removes the map entry at tokens from obj. It does nothing when
// there is none, when the last token is in a list (a list keeps its
// length), and for no tokens.
func Delete(obj map[string]any, tokens []string) {
	if len(tokens) == 0 {
		return
	}
	parent, ok := Lookup(obj, tokens[:len(tokens)-1])
	if m, isMap := parent.(map[string]any); ok && isMap {
		delete(m, tokens[len(tokens)-1])
	}
}
