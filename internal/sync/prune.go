package sync

import (
	"context"
	"fmt"
	"sort"
	gosync "sync"

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
		// out are the changes, savepoint and inventory verdict of its
		// delete, gathered apart so workers need no lock.
		out  []Change
		sp   *Savepoint
		keep bool
		bad  bool
	}
	victims := make([]*victim, len(stale))
	lists := s.listStale(ctx, st, stale)
	if ctx.Err() != nil {
		return false
	}
	s.parallel(ctx, len(stale), func(i int) {
		victims[i] = &victim{e: stale[i], c: s.inspectFrom(ctx, st, stale[i], lists)}
	})
	if ctx.Err() != nil {
		return false
	}
	// Delete in reverse apply order: users of an object go before it (DML
	// statements before DDL ones, by the live object's labels). Objects of
	// one rank are deleted at once, up to Workers at a time.
	rank := func(v *victim) int {
		if v.c.live != nil {
			return render.ObjectRank(v.c.live)
		}
		return render.Rank(v.e.Kind)
	}
	sort.SliceStable(victims, func(i, j int) bool { return rank(victims[i]) > rank(victims[j]) })
	deleteOne := func(v *victim) {
		e, c := v.e, v.c
		switch {
		case c.why != "":
			v.out = append(v.out, Change{ObjectID: e.ObjectID, Action: Retained, Message: c.why})
			v.keep, v.bad = c.keep, c.keep
			return
		case c.live == nil:
			return // already gone
		}
		sp, why, note := s.savepoint(ctx, st, e, c.live, opts)
		v.sp = sp
		if why != "" {
			action := Retained
			if sp != nil && sp.Failed() {
				action = Failed
			}
			// Still tracked, so the pass may write the inventory.
			v.out = append(v.out, Change{ObjectID: e.ObjectID, Action: action, Message: why})
			v.keep = true
			return
		}
		del := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr(c.live.GetUID())}}
		if opts.Mode == ModeDryRun {
			del.DryRun = []string{metav1.DryRunAll}
		}
		if err := c.ri.Delete(ctx, e.Name, del); err != nil && !apierrors.IsNotFound(err) {
			v.out = append(v.out, Change{ObjectID: e.ObjectID, Action: Failed, Message: fmt.Sprintf("delete failed: %v", err)})
			v.keep, v.bad = true, true
			return
		}
		v.out = append(v.out, Change{ObjectID: e.ObjectID, Action: Pruned, Message: note})
	}
	for lo := 0; lo < len(victims); {
		hi := lo + 1
		for hi < len(victims) && rank(victims[hi]) == rank(victims[lo]) {
			hi++
		}
		group := victims[lo:hi]
		s.parallel(ctx, len(group), func(i int) { deleteOne(group[i]) })
		if ctx.Err() != nil {
			return false
		}
		lo = hi
	}
	ok := true
	for _, v := range victims {
		res.Changes = append(res.Changes, v.out...)
		if v.sp != nil {
			res.Savepoints = append(res.Savepoints, *v.sp)
		}
		if v.keep {
			final[v.e.Key()] = v.e
		}
		ok = ok && !v.bad
	}
	return ok
}

// parallel runs f(0..n-1) on up to Workers goroutines and waits; it stops
// handing out work once ctx is done.
func (s *Syncer) parallel(ctx context.Context, n int, f func(i int)) {
	work := make(chan int)
	var wg gosync.WaitGroup
	for w := 0; w < min(max(1, s.Workers), n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				f(i)
			}
		}()
	}
feed:
	for i := 0; i < n; i++ {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
}

// listMin is how many stale objects of one kind make prune read them with
// one LIST of the namespace rather than a GET each.
const listMin = 8

// listStale reads, with one LIST per kind, the live objects of the kinds
// with at least listMin stale entries: a prune of 1,000 objects is then a
// few reads and the deletes. A kind whose LIST fails is left to GETs.
func (s *Syncer) listStale(ctx context.Context, st *passState, stale []Entry) map[schema.GroupKind]map[string]*unstructured.Unstructured {
	if st.staleLists != nil {
		return st.staleLists // the guard listed them earlier in the pass
	}
	count := map[schema.GroupKind]int{}
	for _, e := range stale {
		if e.Namespace == st.ns {
			count[schema.GroupKind{Group: e.Group, Kind: e.Kind}]++
		}
	}
	out := map[schema.GroupKind]map[string]*unstructured.Unstructured{}
	for gk, n := range count {
		if n < listMin || neverPruned[gk.Kind] {
			continue
		}
		m, err := s.mapper.RESTMapping(gk)
		if err != nil || m.Scope.Name() != meta.RESTScopeNameNamespace {
			continue
		}
		list, err := s.dyn.Resource(m.Resource).Namespace(st.ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		byName := make(map[string]*unstructured.Unstructured, len(list.Items))
		for i := range list.Items {
			byName[list.Items[i].GetName()] = &list.Items[i]
		}
		out[gk] = byName
	}
	st.staleLists = out
	return out
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
	return s.inspectFrom(ctx, st, e, nil)
}

// inspectFrom is inspect reading the live object from lists (listStale)
// when they hold its kind.
func (s *Syncer) inspectFrom(ctx context.Context, st *passState, e Entry, lists map[schema.GroupKind]map[string]*unstructured.Unstructured) candidate {
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
	var live *unstructured.Unstructured
	if byName, listed := lists[schema.GroupKind{Group: e.Group, Kind: e.Kind}]; listed {
		if live = byName[e.Name]; live == nil {
			return candidate{}
		}
	} else {
		live, err = ri.Get(ctx, e.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return candidate{}
		case err != nil:
			return candidate{why: fmt.Sprintf("reading it failed: %v", err), keep: true}
		}
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
