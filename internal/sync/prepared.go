package sync

import (
	"maps"
	"runtime"
	gosync "sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/render"
)

// A prepared object is a rendered object as a pass applies it: a copy
// placed in the environment's namespace, with the ApplySet label.

// preparedCache keeps, per environment, the hashes of the prepared copies
// of the rendered objects of its last pass. The daemon syncs the same
// rendered objects pass after pass until the next commit; hashing 10,000
// of them (JSON and SHA-256) was a tenth of a no-op pass, where the copy
// (of the top level and the metadata) is cheap to make again and, kept,
// was 12 MB of the daemon's memory. A pass never changes a rendered
// object, whose maps the copy shares (what it changes, it copies first:
// ignore.go honour), which TestWatchedPassesListNothingAndMissNothing
// checks.
type preparedCache struct {
	mu gosync.Mutex
	// envs is, per environment, its namespace and its prepared objects'
	// hashes by the rendered object they were made from.
	envs map[string]*preparedEnv
}

type preparedEnv struct {
	ns   string
	objs map[*unstructured.Unstructured]string
}

// preparedPass is one pass's use of the cache: what it prepares or reuses
// is what the environment keeps when the pass is done (objects no longer
// rendered are forgotten).
type preparedPass struct {
	c    *preparedCache
	env  string
	ns   string
	old  map[*unstructured.Unstructured]string
	next map[*unstructured.Unstructured]string
}

// pass starts a pass over env in namespace ns.
func (c *preparedCache) pass(env, ns string) *preparedPass {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := &preparedPass{c: c, env: env, ns: ns, next: map[*unstructured.Unstructured]string{}}
	if e := c.envs[env]; e != nil && e.ns == ns {
		p.old = e.objs
	}
	return p
}

// of is rendered prepared for the pass, and its hash, which an earlier
// pass over the same rendered object for the same namespace computed.
func (p *preparedPass) of(rendered *unstructured.Unstructured) (*unstructured.Unstructured, string) {
	// A copy of the top level and the metadata only: the rest is shared
	// with the rendered object, which neither render nor a pass changes
	// after the pipeline.
	obj := &unstructured.Unstructured{Object: maps.Clone(rendered.Object)}
	md, _ := obj.Object["metadata"].(map[string]any)
	md = maps.Clone(md)
	if md == nil {
		md = map[string]any{}
	}
	obj.Object["metadata"] = md
	if obj.GetNamespace() == "" {
		obj.SetNamespace(p.ns) // where it is applied, and so where prune looks
	}
	labels := obj.GetLabels() // a copy
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelApplySetPart] = ApplySetID(p.ns)
	obj.SetLabels(labels)
	hash, ok := p.old[rendered]
	if !ok {
		hash = hashOf(obj.Object)
	}
	return obj, hash
}

// all prepares every object of objs, on every CPU at once (it is safe
// for concurrent use: it only reads what earlier passes kept), and keeps
// each hash for the next pass.
func (p *preparedPass) all(objs []*render.Object) (prepared []*unstructured.Unstructured, hashes []string) {
	prepared, hashes = make([]*unstructured.Unstructured, len(objs)), make([]string, len(objs))
	workers := min(runtime.GOMAXPROCS(0), len(objs))
	var wg gosync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(objs); i += workers {
				prepared[i], hashes[i] = p.of(objs[i].Unstructured)
			}
		}()
	}
	wg.Wait()
	for i, o := range objs {
		p.next[o.Unstructured] = hashes[i]
	}
	return prepared, hashes
}

// done keeps what the pass prepared for the environment's next pass.
func (p *preparedPass) done() {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	if p.c.envs == nil {
		p.c.envs = map[string]*preparedEnv{}
	}
	p.c.envs[p.env] = &preparedEnv{ns: p.ns, objs: p.next}
}
