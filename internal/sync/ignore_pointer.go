package sync

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/flinksync/flinksync/internal/jsonptr"
)

// An ignore rule names fields by JSON pointer (RFC 6901); drift names them
// by field path, as people read them:
//
//	/spec/flinkConfiguration/pipeline.jobvertex-parallelism-overrides
//	spec.flinkConfiguration["pipeline.jobvertex-parallelism-overrides"]
//
// Both are a list of map keys (tokens). In a pointer each token follows a
// '/', with '~' written "~0" and '/' written "~1". In a field path tokens
// are joined by '.', and a token that is empty or holds '.', '[' or ']' is
// written in brackets as a Go-quoted string. Pointers are internal/jsonptr's.

// fieldPath is the field path of tokens, as drift names a field.
func fieldPath(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		writeKey(&b, t)
	}
	return b.String()
}

// writeKey adds a map key to a field path.
func writeKey(b *strings.Builder, t string) {
	if t == "" || strings.ContainsAny(t, ".[]") {
		b.WriteString("[" + strconv.Quote(t) + "]")
		return
	}
	if b.Len() > 0 {
		b.WriteByte('.')
	}
	b.WriteString(t)
}

// parseFieldPath is the tokens of a field path, the inverse of fieldPath.
func parseFieldPath(f string) ([]string, error) {
	var out []string
	for i := 0; i < len(f); {
		if f[i] == '[' {
			q, err := strconv.QuotedPrefix(f[i+1:])
			if err != nil || !strings.HasPrefix(f[i+1+len(q):], "]") {
				return nil, fmt.Errorf("field path %q: at %d, a bracket holds a quoted key and closes: [\"a.b\"]", f, i)
			}
			t, _ := strconv.Unquote(q)
			out = append(out, t)
			i += len(q) + 2
			continue
		}
		if len(out) > 0 {
			if f[i] != '.' {
				return nil, fmt.Errorf("field path %q: at %d, '.' or '[' must come between keys", f, i)
			}
			i++
		}
		end := strings.IndexAny(f[i:], ".[]")
		if end < 0 {
			end = len(f) - i
		}
		if end == 0 {
			return nil, fmt.Errorf("field path %q: at %d, a key is missing", f, i)
		}
		out = append(out, f[i:i+end])
		i += end
	}
	return out, nil
}

// PointerToField is the field path a JSON pointer names (how drift shows it).
func PointerToField(p string) string { return fieldPath(jsonptr.Split(p)) }

// FieldToPointer is the JSON pointer of a field path as drift shows it,
// for an ignore rule's paths.
func FieldToPointer(f string) (string, error) {
	tokens, err := parseFieldPath(f)
	if err != nil {
		return "", err
	}
	return jsonptr.Join(tokens), nil
}
