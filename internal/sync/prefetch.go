package sync

import (
	"context"
	gosync "sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/flinksync/flinksync/internal/model"
)

// A one-shot command's pass LISTs every kind of its environment's objects
// after the repository has rendered; over 10,000 FlinkDeployments that
// LIST was a third of `flinksync apply`'s time, while rendering left a CPU
// and the API server idle. Prefetch starts those LISTs as soon as the
// repository is loaded, for the kinds the environment's inventory holds,
// and the pass takes each one's answer instead of sending it again.

// prefetchFresh is how long a prefetched LIST may wait for its pass: an
// answer older than that is dropped and the pass LISTs afresh.
const prefetchFresh = 30 * time.Second

// prefetched is one LIST started ahead of the pass that reads it.
type prefetched struct {
	done   chan struct{}
	at     time.Time
	byName map[string]*unstructured.Unstructured
	err    error
}

type prefetchKey struct {
	gvr schema.GroupVersionResource
	ns  string
}

// prefetches are the LISTs started ahead, until a pass takes them.
type prefetches struct {
	mu gosync.Mutex
	m  map[prefetchKey]*prefetched
}

// Prefetch starts, in the background, the LISTs a pass over env will send:
// one per kind the environment's inventory holds. The next pass over env
// within 30 s takes their answers, once; a LIST that failed, or a kind the
// pass reads in another version, is read by the pass as before. It is for
// a pass that follows at once (the CLI's); the daemon's passes read their
// watches.
func (s *Syncer) Prefetch(ctx context.Context, env *model.Environment) {
	if env.Spec.Target == model.TargetCMF || s.watch != nil {
		return
	}
	name, ns, target := env.Metadata.Name, env.Spec.Namespace, env.Spec.Target
	list := func(gk schema.GroupKind) {
		m, err := s.mapper.RESTMapping(gk)
		if err != nil || m.Scope.Name() != meta.RESTScopeNameNamespace {
			return
		}
		p := &prefetched{done: make(chan struct{})}
		if !s.prefetch.start(prefetchKey{m.Resource, ns}, p) {
			return
		}
		go func() {
			defer close(p.done)
			p.byName, p.err = s.listRaw(ctx, m, ns)
			p.at = s.Now()
		}()
	}
	go func() {
		// The kind of the target's applications, most of the objects,
		// before the inventory is read and decoded (a tenth of a second
		// at 10,000 entries, with the repository loading beside it).
		if gk, ok := appKindOf[target]; ok {
			list(gk)
		}
		inv, _, err := s.inventoryOf(ctx, name, ns)
		if err != nil {
			return
		}
		kinds := map[schema.GroupKind]bool{}
		for _, e := range inv {
			if e.Namespace == ns {
				kinds[schema.GroupKind{Group: e.Group, Kind: e.Kind}] = true
			}
		}
		for gk := range kinds {
			list(gk)
		}
	}()
}

// appKindOf is the kind each target renders an application as.
var appKindOf = map[model.Target]schema.GroupKind{
	model.TargetFKO: {Group: "flink.apache.org", Kind: "FlinkDeployment"},
	model.TargetCFK: {Group: "platform.confluent.io", Kind: "FlinkApplication"},
}

// start records p unless a LIST of key is already under way.
func (f *prefetches) start(key prefetchKey, p *prefetched) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[prefetchKey]*prefetched{}
	}
	if _, ok := f.m[key]; ok {
		return false
	}
	f.m[key] = p
	return true
}

// takePrefetched is the prefetched answer of the LIST of m's resource in ns, waiting
// for it when it is under way, and true; false when there is none (or it
// failed, or is stale). Each answer is taken once.
func (s *Syncer) takePrefetched(ctx context.Context, m *meta.RESTMapping, ns string) (map[string]*unstructured.Unstructured, bool) {
	key := prefetchKey{m.Resource, ns}
	s.prefetch.mu.Lock()
	p, ok := s.prefetch.m[key]
	delete(s.prefetch.m, key)
	s.prefetch.mu.Unlock()
	if !ok {
		return nil, false
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return nil, false
	}
	if p.err != nil || s.Now().Sub(p.at) > prefetchFresh {
		return nil, false
	}
	return p.byName, true
}
