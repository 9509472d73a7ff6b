package plan

import (
	"sort"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/state"
)

// StateImpact is what the merge does to one job's state (internal/state).
type StateImpact = state.Impact

// stateImpacts classifies, per job, what the environment's changes do to
// its state. Jobs that are only added are left out (they start empty, as
// they must); a statement whose object is replaced is one impact.
func stateImpacts(env string, objs []ObjectChange, reps []Replacement, baseObjs, headObjs []*render.Object, b, h *pipeline.Result) []StateImpact {
	byKey := func(list []*render.Object) map[string]*render.Object {
		m := make(map[string]*render.Object, len(list))
		for _, o := range list {
			m[objectKey(o)] = o
		}
		return m
	}
	base, head := byKey(baseObjs), byKey(headObjs)
	replaced := map[string]bool{}
	var out []StateImpact
	for _, r := range reps {
		replaced[r.From], replaced[r.To] = true, true
		out = append(out, state.Replaced(r.Statement, declaredState(h, env, r.Statement), r.SQLKind == model.SQLDDL, r.Why, r.Effect))
	}
	for _, c := range objs {
		if replaced[c.Name] || c.Action == Create || c.Action == Keep {
			continue
		}
		key := c.Key()
		bo, ho := base[key], head[key]
		if (bo == nil || !state.IsJob(bo.Unstructured)) && (ho == nil || !state.IsJob(ho.Unstructured)) {
			continue
		}
		var si StateImpact
		switch {
		case ho == nil && bo != nil:
			si = state.DeletedJob(bo.Unstructured, declaredState(b, env, state.JobName(bo.Unstructured)))
		case ho != nil && bo != nil:
			si = state.Changed(bo.Unstructured, ho.Unstructured, declaredState(h, env, state.JobName(ho.Unstructured)))
		default:
			continue
		}
		out = append(out, si)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Job < out[j].Job })
	return out
}

// declaredState is the workload's stateSize of app or statement job in env
// on one side of the plan, or "".
func declaredState(r *pipeline.Result, env, job string) string {
	if r == nil || r.Repo == nil {
		return ""
	}
	for _, a := range r.Repo.EffectiveApps(env) {
		if a.Name == job && a.Spec.Workload.StateSize.Set && a.Spec.Workload.StateSize.Sign() > 0 {
			return a.Spec.Workload.StateSize.String()
		}
	}
	for _, s := range r.Repo.EffectiveStatements(env) {
		if s.Name == job && s.Spec.Workload.StateSize.Set && s.Spec.Workload.StateSize.Sign() > 0 {
			return s.Spec.Workload.StateSize.String()
		}
	}
	return ""
}
