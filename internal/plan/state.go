package plan

import (
	"fmt"
	"reflect"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/render"
)

// StateEffect is what a change does to a job's running state.
type StateEffect string

// The state effects, from harmless to destructive.
const (
	// StateUntouched: only metadata changes; the operator does not touch the job.
	StateUntouched StateEffect = "untouched"
	// StateKept: an upgrade (or rescale) that carries the state over
	// (upgradeMode savepoint or last-state, a statement's savepoint).
	StateKept StateEffect = "kept"
	// StateSuspended: the job stops; its state is kept when it stops with
	// a savepoint or its last state.
	StateSuspended StateEffect = "suspended"
	// StateResumed: a suspended job starts again from its state.
	StateResumed StateEffect = "resumed"
	// StateLost: the job restarts from empty state (upgradeMode stateless,
	// a statement replaced by a new one).
	StateLost StateEffect = "lost"
	// StateDeleted: the job is deleted (pruned) with its running state.
	StateDeleted StateEffect = "deleted"
)

// StateImpact is what the merge does to one job's state: a Flink job of an
// application (FlinkDeployment, FlinkApplication) or a statement.
type StateImpact struct {
	// Job is the application's or statement's name; Statement is true for
	// a statement.
	Job       string      `json:"job"`
	Statement bool        `json:"statement,omitempty"`
	Effect    StateEffect `json:"effect"`
	// StateSize is the workload's declared stateSize ("" when none).
	StateSize string `json:"stateSize,omitempty"`
	// Message says it in a sentence, e.g. "stateful: upgrade with
	// upgradeMode stateless, 200Gi of state lost".
	Message string `json:"message"`
}

// String is "app orders: stateful: upgrade with upgradeMode stateless, 200Gi of state lost".
func (s StateImpact) String() string {
	what := "app"
	if s.Statement {
		what = "statement"
	}
	return fmt.Sprintf("%s %s: %s", what, s.Job, s.Message)
}

// jobKinds are the kinds whose objects run a Flink job.
var jobKinds = map[string]bool{"FlinkDeployment": true, "FlinkApplication": true, "FlinkStatement": true}

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
		si := StateImpact{Job: r.Statement, Statement: true, Effect: StateLost, StateSize: declaredState(h, env, r.Statement),
			Message: "replaced (" + r.Why + "): " + r.Effect}
		if r.SQLKind == model.SQLDDL {
			si.Effect, si.Message = StateUntouched, "replaced ("+r.Why+"): "+r.Effect+"; a DDL statement holds no state"
		}
		out = append(out, si)
	}
	for _, c := range objs {
		if !jobKinds[c.Kind] || replaced[c.Name] || c.Action == Create || c.Action == Keep {
			continue
		}
		key := c.Key()
		bo, ho := base[key], head[key]
		var si StateImpact
		switch {
		case ho == nil && bo != nil:
			si = deletedJob(bo, declaredState(b, env, jobName(bo)))
		case ho != nil && bo != nil:
			si = changedJob(bo, ho, declaredState(h, env, jobName(ho)))
		default:
			continue
		}
		out = append(out, si)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Job < out[j].Job })
	return out
}

// jobName is the app or statement an object belongs to.
func jobName(o *render.Object) string {
	if n := o.GetLabels()[render.LabelName]; n != "" {
		return n
	}
	return o.GetName()
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

func isStatement(o *render.Object) bool { return o.GetLabels()[render.LabelSQLKind] != "" }

// deletedJob is the impact of pruning a job.
func deletedJob(o *render.Object, size string) StateImpact {
	si := StateImpact{Job: jobName(o), Statement: isStatement(o), Effect: StateDeleted, StateSize: size}
	switch {
	case size != "":
		si.Message = fmt.Sprintf("stateful: deleted, with %s of running state", size)
	default:
		si.Message = "deleted: the running job stops and its state goes with it"
	}
	return si
}

// changedJob is the impact of changing a job's object from b to h.
func changedJob(b, h *render.Object, size string) StateImpact {
	si := StateImpact{Job: jobName(h), Statement: isStatement(h), StateSize: size}
	bs, _, _ := unstructured.NestedMap(b.Object, "spec")
	hs, _, _ := unstructured.NestedMap(h.Object, "spec")
	if reflect.DeepEqual(bs, hs) {
		si.Effect, si.Message = StateUntouched, "metadata only: the operator leaves the job alone"
		return si
	}
	stateful := "stateless"
	if size != "" {
		stateful = "stateful"
	}
	if h.GetKind() == "FlinkStatement" {
		wasStopped, _, _ := unstructured.NestedBool(b.Object, "spec", "stopped")
		stopped, _, _ := unstructured.NestedBool(h.Object, "spec", "stopped")
		switch {
		case stopped && !wasStopped:
			si.Effect, si.Message = StateSuspended, stateful+": stopped with a savepoint; its state is kept for a restart"
		case wasStopped && !stopped:
			si.Effect, si.Message = StateResumed, stateful+": restarted from its savepoint"
		default:
			si.Effect, si.Message = StateKept, stateful+": CMF restarts it from a savepoint; its state is kept"
		}
		return si
	}
	mode, _, _ := unstructured.NestedString(h.Object, "spec", "job", "upgradeMode")
	if mode == "" {
		mode = "stateless" // FKO's default
	}
	wasState, _, _ := unstructured.NestedString(b.Object, "spec", "job", "state")
	state, _, _ := unstructured.NestedString(h.Object, "spec", "job", "state")
	keeps := mode == "savepoint" || mode == "last-state"
	lost := "restarts from empty state"
	if size != "" {
		lost = size + " of state lost"
	}
	switch {
	case state == "suspended" && wasState != "suspended":
		si.Effect = StateSuspended
		if keeps {
			si.Message = fmt.Sprintf("%s: suspended with upgradeMode %s; its state is kept for a resume", stateful, mode)
		} else {
			si.Message = fmt.Sprintf("%s: suspended with upgradeMode stateless; a resume %s", stateful, lost)
			si.Effect = StateLost
		}
	case wasState == "suspended" && state != "suspended":
		si.Effect = StateResumed
		if keeps {
			si.Message = fmt.Sprintf("%s: resumed with upgradeMode %s, from its last savepoint or state", stateful, mode)
		} else {
			si.Effect, si.Message = StateLost, fmt.Sprintf("%s: resumed with upgradeMode stateless: %s", stateful, lost)
		}
	case keeps:
		si.Effect, si.Message = StateKept, fmt.Sprintf("%s: upgrade with upgradeMode %s; its state is kept", stateful, mode)
	default:
		si.Effect, si.Message = StateLost, fmt.Sprintf("%s: upgrade with upgradeMode stateless, %s", stateful, lost)
	}
	return si
}
