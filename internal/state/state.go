// Package state says what a change to a Flink job does to its running
// state, and guards against changes that throw state away (policy
// STATE-001). plan uses it on two rendered revisions of Git; sync on the
// live object and the one it is about to write or prune.
package state

import (
	"fmt"
	"reflect"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/render"
)

// Effect is what a change does to a job's running state.
type Effect string

// The state effects, from harmless to destructive.
const (
	// Untouched: only metadata changes; the operator does not touch the job.
	Untouched Effect = "untouched"
	// Kept: an upgrade (or rescale) that carries the state over
	// (upgradeMode savepoint or last-state, a statement's savepoint).
	Kept Effect = "kept"
	// Suspended: the job stops; its state is kept when it stops with
	// a savepoint or its last state.
	Suspended Effect = "suspended"
	// Resumed: a suspended job starts again from its state.
	Resumed Effect = "resumed"
	// Lost: the job restarts from empty state (upgradeMode stateless,
	// a statement replaced by a new one).
	Lost Effect = "lost"
	// Deleted: the job is deleted (pruned); its state survives only in
	// the savepoint flinksync takes first, when it takes one.
	Deleted Effect = "deleted"
)

// Impact is what a change does to one job's state: a Flink job of an
// application (FlinkDeployment, FlinkApplication) or a statement.
type Impact struct {
	// Job is the application's or statement's name; Statement is true for
	// a statement.
	Job       string `json:"job"`
	Statement bool   `json:"statement,omitempty"`
	Effect    Effect `json:"effect"`
	// StateSize is the workload's declared stateSize ("" when none).
	StateSize string `json:"stateSize,omitempty"`
	// Message says it in a sentence, e.g. "stateful: upgrade with
	// upgradeMode stateless, 200Gi of state lost".
	Message string `json:"message"`
	// LosesState is true when declared state goes and no savepoint keeps
	// it: what the guard (STATE-001) stops.
	LosesState bool `json:"losesState,omitempty"`
}

// String is "app orders: stateful: upgrade with upgradeMode stateless, 200Gi of state lost".
func (i Impact) String() string {
	what := "app"
	if i.Statement {
		what = "statement"
	}
	return fmt.Sprintf("%s %s: %s", what, i.Job, i.Message)
}

// jobKinds are the kinds of the applications' objects that run a Flink
// job (a CMF application, target: cmf, is a FlinkApplication too); a
// statement's are isStatementKind's.
var jobKinds = map[string]bool{"FlinkDeployment": true, "FlinkApplication": true}

// IsJob reports whether u runs a Flink job.
func IsJob(u *unstructured.Unstructured) bool { return jobKinds[u.GetKind()] || isStatementKind(u) }

// isStatementKind reports whether u is a statement's own object, the one
// CFK or CMF runs: a CFK FlinkStatement, or a CMF Statement
// (cmf.confluent.io/v1, which render makes for a target: cmf
// environment). Deleting it throws its running state away; CFK and CMF
// carry the state over a change with a savepoint. An FKO SQL runner's
// object is a FlinkDeployment, judged as an application's (IsStatement
// still says it belongs to a statement).
func isStatementKind(u *unstructured.Unstructured) bool {
	switch u.GetKind() {
	case render.FlinkStatementGVK.Kind:
		return true
	case render.CMFStatementKind:
		return render.IsCMF(u)
	}
	return false
}

// JobName is the app or statement an object belongs to.
func JobName(u *unstructured.Unstructured) string {
	if n := u.GetLabels()[render.LabelName]; n != "" {
		return n
	}
	return u.GetName()
}

// IsStatement reports whether u is a rendered statement (CFK
// FlinkStatement or an FKO SQL runner).
func IsStatement(u *unstructured.Unstructured) bool { return u.GetLabels()[render.LabelSQLKind] != "" }

// SizeOf is the declared state size render stamped on a job's object
// (render.AnnStateSize), "" when none or when it is not a quantity.
// The live object's annotation is anyone's with write access to the
// namespace: a value longer than maxSizeLength is no size, not read.
func SizeOf(u *unstructured.Unstructured) string {
	v := u.GetAnnotations()[render.AnnStateSize]
	if len(v) > maxSizeLength {
		return ""
	}
	if q, err := resource.ParseQuantity(v); err != nil || q.Sign() <= 0 {
		return ""
	}
	return v
}

// maxSizeLength bounds a state-size annotation, as the repository loader
// bounds every quantity.
const maxSizeLength = 64

// keepsState reports whether an application's upgradeMode carries state
// over an upgrade, and the mode (FKO's default is stateless).
func upgradeMode(u *unstructured.Unstructured) (mode string, keeps bool) {
	mode, _, _ = unstructured.NestedString(u.Object, "spec", "job", "upgradeMode")
	if mode == "" {
		mode = "stateless"
	}
	return mode, mode == "savepoint" || mode == "last-state"
}

