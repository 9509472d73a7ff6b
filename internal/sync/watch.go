package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// A pass over a steady environment of 10,000 applications spent most of its
// time reading them: one LIST a kind, 100 MB of JSON the API server encodes
// and the pass decodes, to find nothing changed. The daemon, which passes
// over the same environments every few minutes, watches the kinds it
// applies instead (WatchLive): the API server sends each change once, and a
// pass reads the live objects from memory.
//
// A watch holds each object in part (slim: its metadata and status), and
// may lag the API server by the time an event takes to arrive. A pass
// therefore takes a watched object as it is only where the Syncer found
// that very version (its resourceVersion) clean and unchanged against the
// same prepared object before: any other object it compares is read fresh
// and whole (refreshWatched), so a lag never shows as drift nor hides a
// change the pass acts on. A change made behind Git's back in the instant
// before a pass is seen by the next one.

// watchIdle is how long a watch nobody read is kept (an environment moved
// to another namespace, or given up to another shard).
const watchIdle = 30 * time.Minute

// refreshLimit is how many objects of a kind a pass reads one by one when
// the watch cannot vouch for them; above it, one LIST is cheaper.
const refreshLimit = 64

// liveWatch keeps, per resource and namespace, a watch of the live objects.
type liveWatch struct {
	dyn   dynamic.Interface
	ctx   context.Context
	now   func() time.Time
	mu    gosync.Mutex
	kinds map[watchKey]*watched
}

type watchKey struct {
	gvr schema.GroupVersionResource
	ns  string
}

type watched struct {
	informer cache.SharedIndexInformer
	stop     context.CancelFunc
	used     time.Time
	// refused is set when the API server refused the watch or its LIST
	// (refusal): the watch is stopped, passes LIST, and it is tried again
	// watchRetry after.
	refused time.Time
}

// watchRetry is how long after a refusal a watch is tried again (the
// identity may have been granted watch since).
const watchRetry = 10 * time.Minute

// watchRefused is told of each watch the API server refuses (OnWatchRefused).
var watchRefused atomic.Pointer[func(resource, namespace string, err error)]

// OnWatchRefused sets what is told of a watch the API server refused
// (the daemon's identity lacks watch or list on a kind, say): the daemon
// logs it. Passes then read that kind with a LIST, as the CLI does, and
// the watch is tried again 10 minutes later; client-go's own retries and
// log lines are not left to repeat. The last caller wins, for every
// Syncer of the process.
func OnWatchRefused(f func(resource, namespace string, err error)) { watchRefused.Store(&f) }

// refusal reports whether err is the API server refusing a request, not
// a passing failure a retry may mend.
func refusal(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err)
}

// WatchLive makes the Syncer keep a watch of every kind and namespace its
// passes read, until ctx ends or Close: the daemon's mode. A CLI pass
// reads once and lists.
func (s *Syncer) WatchLive(ctx context.Context) error {
	cfg := rest.CopyConfig(s.cfg)
	cfg.Timeout = 0 // a watch is one long request: the client's timeout would cut it
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubernetes client for watches: %w", err)
	}
	s.Close()
	s.watch = &liveWatch{dyn: dyn, ctx: ctx, now: s.Now, kinds: map[watchKey]*watched{}}
	return nil
}

// Close stops the Syncer's watches.
func (s *Syncer) Close() {
	if w := s.watch; w != nil {
		w.mu.Lock()
		defer w.mu.Unlock()
		for k, x := range w.kinds {
			x.stop()
			delete(w.kinds, k)
		}
	}
}

// Watching reports how many kinds and namespaces the Syncer watches, and
// how many live objects the watches hold.
func (s *Syncer) Watching() (kinds, objects int) {
	w := s.watch
	if w == nil {
		return 0, 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, x := range w.kinds {
		kinds++
		objects += len(x.informer.GetStore().ListKeys())
	}
	return kinds, objects
}

// cached is the live objects of m's resource in ns as the watch holds
// them, by name, and true; false when the Syncer does not watch, the
// watch has not finished its first LIST (it is started then, for the next
// pass), or the API server refused it. The objects are made afresh from what the watch keeps on every
// call: the pass's own.
func (w *liveWatch) cached(m *meta.RESTMapping, ns string) (map[string]*unstructured.Unstructured, bool) {
	if w == nil {
		return nil, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	for k, x := range w.kinds {
		if now.Sub(x.used) > watchIdle {
			x.stop()
			delete(w.kinds, k)
		}
	}
	key := watchKey{m.Resource, ns}
	x, ok := w.kinds[key]
	if ok && !x.refused.IsZero() && now.Sub(x.refused) > watchRetry {
		delete(w.kinds, key)
		ok = false
	}
	if !ok {
		ctx, stop := context.WithCancel(w.ctx)
		inf := dynamicinformer.NewFilteredDynamicInformer(w.dyn, m.Resource, ns, 0, cache.Indexers{}, nil).Informer()
		x = &watched{informer: inf, stop: stop}
		// Both before Run: they cannot fail then.
		_ = inf.SetTransform(slim)
		_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
			if !refusal(err) {
				cache.DefaultWatchErrorHandler(ctx, r, err)
				return
			}
			w.mu.Lock()
			first := x.refused.IsZero()
			if first {
				x.refused = w.now()
			}
			w.mu.Unlock()
			stop()
			if f := watchRefused.Load(); first && f != nil && *f != nil {
				(*f)(key.gvr.Resource, key.ns, err)
			}
		})
		w.kinds[key] = x
		go inf.RunWithContext(ctx)
	}
	x.used = now
	if !x.refused.IsZero() || !x.informer.HasSynced() {
		return nil, false
	}
	items := x.informer.GetStore().List()
	byName := make(map[string]*unstructured.Unstructured, len(items))
	for _, it := range items {
		if o, ok := it.(*slimObject); ok {
			u, err := o.object()
			if err != nil {
				return nil, false // not expected: it was marshalled from such an object; read afresh
			}
			byName[o.Name] = u
		}
	}
	return byName, true
}

