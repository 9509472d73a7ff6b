package sync

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/flinksync/flinksync/internal/jsonptr"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/render"
)

// Ignore rules say which differences between Git and the cluster are not
// drift: an environment's spec.sync.ignore, the presets its
// spec.sync.presets names, and an app's or statement's spec.ignore
// (render.Object.Ignore). A rule selects objects by kind and name (empty:
// any) and ignores every field under its paths (JSON pointers), and every
// field whose managers are all among its managers. An ignored field is
// never drift, never in a diff, and never reverted nor removed: the pass
// compares and applies the desired object with the live value in every
// ignored field Git declares (so an apply leaves it as it is), and does
// not count what other managers set there. docs/drift.md says the same for
// users.

// autoscalerPaths are the fields the FKO autoscaler and its users change on
// a running job (FKO 1.15 CRDs: spec.flinkConfiguration is free-form,
// spec.job.autoscalerResetNonce an integer).
var autoscalerPaths = []string{
	"/spec/flinkConfiguration/pipeline.jobvertex-parallelism-overrides",
	"/spec/job/autoscalerResetNonce",
}

// presets are the built-in rules each name of model.IgnorePresets stands
// for; docs/drift.md lists them with why.
var presets = map[string][]model.IgnoreRule{
	// The autoscaler sets per-vertex parallelism in
	// pipeline.jobvertex-parallelism-overrides; autoscalerResetNonce is
	// bumped live to reset its state.
	"fko-autoscaler": {
		{Kind: "FlinkDeployment", Paths: autoscalerPaths},
		{Kind: "FlinkSessionJob", Paths: autoscalerPaths},
	},
	// FKO's mutating webhook labels a session job with the session
	// cluster it runs on (target.session: spec.deploymentName).
	"fko-webhook": {
		{Kind: "FlinkSessionJob", Paths: []string{"/metadata/labels/target.session"}},
	},
	// CFK 3.3.0's CRDs default no spec field of the kinds flinksync renders,
	// and CFK writes only their status and finalizers, which are never
	// drift: nothing to ignore.
	"cfk": nil,
}

// ignorer is the ignore rules that select one object.
type ignorer struct {
	// paths are the rules' JSON pointers, as tokens.
	paths [][]string
	// managers are the rules' field managers.
	managers map[string]bool
}

// ignoreFor gathers the rules that select o: the environment's, its
// presets' and o's own. Nil when none does.
func ignoreFor(env *model.Environment, o *render.Object) *ignorer {
	var ig *ignorer
	add := func(rules []model.IgnoreRule) {
		for _, r := range rules {
			if (r.Kind != "" && r.Kind != o.GetKind()) || (r.Name != "" && r.Name != o.GetName()) {
				continue
			}
			if ig == nil {
				ig = &ignorer{}
			}
			for _, p := range r.Paths {
				ig.paths = append(ig.paths, jsonptr.Split(p))
			}
			for _, m := range r.Managers {
				if ig.managers == nil {
					ig.managers = map[string]bool{}
				}
				ig.managers[m] = true
			}
		}
	}
	add(env.Spec.Sync.Ignore)
	for _, name := range env.Spec.Sync.Presets {
		add(presets[name])
	}
	add(o.Ignore)
	return ig
}

// path reports whether a rule ignores the field at tokens: it is under
// one of the rules' paths.
func (ig *ignorer) path(tokens []string) bool {
	if ig == nil {
		return false
	}
	for _, p := range ig.paths {
		if hasPrefix(tokens, p) {
			return true
		}
	}
	return false
}

// byManagers reports whether a rule ignores a field with these managers:
// there are some, and all are the rules'.
func (ig *ignorer) byManagers(managers []string) bool {
	if ig == nil || len(ig.managers) == 0 || len(managers) == 0 {
		return false
	}
	for _, m := range managers {
		if !ig.managers[m] {
			return false
		}
	}
	return true
}

// holds reports whether the field at tokens in live holds an ignored
// field: one of ignored (fields found ignored), or a field of live under
// a rule's path.
func (ig *ignorer) holds(live map[string]any, tokens []string, ignored [][]string) bool {
	for _, t := range ignored {
		if hasPrefix(t, tokens) {
			return true
		}
	}
	if ig == nil {
		return false
	}
	for _, p := range ig.paths {
		if hasPrefix(p, tokens) {
			if _, ok := jsonptr.Lookup(live, p); ok {
				return true
			}
		}
	}
	return false
}

// honour returns desired with the live value in every field the rules
// ignore, so that neither the comparison nor an apply touches it: each
// field under a rule's path that Git declares, each field Git no longer
// declares under a rule's path that flinksync's apply set before (an apply
// would remove it), and each field Git declares whose managers are all a
// rule's. Where live has no value, the field is left out. desired itself
// is never changed: the result is a copy when it differs.
func (ig *ignorer) honour(desired, live *unstructured.Unstructured, lf *liveFields) *unstructured.Unstructured {
	if ig == nil || live == nil {
		return desired
	}
	var out *unstructured.Unstructured
	take := func(tokens []string) {
		lv, inLive := jsonptr.Lookup(live.Object, tokens)
		dv, inGit := jsonptr.Lookup(desired.Object, tokens)
		if inLive == inGit && (!inLive || sameValue(dv, lv)) {
			return
		}
		if out == nil {
			out = desired.DeepCopy()
		}
		if inLive {
			jsonptr.Set(out.Object, tokens, runtime.DeepCopyJSONValue(lv))
		} else {
			jsonptr.Delete(out.Object, tokens)
		}
	}
	for _, p := range ig.paths {
		dv, inGit := jsonptr.Lookup(desired.Object, p)
		if inGit {
			eachLeaf(dv, p, take)
		}
		if lv, inLive := jsonptr.Lookup(live.Object, p); inLive && (!inGit || !sameValue(dv, lv)) {
			for _, f := range lf.applied(p) {
				if _, ok := jsonptr.Lookup(desired.Object, f); !ok {
					take(f)
				}
			}
		}
	}
	if len(ig.managers) > 0 {
		for _, f := range lf.ownedOnlyBy(ig.managers) {
			if _, ok := jsonptr.Lookup(desired.Object, f); ok {
				take(f)
			}
		}
	}
	if out == nil {
		return desired
	}
	return out
}

// eachLeaf calls f with the tokens of every field under v (at tokens) that
// is not a map: maps are walked, lists are one field.
func eachLeaf(v any, tokens []string, f func([]string)) {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		f(tokens)
		return
	}
	for _, k := range sortedKeys(m) {
		eachLeaf(m[k], append(tokens[:len(tokens):len(tokens)], k), f)
	}
}

// sameValue reports whether two unstructured values are the same, each
// holding all of the other (contains).
func sameValue(a, b any) bool { return contains(a, b) && contains(b, a) }

// honourIgnoreRules applies the ignore rules that select o to p, whose live
// object exists: p.obj becomes the object the pass compares and applies
// (ignorer.honour), and, for an object flinksync owns, p.added the fields
// other managers added that drift reports and correct mode removes.
func (p *planned) honourIgnoreRules(env *model.Environment, o *render.Object, owned bool) {
	ig := ignoreFor(env, o)
	lf := &liveFields{live: p.live}
	p.obj = ig.honour(p.obj, p.live, lf)
	if owned {
		p.added = addedByOthers(p.obj, p.live, lf, ig)
	}
}
