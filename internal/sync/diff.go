package sync

import (
	"context"
	"sort"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/render"
)

// ObjectDiff is how one object in the cluster differs from Git.
type ObjectDiff struct {
	ObjectID
	// Action is what apply would do: created, configured (or drifted in
	// warn mode), replaced (an immutable field changes: deleted and created
	// again), or pruned.
	Action Action `json:"action"`
	// Message says why, for a replaced object (and an adopted one).
	Message string `json:"message,omitempty"`
	// Unified is a unified diff from the live object (as far as flinksync
	// manages it) to the desired one, secret values masked.
	Unified string `json:"diff"`
}

// Diff compares an environment's rendered objects with the cluster and
// returns a diff for every object apply would change, including those it
// would prune. It changes nothing.
func (s *Syncer) Diff(ctx context.Context, env *model.Environment, out *render.Environment) ([]ObjectDiff, error) {
	st, err := s.read(ctx, env, out)
	if err != nil {
		return nil, err
	}
	var diffs []ObjectDiff
	for _, p := range st.objects {
		if p.action == Unchanged {
			continue
		}
		d := ObjectDiff{ObjectID: IDOf(p.obj), Action: p.action, Message: p.message}
		var live map[string]any
		if p.live != nil {
			live = p.live.Object
		}
		d.Unified = UnifiedDiff(d.ID(), serverView(p.obj.Object, p.dry), live, addedTokens(p.added)...)
		diffs = append(diffs, d)
	}
	if env.Spec.Sync.PruneEnabled() {
		var stale []Entry
		for k, e := range st.inv {
			if !st.desired[k] && !neverPruned[e.Kind] {
				stale = append(stale, e)
			}
		}
		sort.Slice(stale, func(i, j int) bool { return stale[i].Key() < stale[j].Key() })
		for _, e := range stale {
			c := s.inspect(ctx, st, e) // prune's own checks
			if c.why != "" || c.live == nil {
				continue
			}
			d := ObjectDiff{ObjectID: e.ObjectID, Action: Pruned}
			d.Unified = UnifiedDiff(d.ID(), nil, c.live.Object)
			diffs = append(diffs, d)
		}
	}
	return diffs, nil
}
