package plan

import (
	"reflect"
	"strings"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/sync"
)

// compareObjects pairs base's and head's objects by group, kind, namespace
// and name, and returns those that differ in head's apply order, then the
// removed ones in base's. pruned says whether sync would delete a removed
// object (else it is kept). An object whose change touches a field its
// kind does not let change is a replace; so is a statement's new object
// whose old one head prunes (one change, naming the old object), and
// those statements are returned as replacements, with notes for the
// statements whose old objects stay.
func compareObjects(base, head []*render.Object, pruned func(*render.Object) bool) ([]ObjectChange, []Replacement, []string) {
	byKey := make(map[string]*render.Object, len(base))
	for _, o := range base {
		byKey[objectKey(o)] = o
	}
	out := []ObjectChange{}
	var created []*render.Object // created[i] is out[i]'s head object
	seen := make(map[string]bool, len(head))
	for _, o := range head {
		k := objectKey(o)
		seen[k] = true
		old, ok := byKey[k]
		switch {
		case !ok:
			c := change(o, Create)
			c.Diff = unified(c.ID, nil, o.Object)
			out, created = append(out, c), append(created, o)
		case !sameObject(old.Object, o.Object):
			c := change(o, Update)
			if why := immutableReplace(old, o); why != "" {
				c.Action, c.Why = Replace, why
			}
			c.Diff = unified(c.ID, old.Object, o.Object)
			out, created = append(out, c), append(created, o)
		}
	}
	var removed []*render.Object
	for _, o := range base {
		if !seen[objectKey(o)] {
			removed = append(removed, o)
		}
	}
	reps, folded, notes := statementPairs(out, created, removed, pruned)
	for _, o := range removed {
		if folded[o] {
			continue
		}
		a := Keep
		if pruned(o) {
			a = Prune
		}
		out = append(out, change(o, a))
	}
	return out, reps, notes
}

func objectKey(o *render.Object) string {
	return sync.IDOf(o.Unstructured).Key()
}

func change(o *render.Object, a Action) ObjectChange {
	id := sync.IDOf(o.Unstructured)
	return ObjectChange{ID: id.ID(), ObjectID: id, App: o.App, Action: a}
}

// sameObject compares two rendered objects as sync does: everything but
// the revision annotation, which changes with every commit.
func sameObject(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, av := range a {
		bv, ok := b[k]
		if !ok {
			return false
		}
		if k == "metadata" {
			if !sameMetadata(av, bv) {
				return false
			}
			continue
		}
		if !reflect.DeepEqual(av, bv) {
			return false
		}
	}
	return true
}

func sameMetadata(a, b any) bool {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if !aok || !bok {
		return reflect.DeepEqual(a, b)
	}
	// Compared as a "metadata" field of an object, the way sync leaves the
	// revision annotation out.
	strip := func(m map[string]any) any { return sync.WithoutRevision(map[string]any{"metadata": m})["metadata"] }
	return reflect.DeepEqual(strip(am), strip(bm))
}

// unifiedPair is the unified diff from one object of base to another of
// head (a statement's old and new objects).
func unifiedPair(baseID, headID string, base, head map[string]any) string {
	text, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: splitLines(maskedYAML(baseID, base)), B: splitLines(maskedYAML(headID, head)),
		FromFile: "base/" + baseID, ToFile: "head/" + headID, Context: 3,
	})
	return text
}

// unified is the unified diff from base's object to head's, as YAML with
// secret values masked the way sync masks them; a nil side is an empty
// file.
func unified(id string, base, head map[string]any) string { return unifiedPair(id, id, base, head) }

// maskedYAML is obj as sync shows it in a diff, so plan and diff mask
// exactly the same values.
func maskedYAML(_ string, obj map[string]any) string { return sync.MaskedYAML(obj) }

// splitLines splits text into lines that keep their "\n", with nothing for
// an empty text (difflib.SplitLines would add an empty line).
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}
