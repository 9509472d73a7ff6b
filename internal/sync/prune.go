package sync

import (
	"context"
	"fmt"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/flinksync/flinksync/internal/render"
)

// neverPruned are kinds flinksync never deletes, whoever made them: losing
// a namespace or a CRD takes everything in it along.
var neverPruned = map[string]bool{"Namespace": true, "CustomResourceDefinition": true}

// prune deletes what the inventory holds and Git no longer declares. It
// adds to final the objects it keeps tracking (retained ones that are still
// flinksync's), and reports whether the pass may shrink the inventory.
func (s *Syncer) prune(ctx context.Context, st *passState, union, final Inventory, applyFailed bool, opts Options, res *Result) bool {
	var stale []Entry
	for k, e := range union {
		if !st.desired[k] {
			stale = append(stale, e)
		}
	}
	// Delete in reverse apply order: users of an object go before it.
	sort.Slice(stale, func(i, j int) bool {
		ri, rj := render.Rank(stale[i].Kind), render.Rank(stale[j].Kind)
		if ri != rj {
			return ri > rj
		}
		return stale[i].Key() < stale[j].Key()
	})
	retain := func(e Entry, why string) {
		res.Changes = append(res.Changes, Change{Kind: e.Kind, Namespace: e.Namespace, Name: e.Name, Action: Retained, Message: why})
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
			retain(e, "not pruned: the apply of this pass had errors")
		}
		return false
	}
	ok := true
	for _, e := range stale {
		if ctx.Err() != nil {
			return false
		}
		if neverPruned[e.Kind] {
			res.Changes = append(res.Changes, Change{Kind: e.Kind, Namespace: e.Namespace, Name: e.Name, Action: Retained,
				Message: e.Kind + " objects are never pruned"})
			continue
		}
		m, err := s.mapper.RESTMapping(schema.GroupKind{Group: e.Group, Kind: e.Kind})
		if err != nil {
			retain(e, fmt.Sprintf("kind not served by the cluster: %v", err))
			ok = false
			continue
		}
		ri := s.dyn.Resource(m.Resource).Namespace(e.Namespace)
		live, err := ri.Get(ctx, e.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue // already gone
		}
		if err != nil {
			retain(e, fmt.Sprintf("reading it failed: %v", err))
			ok = false
			continue
		}
		l := live.GetLabels()
		if l[render.LabelManagedBy] != render.ManagedByValue || l[render.LabelEnvironment] != res.Environment {
			// Not flinksync's (any more): leave it and stop tracking it.
			res.Changes = append(res.Changes, Change{Kind: e.Kind, Namespace: e.Namespace, Name: e.Name, Action: Retained,
				Message: "not labelled as flinksync's object of this environment; left alone"})
			continue
		}
		del := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr(live.GetUID())}}
		if opts.Mode == ModeDryRun {
			del.DryRun = []string{metav1.DryRunAll}
		}
		if err := ri.Delete(ctx, e.Name, del); err != nil && !apierrors.IsNotFound(err) {
			res.Changes = append(res.Changes, Change{Kind: e.Kind, Namespace: e.Namespace, Name: e.Name, Action: Failed,
				Message: fmt.Sprintf("delete failed: %v", err)})
			final[e.Key()] = e
			ok = false
			continue
		}
		res.Changes = append(res.Changes, Change{Kind: e.Kind, Namespace: e.Namespace, Name: e.Name, Action: Pruned})
	}
	return ok
}

func ptr[T any](v T) *T { return &v }
