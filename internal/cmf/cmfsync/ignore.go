package cmfsync

import (
	"strconv"
	"strings"

	"github.com/flinksync/flinksync/internal/cmf"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/render"
)

// Ignore rules on CMF (docs/drift.md): the environment's spec.sync.ignore
// and an app's or statement's spec.ignore select resources by kind (CMF's:
// FlinkApplication, Statement, ComputePool, …) and name, and every field
// under their paths (JSON pointers into the rendered resource, e.g.
// /spec/flinkConfiguration/pipeline.jobvertex-parallelism-overrides) is
// neither drift nor written: the pass sends CMF's own value there, and
// leaves out a field CMF does not have. Two things do not carry over from
// a cluster. A rule's managers select nothing: CMF records no field
// managers. And the presets (spec.sync.presets) are rules for FKO's and
// CFK's Kubernetes objects, whose fields the operators and the FKO
// autoscaler change in the cluster; CMF's own resources are written by
// nobody but its API's callers.

// ignoredPaths are the JSON pointers, as tokens into the payload, of the
// rules that select o.
func ignoredPaths(env *model.Environment, o *render.Object) [][]string {
	var out [][]string
	add := func(rules []model.IgnoreRule) {
		for _, r := range rules {
			if (r.Kind != "" && r.Kind != o.GetKind()) || (r.Name != "" && r.Name != o.GetName()) {
				continue
			}
			for _, p := range r.Paths {
				tokens := splitPointer(p)
				if o.GetKind() == string(cmf.KindEnvironment) && len(tokens) > 0 && tokens[0] == "spec" {
					tokens = tokens[1:] // CMF's environment has its settings at the top
				}
				if len(tokens) > 0 {
					out = append(out, tokens)
				}
			}
		}
	}
	add(env.Spec.Sync.Ignore)
	add(o.Ignore)
	return out
}

// honourIgnored gives body, at every ignored path, what live holds there:
// CMF's value, or nothing where CMF has none. The applied hash in body
// stays Git's, so a change under an ignored path is not Git's change.
func honourIgnored(body, live cmf.Object, paths [][]string) {
	for _, p := range paths {
		if v, ok := lookupTokens(live, p); ok {
			setTokens(body, p, normalizedValue(v))
		} else {
			deleteTokens(body, p)
		}
	}
}

// splitPointer splits a JSON pointer (RFC 6901) into its unescaped tokens.
func splitPointer(p string) []string {
	if p == "" || p == "/" {
		return nil
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, t := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return parts
}

// lookupTokens is the value at tokens in v (maps by key, lists by index).
func lookupTokens(v any, tokens []string) (any, bool) {
	for _, t := range tokens {
		switch x := v.(type) {
		case map[string]any:
			next, ok := x[t]
			if !ok {
				return nil, false
			}
			v = next
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

// setTokens sets the value at tokens in obj, making the maps on the way;
// it does nothing where the way goes through a value that is not a map,
// or past the end of a list.
func setTokens(obj map[string]any, tokens []string, v any) {
	var cur any = obj
	for i, t := range tokens {
		last := i == len(tokens)-1
		switch x := cur.(type) {
		case map[string]any:
			if last {
				x[t] = v
				return
			}
			next, ok := x[t]
			if !ok {
				next = map[string]any{}
				x[t] = next
			}
			cur = next
		case []any:
			n, err := strconv.Atoi(t)
			if err != nil || n < 0 || n >= len(x) {
				return
			}
			if last {
				x[n] = v
				return
			}
			cur = x[n]
		default:
			return
		}
	}
}

// deleteTokens removes the map entry at tokens from obj.
func deleteTokens(obj map[string]any, tokens []string) {
	parent, ok := lookupTokens(obj, tokens[:len(tokens)-1])
	if m, isMap := parent.(map[string]any); ok && isMap {
		delete(m, tokens[len(tokens)-1])
	}
}

func normalizedValue(v any) any {
	return normalized(map[string]any{"v": v})["v"]
}
