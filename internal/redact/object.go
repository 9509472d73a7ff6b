package redact

import "strings"

// lastApplied is the annotation kubectl apply leaves on an object: a JSON
// copy of the object, a Secret's data included.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// Object returns a copy of a Kubernetes object (as unstructured JSON:
// maps, lists, strings, numbers, booleans) with every secret replaced by
// its Mask:
//
//   - every value under data and stringData of a Secret, whatever its key;
//   - the value of every map key that looks secret (see Key), and every
//     element of a list under such a key;
//   - the value of a {name: …, value: …} (or {key: …, value: …}) entry whose
//     name looks secret: a container's env[] entry;
//   - in a list of strings (args, command), the element after a flag that
//     looks secret (--password, then its value);
//   - in every other string, the secrets Text finds (URL userinfo,
//     -D…Password=…, --db-pass=…, Authorization headers, private keys);
//   - the kubectl last-applied-configuration annotation, which copies the
//     whole object.
//
// obj is not changed; nil stays nil.
func Object(obj map[string]any) map[string]any {
	if obj == nil {
		return nil
	}
	return walkMap(obj)
}

// Field returns v, the value at path (map keys from the root of an object
// of the given kind), masked as Object masks it at that place: the value
// of a drift record or a field diff.
func Field(kind string, path []string, v any) any {
	if len(path) == 0 {
		if m, ok := v.(map[string]any); ok {
			return Object(m)
		}
		return walk("", v)
	}
	// Build the object around v, mask it, and take v back out: the same
	// rules as Object, with no second copy of them.
	var inner any = v
	for i := len(path) - 1; i >= 1; i-- {
		inner = map[string]any{path[i]: inner}
	}
	root := map[string]any{path[0]: inner}
	if path[0] != "kind" {
		root["kind"] = kind
	}
	var cur any = Object(root)
	for _, p := range path {
		cur = cur.(map[string]any)[p]
	}
	return cur
}

func walkMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	secret := m["kind"] == "Secret"
	pairName := pairKey(m)
	for k, v := range m {
		switch {
		case secret && (k == "data" || k == "stringData"):
			out[k] = maskAll(v)
		case k == lastApplied && isString(v):
			out[k] = Mask(v)
		case k == "value" && pairName != "" && Key(pairName):
			out[k] = maskAll(v)
		default:
			out[k] = walk(k, v)
		}
	}
	return out
}

// pairKey is the name of a {name: …, value: …} or {key: …, value: …}
// entry, or "".
func pairKey(m map[string]any) string {
	if _, ok := m["value"]; !ok {
		return ""
	}
	if n, ok := m["name"].(string); ok {
		return n
	}
	n, _ := m["key"].(string)
	return n
}

// walk masks v, the value of key.
func walk(key string, v any) any {
	secret := key != "" && Key(key)
	switch x := v.(type) {
	case nil:
		return nil
	case map[string]any:
		return walkMap(x)
	case []any:
		if secret {
			return maskAll(x)
		}
		return walkList(x)
	case string:
		if secret {
			return maskString(x)
		}
		return inline(x, maskString)
	default:
		if secret {
			return Mask(x)
		}
		return x
	}
}

// walkList masks the elements of a list; in a list of arguments, the
// value after a secret flag ("--password", "s3cr3t") too.
func walkList(l []any) []any {
	out := make([]any, len(l))
	for i, e := range l {
		out[i] = walk("", e)
		if i == 0 {
			continue
		}
		if flag, ok := l[i-1].(string); ok && secretFlag(flag) {
			if s, ok := e.(string); ok && !strings.HasPrefix(s, "-") {
				out[i] = maskString(s)
			}
		}
	}
	return out
}

// secretFlag reports whether an argument is a flag without its value whose
// name looks secret: "--password", "-api-token".
func secretFlag(arg string) bool {
	name, ok := strings.CutPrefix(arg, "-")
	if !ok || strings.Contains(arg, "=") {
		return false
	}
	return Key(strings.TrimPrefix(name, "-"))
}

// maskAll masks every scalar under v.
func maskAll(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = maskAll(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = maskAll(e)
		}
		return out
	case string:
		return maskString(x)
	default:
		return Mask(x)
	}
}

func maskString(s string) string {
	if isMask(s) {
		return s
	}
	return Mask(s)
}

func isString(v any) bool {
	_, ok := v.(string)
	return ok
}
