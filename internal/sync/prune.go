package sync

import (
	"context"
	"fmt"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/flinksync/flinksync/internal/render"
)

// neverPruned are kinds flinksync never deletes, whoever made them: losing
// a namespace or a CRD takes everything in it along.
var neverPruned = map[string]bool{"Namespace": true, "CustomResourceDefinition": true}

// prune deletes what the inventory holds and Git no longer declares. It
// adds to final the objects it keeps tracking (retained ones that are still
// flinksync's), and reports whether the pass may shrink the inventory. A
// running stateful job is deleted only once a savepoint of it is COMPLETED
// (see savepoint); until then it is retained, over as many passes as the
// operator takes.
func (s *Syncer) prune(ctx context.Context, st *passState, union, final Inventory, applyFailed bool, opts Options, res *Result) bool {
	var stale []Entry
	for k, e := range union {
		if !st.desired[k] {
			stale = append(stale, e)
		}
	}
	sort.Slice(stale, func(i, j int) bool { return stale[i].Key() < stale[j].Key() })
	retain := func(e Entry, why string) {
		res.Changes = append(res.Changes, Change{ObjectID: e.ObjectID, Action: Retained, Message: why})
		final[e.Key()] = e
	}
	if len(stale) == 0 {
		return !applyFailed
	}
	switch {
	case !st.env.Spec.Sync.PruneEnabled():
		for _, e := range stale {
			retain(e, "spec.sync.prune is false")
		}
		return !applyFailed
	case len(st.desired) == 0 && !opts.AllowEmpty:
		for _, e := range stale {
			retain(e, "refusing to prune the environment down to zero objects; run apply with --allow-empty if that is meant")
		}
		return false
	case applyFailed:
		for _, e := range stale {
			retain(e, "not pruned: this pass had failed writes or conflicts")
		}
		return false
	}
	type victim struct {
		e Entry
		c candidate
	}
	victims := make([]victim, 0, len(stale))
	for _, e := range stale {
		if ctx.Err() != nil {
			return false
		}
		victims = append(victims, victim{e, s.inspect(ctx, st, e)})
	}
	// Delete in reverse apply order: users of an object go before it (DML
	// statements before DDL ones, by the live object's labels).
	rank := func(v victim) int {
		if v.c.live != nil {
			return render.ObjectRank(v.c.live)
		}
		return render.Rank(v.e.Kind)
	}
	sort.SliceStable(victims, func(i, j int) bool { return rank(victims[i]) > rank(victims[j]) })
	ok := true
	for _, v := range victims {
		if ctx.Err() != nil {
			return false
		}
		e, c := v.e, v.c
		switch {
		case c.why != "":
			res.Changes = append(res.Changes, Change{ObjectID: e.ObjectID, Action: Retained, Message: c.why})
			if c.keep {
				final[e.Key()] = e
				ok = false
			}
			continue
		case c.live == nil:
			continue // already gone
		}
		sp, why, note := s.savepoint(ctx, st, e, c.live, opts)
		if sp != nil {
			res.Savepoints = append(res.Savepoints, *sp)
		}
		if why != "" {
			action := Retained
			if sp != nil && sp.Failed() {
				action = Failed
			}
			// Still tracked, so the pass may write the inventory.
			res.Changes = append(res.Changes, Change{ObjectID: e.ObjectID, Action: action, Message: why})
			final[e.Key()] = e
			continue
		}
		del := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr(c.live.GetUID())}}
		if opts.Mode == ModeDryRun {
			del.DryRun = []string{metav1.DryRunAll}
		}
		if err := c.ri.Delete(ctx, e.Name, del); err != nil && !apierrors.IsNotFound(err) {
			res.Changes = append(res.Changes, Change{ObjectID: e.ObjectID, Action: Failed,
				Message: fmt.Sprintf("delete failed: %v", err)})
			final[e.Key()] = e
			ok = false
			continue
		}
		pruned := Change{ObjectID: e.ObjectID, Action: Pruned, Message: note}
		res.Changes = append(res.Changes, pruned)
	}
	return ok
}

// candidate is an inventory entry prune looked at, and its verdict.
type candidate struct {
	ri   dynamic.ResourceInterface
	live *unstructured.Unstructured // nil: already gone (or not read)
	// why, when not empty, says why the object is not deleted.
	why string
	// keep is true when the inventory goes on listing the object: the
	// reason may pass (a read failed).
	keep bool
}

// inspect decides whether prune may delete the object of inventory entry
// e. The inventory is a ConfigMap anyone with write access to the namespace
// can edit, so no entry is trusted: prune deletes only an object that is
// in the environment's namespace, of a namespaced kind, not a Namespace or
// CRD, and flinksync's object of this environment by the live object's
// labels (see owner), with no ownerReferences (see ownedBy); the delete
// then carries the UID just read as a precondition. Entries that fail the
// first checks are dropped from the inventory.
func (s *Syncer) inspect(ctx context.Context, st *passState, e Entry) candidate {
	tampered := " (was the inventory edited by hand?): never pruned, and dropped from the inventory"
	if neverPruned[e.Kind] {
		return candidate{why: e.Kind + " objects are never pruned"}
	}
	if e.Namespace != st.ns {
		return candidate{why: fmt.Sprintf("listed in namespace %q, outside the environment's namespace %q%s", e.Namespace, st.ns, tampered)}
	}
	m, err := s.mapper.RESTMapping(schema.GroupKind{Group: e.Group, Kind: e.Kind})
	if err != nil {
		return candidate{why: fmt.Sprintf("kind not served by the cluster: %v", err), keep: true}
	}
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		return candidate{why: fmt.Sprintf("%s is cluster-scoped, and flinksync applies only namespaced objects%s", e.Kind, tampered)}
	}
	ri := s.dyn.Resource(m.Resource).Namespace(e.Namespace)
	live, err := ri.Get(ctx, e.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return candidate{}
	case err != nil:
		return candidate{why: fmt.Sprintf("reading it failed: %v", err), keep: true}
	}
	if why := st.owner.why(live); why != "" {
		// Not flinksync's (any more): leave it and stop tracking it.
		return candidate{why: "not pruned: " + why + "; left alone"}
	}
	if by := ownedBy(live, nil); by != "" {
		// Another controller's, whatever its labels: it deletes the object
		// (or garbage collection does, with its owner). Stop tracking it.
		return candidate{why: "not pruned: it is owned by " + by + ", which deletes it (or Kubernetes' garbage collection does, with its owner); left alone"}
	}
	return candidate{ri: ri, live: live}
}

func ptr[T any](v T) *T { return &v }
