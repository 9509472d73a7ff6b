package plan

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/sync"
)

// Replacement is a SQL statement the merge replaces. A statement's
// objects are named after a hash of what CFK and CMF do not let change on a
// running statement (render.StatementName): a new SQL text, pool or
// properties renders a new object, and sync prunes the old one. The new
// statement does not take over the old one's state.
type Replacement struct {
	// Statement is the statement's name in the repository.
	Statement string `json:"statement"`
	// SQLKind is ddl or dml (head's).
	SQLKind model.SQLKind `json:"sqlKind"`
	// From and To are the names of the old and the new objects.
	From string `json:"from"`
	To   string `json:"to"`
	// Why says what changed: "SQL changed", "pool changed", ...
	Why string `json:"why"`
	// Effect says what the replacement means for the statement's state.
	Effect string `json:"effect"`
}

// String is "statement pageviews: replaced (SQL changed): pageviews-1a2b3c →
// pageviews-4d5e6f; a new statement starts without the old one's state".
func (r Replacement) String() string {
	return fmt.Sprintf("statement %s: replaced (%s): %s → %s; %s", r.Statement, r.Why, r.From, r.To, r.Effect)
}

// effect is what replacing a statement of kind k means.
func effect(k model.SQLKind) string {
	if k == model.SQLDDL {
		return "the DDL statement runs again"
	}
	return "a new statement starts without the old one's state"
}

// statementKey identifies the object of one kind that a statement renders
// to, whatever its hashed name: group, kind, namespace and the statement's
// name (label app.kubernetes.io/name); ok is false for objects of no
// statement.
func statementKey(o *render.Object) (key string, ok bool) {
	l := o.GetLabels()
	if l[render.LabelSQLKind] == "" || l[render.LabelName] == "" {
		return "", false
	}
	id := sync.IDOf(o.Unstructured)
	id.Name = l[render.LabelName]
	return id.Key(), true
}

// statementPairs folds, in the changes compareObjects made, each object a
// statement's new revision creates together with the same kind of object
// of the same statement that base had and head prunes into one replace
// (the new object, naming the old one). It returns the replacements, one per
// statement, the base objects folded in, and notes for statements whose
// old objects stay (prune off): then old and new both run.
func statementPairs(out []ObjectChange, created []*render.Object, removed []*render.Object, pruned func(*render.Object) bool) ([]Replacement, map[*render.Object]bool, []string) {
	old := map[string]*render.Object{}
	for _, o := range removed {
		if k, ok := statementKey(o); ok {
			old[k] = o
		}
	}
	folded := map[*render.Object]bool{}
	byStatement := map[string]*Replacement{}
	why := map[string]map[string]bool{}
	kept := map[string]bool{}
	for i, o := range created {
		if o == nil || out[i].Action != Create {
			continue
		}
		k, ok := statementKey(o)
		prev := old[k]
		if !ok || prev == nil {
			continue
		}
		name := o.GetLabels()[render.LabelName]
		if !pruned(prev) {
			kept[name] = true
			continue
		}
		folded[prev] = true
		out[i].Action, out[i].Replaces = Replace, prev.GetName()
		out[i].Diff = unifiedPair(prev.ID(), out[i].ID, prev.Object, o.Object)
		r := byStatement[name]
		if r == nil {
			kind := model.SQLKind(o.GetLabels()[render.LabelSQLKind])
			r = &Replacement{Statement: name, SQLKind: kind, From: prev.GetName(), To: o.GetName(), Effect: effect(kind)}
			byStatement[name], why[name] = r, map[string]bool{}
		}
		for _, w := range statementChanges(prev.Unstructured, o.Unstructured) {
			why[name][w] = true
		}
	}
	var reps []Replacement
	for name, r := range byStatement {
		r.Why = changedWhat(why[name])
		for i := range out {
			if out[i].Action == Replace && out[i].Replaces != "" && created[i].GetLabels()[render.LabelName] == name {
				out[i].Why = r.Why
			}
		}
		reps = append(reps, *r)
	}
	sort.Slice(reps, func(i, j int) bool { return reps[i].Statement < reps[j].Statement })
	var notes []string
	for name := range kept {
		notes = append(notes, fmt.Sprintf("statement %s changes, and its old objects stay in the cluster (prune is off): the old and the new statement both run until the old one is deleted by hand", name))
	}
	sort.Strings(notes)
	return reps, folded, notes
}

// statementChanges says what differs between two objects of a statement:
// "SQL" (a CFK FlinkStatement's or CMF Statement's text, an FKO runner's
// script), "pool", "properties".
func statementChanges(prev, next *unstructured.Unstructured) []string {
	differs := func(path ...string) bool {
		a, _, _ := unstructured.NestedFieldNoCopy(prev.Object, path...)
		b, _, _ := unstructured.NestedFieldNoCopy(next.Object, path...)
		return !reflect.DeepEqual(a, b)
	}
	var out []string
	switch {
	case next.GetKind() == "FlinkStatement" || (render.IsCMF(next) && next.GetKind() == render.CMFStatementKind):
		// CMF's Statement has CFK's spec fields (render/cmf.go).
		if differs("spec", "statement") {
			out = append(out, "SQL")
		}
		if differs("spec", "computePoolName") {
			out = append(out, "pool")
		}
		if differs("spec", "properties") {
			out = append(out, "properties")
		}
	case next.GetKind() == "ConfigMap":
		if differs("data") {
			out = append(out, "SQL")
		}
	}
	return out
}

// changedWhat is "SQL changed", "SQL and pool changed", or, when the
// objects do not tell, what the name's hash covers.
func changedWhat(set map[string]bool) string {
	var parts []string
	for _, w := range []string{"SQL", "pool", "properties"} {
		if set[w] {
			parts = append(parts, w)
		}
	}
	switch len(parts) {
	case 0:
		return "SQL, pool or properties changed"
	case 1:
		return parts[0] + " changed"
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1] + " changed"
}

// immutableReplace says why an object both revisions render must be
// replaced rather than changed (a field its kind does not let change), or
// "" when it can be changed in place.
func immutableReplace(base, head *render.Object) string {
	fields := sync.ImmutableChanges(head.Unstructured, base.Unstructured)
	if len(fields) == 0 {
		return ""
	}
	return fmt.Sprintf("%s cannot change on an existing %s: sync deletes it and creates it again", strings.Join(fields, ", "), head.GetKind())
}
