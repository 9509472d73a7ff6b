package cmfsync

import (
	"github.com/flinksync/flinksync/internal/cmf"
	"github.com/flinksync/flinksync/internal/jsonptr"
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
				tokens := jsonptr.Split(p)
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
		if v, ok := jsonptr.Lookup(live, p); ok {
			jsonptr.Set(body, p, normalizedValue(v))
		} else {
			jsonptr.Delete(body, p)
		}
	}
}

func normalizedValue(v any) any {
	return normalized(map[string]any{"v": v})["v"]
}