// slim keeps of a watched object what a pass reads of one it found clean
// and unchanged before (health, ownership, upgrades): its kind, its
// metadata but the managed fields, and its status. The spec and the
// managed fields, most of an object, are read fresh when the pass compares
// it: 10,000 FlinkDeployments held whole were most of the daemon's memory.
// What is kept is held as its JSON, one allocation (a slimObject), not as
// maps: the maps' many small allocations, made among the rest of each
// event's decoding, pinned pages of the heap that held little else.
func slim(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil // a slimObject already, or a deletion's tombstone
	}
	out := map[string]any{"apiVersion": u.Object["apiVersion"], "kind": u.Object["kind"]}
	if md, ok := u.Object["metadata"].(map[string]any); ok {
		md = maps.Clone(md)
		delete(md, "managedFields")
		out["metadata"] = md
	}
	if st, ok := u.Object["status"]; ok {
		out["status"] = st
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("keeping %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return &slimObject{ObjectMeta: metav1.ObjectMeta{Name: u.GetName(), Namespace: u.GetNamespace(), ResourceVersion: u.GetResourceVersion()}, raw: raw}, nil
}

// slimObject is a watched object as a watch keeps it: its name, namespace
// and resourceVersion for the watch's own bookkeeping, and what slim keeps
// of it as JSON. It is never changed once made.
type slimObject struct {
	metav1.TypeMeta
	metav1.ObjectMeta
	raw []byte
}

func (o *slimObject) DeepCopyObject() runtime.Object { return o }

// object is the kept part of o as an unstructured object of its own.
func (o *slimObject) object() (*unstructured.Unstructured, error) {
	var m map[string]any
	if err := utiljson.Unmarshal(o.raw, &m); err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// key is a string that differs between two sets of ignore rules.
func (ig *ignorer) key() string {
	if ig == nil {
		return ""
	}
	var b strings.Builder
	for _, p := range ig.paths {
		b.WriteString(strings.Join(p, "\x00"))
		b.WriteByte(0)
	}
	b.WriteByte(1)
	for _, m := range slices.Sorted(maps.Keys(ig.managers)) {
		b.WriteString(m)
		b.WriteByte(0)
	}
	return b.String()
}

// refreshWatched reads fresh, whole, every object whose live version came
// from a watch and that no clean verdict vouches for: missing from the
// watch (created a moment ago, or never), at a resourceVersion other than
// the one an earlier pass found clean, or against another prepared object
// or other ignore rules. Up to refreshLimit of a kind are read one by one,
// Workers at once; more, with one LIST.
func (s *Syncer) refreshWatched(ctx context.Context, st *passState, watched map[schema.GroupVersionKind]bool) error {
	stale := map[schema.GroupVersionKind][]*planned{}
	for _, p := range st.objects {
		if gvk := p.obj.GroupVersionKind(); watched[gvk] && !p.slim {
			stale[gvk] = append(stale[gvk], p)
		}
	}
	for gvk, ps := range stale {
		if len(ps) > refreshLimit {
			byName, err := s.listRaw(ctx, ps[0].mapping, st.ns)
			if err != nil {
				return fmt.Errorf("listing %s in %s: %w", ps[0].mapping.Resource.Resource, st.ns, err)
			}
			for _, p := range st.objects {
				if p.obj.GroupVersionKind() == gvk {
					p.live = byName[p.obj.GetName()]
				}
			}
			continue
		}
		errs := make([]error, len(ps))
		var wg gosync.WaitGroup
		sem := make(chan struct{}, max(1, s.Workers))
		for i, p := range ps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				u, err := s.dyn.Resource(p.mapping.Resource).Namespace(st.ns).Get(ctx, p.obj.GetName(), metav1.GetOptions{})
				switch {
				case err == nil:
					p.live = u
				case apierrors.IsNotFound(err):
					p.live = nil
				default:
					errs[i] = fmt.Errorf("reading %s %s/%s: %w", p.obj.GetKind(), st.ns, p.obj.GetName(), err)
				}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
	}
	return nil
}
