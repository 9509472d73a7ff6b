package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	gosync "sync"
	"sync/atomic"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/redact"
)

// Equality as the API server sees it: the objects the local pre-check
// (compare) finds maybe different are applied once more as a server-side
// dry run, and the object the server would store is compared with the live
// one. What the server normalises (1000m stored as 1, a clusterIP it
// allocates, an empty list it drops), defaults and mutating webhooks
// rewrite is then the same on both sides, so it is neither drift nor a
// write; a real change still differs, and its field diffs come from the
// server's object, so they never show a spelling the server rewrites.

// removedFromGit is the desired value of a field applying would remove.
const removedFromGit = "<removed from Git>"

// verdict is a "no change" found for one object: while the object flinksync
// applies (hash: Git's, after the ignore rules) and the live one
// (resourceVersion) stay the same, comparing them again, locally or with a
// dry run, would say the same.
type verdict struct{ hash, resourceVersion string }

// verdicts remembers the "no change" verdicts across the passes of one
// Syncer, so a steady cluster costs neither a comparison nor a dry run per
// pass.
type verdicts struct {
	mu gosync.Mutex
	m  map[string]verdictEntry
}

// verdictEntry is a verdict and what the pass that found it knew: the
// prepared object's own hash (before the ignore rules), the ignore rules'
// key, the object it applied when the ignore rules made it another than
// the prepared one (nil: the prepared one), and whether the live object was
// clean (no field another manager added either). A clean verdict is what
// lets a watched pass take a live object it holds only in part (watch.go).
type verdictEntry struct {
	verdict
	rendered, ignore string
	clean            bool
	honoured         *unstructured.Unstructured
	// generation and meta are the live object's metadata.generation and
	// metaPrint: a later version whose status alone changed still
	// matches them (statusOnly).
	generation int64
	meta       string
}

func (v *verdicts) same(key string, want verdict) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.m[key].verdict == want
}

// cleanHit reports whether an earlier pass found key's live object at
// resourceVersion rv clean and unchanged against the same prepared object
// (hash rendered) under the same ignore rules, and the object it applied
// when the ignore rules made it another than the prepared one.
func (v *verdicts) cleanHit(key, rendered string, live *unstructured.Unstructured, ignore string) (*unstructured.Unstructured, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.m[key]
	if !ok || !e.clean || e.rendered != rendered || e.ignore != ignore {
		return nil, false
	}
	if e.resourceVersion != live.GetResourceVersion() && !e.statusOnly(live) {
		return nil, false
	}
	return e.honoured, true
}

// statusOnly reports whether live differs from the version e was found at
// in its status alone: the same metadata.generation (which the API server
// raises on every change but the status subresource's, and which objects
// without one, such as ConfigMaps, do not have) and the same labels,
// annotations, owners, finalizers and deletion mark. An operator writes
// its status often; that costs a watched pass no read.
func (e verdictEntry) statusOnly(live *unstructured.Unstructured) bool {
	return e.generation > 0 && live.GetGeneration() == e.generation && metaPrint(live) == e.meta
}

// metaPrint is what of an object's metadata statusOnly compares.
func metaPrint(u *unstructured.Unstructured) string {
	md, _ := u.Object["metadata"].(map[string]any)
	b, _ := json.Marshal([]any{md["labels"], md["annotations"], md["ownerReferences"], md["finalizers"], md["deletionTimestamp"]})
	return string(b)
}

// set records p's verdict when unchanged, else forgets key's.
func (v *verdicts) set(p *planned, unchanged bool) {
	key := p.entry.Key()
	v.mu.Lock()
	defer v.mu.Unlock()
	if !unchanged {
		delete(v.m, key)
		return
	}
	if v.m == nil {
		v.m = map[string]verdictEntry{}
	}
	e := verdictEntry{verdict: p.seen, rendered: p.entry.Hash, ignore: p.ignoreKey, clean: len(p.added) == 0,
		generation: p.live.GetGeneration(), meta: metaPrint(p.live)}
	if p.obj != p.prepared {
		e.honoured = p.obj
	}
	v.m[key] = e
}

// localDiffs is compare(p.obj, p.live), the local pre-check, unless an
// earlier pass found the same objects unchanged: then nothing. rendered is
// the object as Git has it, before the ignore rules; when they changed it,
// the verdict holds for p.obj's own hash.
func (s *Syncer) localDiffs(p *planned, rendered *unstructured.Unstructured) []FieldDiff {
	p.seen = verdict{p.entry.Hash, p.live.GetResourceVersion()}
	if p.obj != rendered {
		p.seen.hash = hashOf(p.obj.Object)
	}
	if s.verdicts.same(p.entry.Key(), p.seen) {
		return nil
	}
	diffs := compare(p.obj, p.live)
	if len(diffs) == 0 {
		s.verdicts.set(p, true)
	}
	return diffs
}