// Deleted is the impact of pruning the job u, whose declared state is
// size. An application with upgradeMode savepoint or last-state gets a
// savepoint first (sync's prune); a stateless one or a statement does not.
func DeletedJob(u *unstructured.Unstructured, size string) Impact {
	i := Impact{Job: JobName(u), Statement: IsStatement(u), Effect: Deleted, StateSize: size}
	mode, keeps := upgradeMode(u)
	switch {
	case !isStatementKind(u) && keeps && size != "":
		i.Message = fmt.Sprintf("stateful: deleted after a savepoint flinksync takes first (upgradeMode %s); its %s of state is kept in the savepoint", mode, size)
	case !isStatementKind(u) && keeps:
		i.Message = fmt.Sprintf("deleted after a savepoint flinksync takes first (upgradeMode %s)", mode)
	case size != "":
		i.Message = fmt.Sprintf("stateful: deleted with no savepoint (%s), with %s of running state", noSavepointWhy(u, mode), size)
		i.LosesState = true
	default:
		i.Message = "deleted: the running job stops and its state goes with it"
	}
	return i
}

func noSavepointWhy(u *unstructured.Unstructured, mode string) string {
	if isStatementKind(u) {
		return "a statement is deleted as it runs"
	}
	return "upgradeMode " + mode
}

// Replaced is the impact of replacing statement job by a new one (its SQL,
// pool or catalog changed): the new one starts empty, unless it is DDL.
func Replaced(job, size string, ddl bool, why, effect string) Impact {
	i := Impact{Job: job, Statement: true, Effect: Lost, StateSize: size, Message: "replaced (" + why + "): " + effect}
	if ddl {
		i.Effect, i.Message = Untouched, i.Message+"; a DDL statement holds no state"
	}
	i.LosesState = i.Effect == Lost && size != ""
	return i
}

// Changed is the impact of changing a job's object from b to h, whose
// declared state is size.
func Changed(b, h *unstructured.Unstructured, size string) Impact {
	bs, _, _ := unstructured.NestedMap(b.Object, "spec")
	hs, _, _ := unstructured.NestedMap(h.Object, "spec")
	return ChangedSpec(b, h, size, !reflect.DeepEqual(bs, hs))
}

// ChangedSpec is Changed when the caller knows whether the spec changes
// (sync does, from the server's view of the live object, whose spec holds
// fields other managers set).
func ChangedSpec(b, h *unstructured.Unstructured, size string, specChanged bool) Impact {
	i := changed(b, h, size, specChanged)
	i.LosesState = i.Effect == Lost && size != ""
	return i
}

func changed(b, h *unstructured.Unstructured, size string, specChanged bool) Impact {
	i := Impact{Job: JobName(h), Statement: IsStatement(h), StateSize: size}
	if !specChanged {
		i.Effect, i.Message = Untouched, "metadata only: the operator leaves the job alone"
		return i
	}
	stateful := "stateless"
	if size != "" {
		stateful = "stateful"
	}
	if isStatementKind(h) {
		wasStopped, _, _ := unstructured.NestedBool(b.Object, "spec", "stopped")
		stopped, _, _ := unstructured.NestedBool(h.Object, "spec", "stopped")
		switch {
		case stopped && !wasStopped:
			i.Effect, i.Message = Suspended, stateful+": stopped with a savepoint; its state is kept for a restart"
		case wasStopped && !stopped:
			i.Effect, i.Message = Resumed, stateful+": restarted from its savepoint"
		default:
			i.Effect, i.Message = Kept, stateful+": CMF restarts it from a savepoint; its state is kept"
		}
		return i
	}
	mode, keeps := upgradeMode(h)
	wasState, _, _ := unstructured.NestedString(b.Object, "spec", "job", "state")
	st, _, _ := unstructured.NestedString(h.Object, "spec", "job", "state")
	lost := "restarts from empty state"
	if size != "" {
		lost = size + " of state lost"
	}
	switch {
	case st == "suspended" && wasState != "suspended":
		i.Effect = Suspended
		if keeps {
			i.Message = fmt.Sprintf("%s: suspended with upgradeMode %s; its state is kept for a resume", stateful, mode)
		} else {
			i.Effect, i.Message = Lost, fmt.Sprintf("%s: suspended with upgradeMode stateless; a resume %s", stateful, lost)
		}
	case wasState == "suspended" && st != "suspended":
		i.Effect = Resumed
		if keeps {
			i.Message = fmt.Sprintf("%s: resumed with upgradeMode %s, from its last savepoint or state", stateful, mode)
		} else {
			i.Effect, i.Message = Lost, fmt.Sprintf("%s: resumed with upgradeMode stateless: %s", stateful, lost)
		}
	case keeps:
		i.Effect, i.Message = Kept, fmt.Sprintf("%s: upgrade with upgradeMode %s; its state is kept", stateful, mode)
	default:
		i.Effect, i.Message = Lost, fmt.Sprintf("%s: upgrade with upgradeMode stateless, %s", stateful, lost)
	}
	return i
}