// confirm asks the API server about every object the local comparison
// found maybe different, up to s.Workers at once, and replaces its local
// field diffs with the server's (none: the object is unchanged, which is
// remembered as localDiffs remembers it). It sends no request for an
// object whose immutable fields change (it is replaced, and a dry run
// would be refused). An object the server cannot be asked about keeps its
// local diffs, and its message says why; credentials that may only read
// are refused once, and no other dry run is sent. It returns the number
// of dry runs sent, and an error only when ctx ended.
func (s *Syncer) confirm(ctx context.Context, st *passState) (int, error) {
	var ask []*planned
	for _, p := range st.objects {
		if p.live == nil || p.refused || len(p.diffs) == 0 {
			continue
		}
		if len(ImmutableChanges(p.obj, p.live)) == 0 {
			ask = append(ask, p)
		}
	}
	var sent atomic.Int64
	var forbidden atomic.Bool // one refusal is enough: these credentials may only read
	ask1 := func(p *planned) {
		if forbidden.Load() {
			p.note("compared locally: the server-side dry run is forbidden to these credentials")
			return
		}
		sent.Add(1)
		diffs, dry, err := s.serverDiffs(ctx, st.ns, p)
		switch {
		case err == nil:
			p.diffs, p.dry = diffs, dry.Object
			s.verdicts.set(p, len(diffs) == 0)
		case apierrors.IsForbidden(err):
			forbidden.Store(true)
			p.note("compared locally: " + err.Error())
		case ctx.Err() == nil:
			p.note("compared locally: " + err.Error())
		}
	}
	if len(ask) > 0 {
		// The first one alone: if these credentials may not send dry
		// runs, no other is sent.
		ask1(ask[0])
		forEach(ctx, s.Workers, ask[1:], ask1)
	}
	if err := ctx.Err(); err != nil {
		return int(sent.Load()), fmt.Errorf("asking the API server which objects differ: %w", err)
	}
	return int(sent.Load()), nil
}

// forEach calls fn on every item, up to workers at once, until ctx ends.
func forEach(ctx context.Context, workers int, items []*planned, fn func(*planned)) {
	work := make(chan *planned)
	var wg gosync.WaitGroup
	for i := 0; i < min(max(1, workers), len(items)); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				fn(p)
			}
		}()
	}
	defer wg.Wait()
	defer close(work)
	for _, p := range items {
		select {
		case work <- p:
		case <-ctx.Done():
			return
		}
	}
}

// note adds why to p's message.
func (p *planned) note(why string) {
	if p.message != "" {
		why = p.message + "; " + why
	}
	p.message = why
}

// serverDiffs sends p's object as a server-side dry-run apply (field
// manager flinksync, forced: the question is what Git's values make of the
// object, and a conflict is the real apply's to report) and compares the
// result with the live object (serverCompare). The error is the API
// server's, wrapped with what was asked.
func (s *Syncer) serverDiffs(ctx context.Context, ns string, p *planned) ([]FieldDiff, *unstructured.Unstructured, error) {
	dry, err := s.dyn.Resource(p.mapping.Resource).Namespace(ns).Apply(ctx, p.obj.GetName(), p.obj,
		metav1.ApplyOptions{FieldManager: FieldManager, Force: true, DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return nil, nil, fmt.Errorf("server-side dry run of %s/%s/%s: %w", p.obj.GetKind(), ns, p.obj.GetName(), err)
	}
	return serverCompare(dry, p.live), dry, nil
}

// volatileMetadata are the metadata fields the server sets on every write
// or keeps for itself: a difference there is no difference in the object.
var volatileMetadata = map[string]bool{
	"resourceVersion": true, "generation": true, "managedFields": true, "uid": true, "creationTimestamp": true,
	"selfLink": true, "deletionTimestamp": true, "deletionGracePeriodSeconds": true,
}

// serverCompare lists the fields where dry, the object the server would
// store if Git's object were applied, differs from live: everything but
// status, the volatile metadata and the revision annotation, compared
// semantically (semanticEqual), maps field by field and lists as a whole.
// A field live has and dry has not is one applying removes. Values are
// masked as compare masks them.
func serverCompare(dry, live *unstructured.Unstructured) []FieldDiff {
	kind := dry.GetKind()
	var out []FieldDiff
	d, l := comparedPart(dry.Object), comparedPart(live.Object)
	diffFields(kind, nil, d, l, &out)
	return out
}

// comparedPart is obj without status, volatile metadata and the revision
// annotation (a shallow copy where it differs).
func comparedPart(obj map[string]any) map[string]any {
	c := make(map[string]any, len(obj))
	for k, v := range WithoutRevision(obj) {
		if k != "status" {
			c[k] = v
		}
	}
	if md, ok := c["metadata"].(map[string]any); ok {
		mdc := make(map[string]any, len(md))
		for k, v := range md {
			if !volatileMetadata[k] {
				mdc[k] = v
			}
		}
		c["metadata"] = mdc
	}
	return c
}

// diffFields records where a (dry run) and b (live) differ under path:
// maps key by key, anything else as a whole.
func diffFields(kind string, path []string, a, b any, out *[]FieldDiff) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := sortedKeys(am)
		for k := range bm {
			if _, ok := am[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			diffFields(kind, append(path[:len(path):len(path)], k), am[k], bm[k], out)
		}
		return
	}
	if semanticEqual(kind, path, a, b) {
		return
	}
	desired := removedFromGit
	if a != nil {
		desired = render1(redact.Field(kind, path, a))
	}
	*out = append(*out, FieldDiff{Field: pathString(path), Desired: desired, Live: render1(redact.Field(kind, path, b))})
}

// serverView is desired as the server would store it, for a unified diff:
// every field desired sets, with dry's value where dry has one (1 where
// Git says 1000m). Without a dry run (dry nil) it is desired.
func serverView(desired, dry map[string]any) map[string]any {
	if dry == nil {
		return desired
	}
	out := make(map[string]any, len(desired))
	for k, dv := range desired {
		sv, ok := dry[k]
		if !ok {
			out[k] = dv
			continue
		}
		dm, dok := dv.(map[string]any)
		sm, sok := sv.(map[string]any)
		if dok && sok {
			out[k] = serverView(dm, sm)
		} else {
			out[k] = sv
		}
	}
	return out
}
