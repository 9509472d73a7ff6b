// Package cmfsync makes CMF match the rendered resources of one target:
// cmf environment, with the same contract as internal/sync does for a
// Kubernetes cluster: read what CMF holds (GET), create or update what
// differs (POST creates or updates environments and applications; PUT
// updates statements, pools, catalogs, databases and secret mappings),
// replace a statement CMF will not change in place, prune what this
// environment wrote before and Git no longer declares, report drift per
// field and health from CMF's status. Every pass returns a sync.Result.
//
// The inventory is the resources themselves: flinksync writes the labels
// app.kubernetes.io/managed-by=flinksync and flinksync.dev/environment on
// everything it creates, in the same request that creates it, so no crash
// can leave a resource that flinksync wrote and does not know of. Prune
// lists the environment's resources and deletes only those carrying both
// labels; a resource someone else made, or whose labels were removed, is
// never deleted.
//
// The annotation flinksync.dev/applied-hash records what flinksync wrote:
// a live resource whose hash is Git's but whose fields differ was changed
// in CMF behind Git's back (drift); one whose hash differs changes because
// Git did.
//
// The Flink state safety of a cluster's sync applies here too: the state
// guard before any write (state.go), a savepoint before the prune of a
// running stateful application (savepoint.go), upgrades followed to the
// end (upgrade.go), and the ignore rules in the comparison (ignore.go).
package cmfsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/cmf"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/sync"
)

// AnnAppliedHash is the hash of the resource flinksync wrote last.
const AnnAppliedHash = "flinksync.dev/applied-hash"

// Syncer syncs target: cmf environments through one CMF.
type Syncer struct {
	Client *cmf.Client
	// Now is the clock (for tests).
	Now func() time.Time
}

var _ sync.EnvSyncer = (*Syncer)(nil)

// New is a syncer for env's CMF, authenticated with the credentials
// env's spec.cmf names, read from src.
func New(ctx context.Context, env *model.Environment, src cmf.Sources) (*Syncer, error) {
	creds, err := cmf.LoadCredentials(ctx, env, src)
	if err != nil {
		return nil, fmt.Errorf("environment %s: CMF credentials: %w", env.Metadata.Name, err)
	}
	hc, err := creds.HTTPClient()
	if err != nil {
		return nil, fmt.Errorf("environment %s: CMF credentials: %w", env.Metadata.Name, err)
	}
	c, err := cmf.New(env.Spec.CMF.Endpoint, hc)
	if err != nil {
		return nil, fmt.Errorf("environment %s: %w", env.Metadata.Name, err)
	}
	return &Syncer{Client: c, Now: time.Now}, nil
}

// item is one desired resource and what the pass does with it.
type item struct {
	obj     *render.Object
	ref     cmf.Ref
	body    cmf.Object
	live    cmf.Object
	action  sync.Action
	diffs   []sync.FieldDiff
	drift   bool
	message string
	// mark is the upgrade the pass records with its write (upgrade.go).
	mark *upgradeMark
}

// stale is a resource of the environment that Git no longer declares.
type stale struct {
	ref  cmf.Ref
	live cmf.Object
}

// pass is what the read phase found.
type pass struct {
	env   *model.Environment
	items []*item
	stale []stale
}

// Sync runs one pass over env: read, compare, write what differs, prune,
// report. out is nil when the environment did not render (opts.Blocked
// says why). The result's secrets are masked.
func (s *Syncer) Sync(ctx context.Context, env *model.Environment, out *render.Environment, opts sync.Options) *sync.Result {
	start := s.now()
	res := &sync.Result{Environment: env.Metadata.Name, Namespace: env.Spec.Namespace, Cluster: env.Spec.Cluster,
		DryRun: opts.Mode == sync.ModeDryRun, Changes: []sync.Change{}, Drift: []sync.Drift{}, Health: []sync.AppHealth{}}
	defer func() { res.Duration = s.now().Sub(start) }()
	if len(opts.Blocked) > 0 || out == nil {
		res.Blocked = opts.Blocked
		if len(res.Blocked) == 0 {
			res.Blocked = []string{"the environment did not render"}
		}
		return res
	}
	p, err := s.read(ctx, env, out)
	if err != nil {
		res.Errors = append(res.Errors, err.Error())
		return sync.Masked(res)
	}
	correct := env.Spec.Sync.Drift != model.DriftWarn
	write := opts.Mode == sync.ModeApply
	var writes []*item
	for _, it := range p.items {
		res.Drift = append(res.Drift, it.driftOf(env)...)
		if it.drift && !correct {
			it.action = sync.Drifted
		}
		if it.action != sync.Unchanged && it.action != sync.Drifted && opts.Mode != sync.ModeObserve {
			writes = append(writes, it)
		}
	}
	prune := env.Spec.Sync.PruneEnabled() && opts.Mode != sync.ModeObserve
	empty := len(out.Objects) <= 1 && !opts.AllowEmpty // only the environment
	if opts.Mode != sync.ModeObserve {
		// The state guard, before any write (state.go): a pass that would
		// throw a stateful job's state away without an acknowledgement in
		// Git leaves CMF as it is.
		res.State = s.stateImpacts(p, prune && !empty)
		if why := sync.CheckGuard(opts.Guard, res.State, res); len(why) > 0 {
			res.Blocked = why
			s.health(ctx, p, false, res)
			return sync.Masked(res)
		}
	}
	total := len(writes)
	if prune && !empty {
		total += len(p.stale)
	}
	done := 0
	progress := func() {
		if opts.Progress != nil {
			opts.Progress(done, total)
		}
	}
	progress()
	for _, it := range writes {
		if write {
			if startsUpgrade(it) {
				s.prepareUpgrade(ctx, it)
			} else if m, ok := annotationsOf(it.live)[AnnUpgrade]; ok {
				annotationsOf(it.body)[AnnUpgrade] = m // still in progress: keep its record
			}
			s.write(ctx, it)
		}
		done++
		progress()
	}
	replaced := map[string]string{} // statement (repository name) → the new object's name
	for _, it := range p.items {
		if it.ref.Kind == cmf.KindStatement && it.action == sync.Created {
			replaced[it.obj.GetLabels()[render.LabelName]] = it.ref.Name
		}
	}
	for _, it := range p.items {
		c := sync.Change{ObjectID: idOf(it.ref), Action: it.action, Message: it.message, Diffs: it.diffs}
		res.Changes = append(res.Changes, c)
	}
	for _, st := range p.stale {
		c := sync.Change{ObjectID: idOf(st.ref), Action: sync.Pruned}
		switch {
		case !env.Spec.Sync.PruneEnabled():
			c.Action, c.Message = sync.Retained, "sync.prune is off"
		case opts.Mode == sync.ModeObserve:
			continue
		case empty:
			c.Action, c.Message = sync.Retained, "the environment renders nothing: pruning everything needs --allow-empty"
		default:
			// A running stateful application goes only after a savepoint
			// (savepoint.go).
			sp, why, note := s.savepoint(ctx, env.Metadata.Name, st, opts.Mode)
			if sp != nil {
				res.Savepoints = append(res.Savepoints, *sp)
			}
			switch {
			case why != "":
				c.Action, c.Message = sync.Retained, why
				if sp != nil && sp.Failed() {
					c.Action = sync.Failed
				}
			case write:
				c.Message = note
				if err := s.Client.Delete(ctx, st.ref); err != nil {
					c.Action, c.Message = sync.Failed, err.Error()
				}
			default:
				c.Message = note
			}
			if write {
				done++
				progress()
			}
		}
		if st.ref.Kind == cmf.KindStatement && c.Action == sync.Pruned {
			if next := replaced[labelsOf(st.live)[render.LabelName]]; next != "" {
				c.Message = "replaced by " + next + ": its SQL, pool or properties changed, which CMF does not change on a statement"
			}
		}
		res.Changes = append(res.Changes, c)
	}
	s.health(ctx, p, write, res)
	if write {
		s.upgrades(ctx, p, res)
	}
	return sync.Masked(res)
}

// Diff says, object by object, what a pass would change, as unified diffs
// with secrets masked. It changes nothing.
func (s *Syncer) Diff(ctx context.Context, env *model.Environment, out *render.Environment) ([]sync.ObjectDiff, error) {
	p, err := s.read(ctx, env, out)
	if err != nil {
		return nil, err
	}
	var diffs []sync.ObjectDiff
	for _, it := range p.items {
		if it.action == sync.Unchanged {
			continue
		}
		action := it.action
		if it.drift && env.Spec.Sync.Drift == model.DriftWarn {
			action = sync.Drifted
		}
		d := sync.ObjectDiff{ObjectID: idOf(it.ref), Action: action, Message: it.message}
		d.Unified = sync.UnifiedDiff(d.ID(), comparable(it.body), comparableLive(it.live))
		diffs = append(diffs, d)
	}
	if env.Spec.Sync.PruneEnabled() {
		for _, st := range p.stale {
			d := sync.ObjectDiff{ObjectID: idOf(st.ref), Action: sync.Pruned}
			d.Unified = sync.UnifiedDiff(d.ID(), nil, comparableLive(st.live))
			diffs = append(diffs, d)
		}
	}
	return diffs, nil
}

func (s *Syncer) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// read reads, for every rendered resource, the live one, and lists the
// environment's resources Git no longer declares. Any error ends the
// pass before it writes: the environment fails alone, by name.
func (s *Syncer) read(ctx context.Context, env *model.Environment, out *render.Environment) (*pass, error) {
	p := &pass{env: env}
	name := env.Metadata.Name
	desired := map[string]bool{}
	for _, o := range out.Objects {
		if !render.IsCMF(o.Unstructured) {
			return nil, fmt.Errorf("environment %s: %s is not a CMF resource (an overlay added it?); a target: cmf environment writes only to CMF", name, o.ID())
		}
		it := &item{obj: o, ref: refOf(name, o.Unstructured)}
		it.body = payload(o.Unstructured)
		desired[key(it.ref)] = true
		live, err := s.Client.Get(ctx, it.ref)
		switch {
		case errors.Is(err, cmf.ErrNotFound):
			it.action = sync.Created
		case err != nil:
			return nil, fmt.Errorf("environment %s: %w", name, err)
		default:
			it.live = live
			honourIgnored(it.body, live, ignoredPaths(env, o))
			it.compare()
		}
		p.items = append(p.items, it)
	}
	if envGone := len(p.items) > 0 && p.items[0].ref.Kind == cmf.KindEnvironment && p.items[0].live == nil; envGone {
		return p, nil // a new environment has nothing to prune
	}
	found, err := s.owned(ctx, env)
	if err != nil {
		return nil, fmt.Errorf("environment %s: looking for what to prune: %w", name, err)
	}
	for _, st := range found {
		if !desired[key(st.ref)] {
			p.stale = append(p.stale, st)
		}
	}
	return p, nil
}

// pruneOrder is the order prune deletes in: what depends on others first.
var pruneOrder = []cmf.Kind{cmf.KindApplication, cmf.KindStatement, cmf.KindComputePool, cmf.KindDatabase, cmf.KindCatalog, cmf.KindSecretMapping}

// owned lists the resources of env's CMF environment (and the catalogs
// and databases) that carry env's labels, in prune order.
func (s *Syncer) owned(ctx context.Context, env *model.Environment) ([]stale, error) {
	name := env.Metadata.Name
	mine := func(o cmf.Object) bool {
		l := labelsOf(o)
		return l[render.LabelManagedBy] == render.ManagedByValue && l[render.LabelEnvironment] == name
	}
	byKind := map[cmf.Kind][]stale{}
	for _, k := range []cmf.Kind{cmf.KindApplication, cmf.KindStatement, cmf.KindComputePool, cmf.KindSecretMapping} {
		list, err := s.Client.List(ctx, cmf.Ref{Kind: k, Environment: name})
		if err != nil {
			return nil, err
		}
		for _, o := range list {
			if mine(o) {
				byKind[k] = append(byKind[k], stale{cmf.Ref{Kind: k, Environment: name, Name: nameOf(o)}, o})
			}
		}
	}
	cats, err := s.Client.List(ctx, cmf.Ref{Kind: cmf.KindCatalog})
	if err != nil {
		return nil, err
	}
	for _, c := range cats {
		if !mine(c) {
			continue
		}
		cat := nameOf(c)
		byKind[cmf.KindCatalog] = append(byKind[cmf.KindCatalog], stale{cmf.Ref{Kind: cmf.KindCatalog, Name: cat}, c})
		dbs, err := s.Client.List(ctx, cmf.Ref{Kind: cmf.KindDatabase, Catalog: cat})
		if err != nil {
			return nil, err
		}
		for _, d := range dbs {
			if mine(d) {
				byKind[cmf.KindDatabase] = append(byKind[cmf.KindDatabase], stale{cmf.Ref{Kind: cmf.KindDatabase, Catalog: cat, Name: nameOf(d)}, d})
			}
		}
	}
	var out []stale
	for _, k := range pruneOrder {
		list := byKind[k]
		sort.Slice(list, func(i, j int) bool { return list[i].ref.Name < list[j].ref.Name })
		out = append(out, list...)
	}
	return out, nil
}

// write creates or updates one resource; a statement CMF refuses to
// change in place is deleted and created again.
func (s *Syncer) write(ctx context.Context, it *item) {
	var err error
	if it.action == sync.Created {
		err = s.Client.Create(ctx, it.ref, it.body)
	} else {
		err = s.Client.Update(ctx, it.ref, it.body)
		var ce *cmf.Error
		if it.ref.Kind == cmf.KindStatement && errors.As(err, &ce) && ce.Status == http.StatusUnprocessableEntity {
			if err = s.Client.Delete(ctx, it.ref); err == nil {
				err = s.Client.Create(ctx, it.ref, it.body)
			}
			it.action, it.message = sync.Replaced, "CMF does not change this on a running statement: deleted and created again"
		}
	}
	if err != nil {
		it.action, it.message = sync.Failed, err.Error()
	}
}

// health reads the status CMF reports for each application, statement and
// pool, after the writes of an applying pass.
func (s *Syncer) health(ctx context.Context, p *pass, wrote bool, res *sync.Result) {
	for _, it := range p.items {
		cfkKind := map[cmf.Kind]string{cmf.KindApplication: render.FlinkApplicationGVK.Kind,
			cmf.KindStatement: render.FlinkStatementGVK.Kind, cmf.KindComputePool: render.FlinkComputePoolGVK.Kind}[it.ref.Kind]
		if cfkKind == "" {
			continue
		}
		live := it.live
		if wrote && it.action != sync.Unchanged {
			live, _ = s.Client.Get(ctx, it.ref)
		}
		name, kind := it.obj.GetName(), ""
		switch it.ref.Kind {
		case cmf.KindStatement:
			name, kind = it.obj.GetLabels()[render.LabelName], sync.HealthStatement
		case cmf.KindComputePool:
			name, kind = sync.HealthPool+"/"+name, sync.HealthPool
		}
		h := sync.AppHealth{App: name, Kind: kind, Health: sync.Unknown, Message: "not in CMF yet"}
		if live != nil {
			h = appHealth(live, it.ref.Kind)
			h.App, h.Kind = name, kind
		}
		res.Health = append(res.Health, h)
	}
}

// refOf is the CMF resource a rendered object is.
func refOf(env string, u *unstructured.Unstructured) cmf.Ref {
	r := cmf.Ref{Kind: cmf.Kind(u.GetKind()), Name: u.GetName()}
	switch r.Kind {
	case cmf.KindEnvironment, cmf.KindCatalog, cmf.KindSecret:
	case cmf.KindDatabase:
		r.Catalog = u.GetAnnotations()[render.AnnCMFCatalog]
	default:
		r.Environment = env
	}
	return r
}

func key(r cmf.Ref) string { return string(r.Kind) + "/" + r.Catalog + "/" + r.Name }

// idOf names a CMF resource in results: its kind, its environment (or
// catalog) in the namespace's place, and its name.
func idOf(r cmf.Ref) sync.ObjectID {
	ns := r.Environment
	if r.Kind == cmf.KindDatabase {
		ns = r.Catalog
	}
	return sync.ObjectID{Group: render.CMFGroupVersion.Group, Kind: string(r.Kind), Namespace: ns, Name: r.Name}
}

// payload is the body flinksync sends for a rendered resource: the
// resource as rendered, numbers as JSON has them, with the applied hash;
// an environment in the flat shape CMF's environments take.
func payload(u *unstructured.Unstructured) cmf.Object {
	body := normalized(u.Object)
	meta, _ := body["metadata"].(map[string]any)
	delete(meta, "namespace") // CMF resources have none
	ann, _ := meta["annotations"].(map[string]any)
	if ann == nil {
		ann = map[string]any{}
		meta["annotations"] = ann
	}
	ann[AnnAppliedHash] = hashOf(body)
	if u.GetKind() != string(cmf.KindEnvironment) {
		return body
	}
	flat := cmf.Object{"name": u.GetName(), "metadata": meta}
	spec, _ := body["spec"].(map[string]any)
	for k, v := range spec {
		flat[k] = v
	}
	return flat
}

// hashOf hashes a resource as rendered, without the revision and the hash
// annotations: a new commit that changes nothing writes nothing.
func hashOf(body cmf.Object) string {
	b, _ := json.Marshal(comparable(body))
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// comparable is a payload without what does not count as a difference:
// the revision and the applied hash.
func comparable(body cmf.Object) cmf.Object {
	if body == nil {
		return nil
	}
	c := normalized(body)
	if meta, ok := c["metadata"].(map[string]any); ok {
		if ann, ok := meta["annotations"].(map[string]any); ok {
			delete(ann, render.AnnRevision)
			delete(ann, AnnAppliedHash)
			delete(ann, AnnUpgrade)
			if len(ann) == 0 {
				delete(meta, "annotations")
			}
		}
	}
	return c
}

// comparableLive is a live resource without what CMF adds on its own.
func comparableLive(live cmf.Object) cmf.Object {
	c := comparable(live)
	if c == nil {
		return nil
	}
	for _, k := range []string{"status", "created_time", "updated_time", "secrets"} {
		delete(c, k)
	}
	if meta, ok := c["metadata"].(map[string]any); ok {
		for _, k := range []string{"creationTimestamp", "updateTimestamp", "uid"} {
			delete(meta, k)
		}
	}
	return c
}

func normalized(obj map[string]any) cmf.Object {
	b, _ := json.Marshal(obj)
	var out cmf.Object
	_ = json.Unmarshal(b, &out)
	return out
}

// compare sets the item's action and field diffs from its live resource.
// The spec (or an environment's settings) must be what Git says, field
// for field, both ways; metadata only needs Git's labels and annotations.
// What CMF does not return (a secret mapping's spec) is not compared.
func (it *item) compare() {
	want, have := comparable(it.body), comparableLive(it.live)
	var diffs []sync.FieldDiff
	for _, k := range sortedKeys(want) {
		switch k {
		case "metadata":
			wm, _ := want[k].(map[string]any)
			hm, _ := have[k].(map[string]any)
			for _, mk := range []string{"labels", "annotations"} {
				w, _ := wm[mk].(map[string]any)
				h, _ := hm[mk].(map[string]any)
				for _, lk := range sortedKeys(w) {
					if !equal(w[lk], h[lk]) {
						diffs = append(diffs, fieldDiff("metadata."+mk+"."+quoteKey(lk), w[lk], h[lk]))
					}
				}
			}
		case "apiVersion", "kind", "name":
		case "spec":
			if it.ref.Kind == cmf.KindSecretMapping && have["spec"] == nil {
				continue // write-only: CMF never returns it
			}
			diffFields("spec", want[k], have[k], &diffs)
		default:
			diffFields(k, want[k], have[k], &diffs)
		}
	}
	it.diffs = diffs
	if len(diffs) == 0 {
		it.action = sync.Unchanged
		return
	}
	it.action = sync.Configured
	hash, _ := annotationsOf(it.live)[AnnAppliedHash].(string)
	it.drift = hash != "" && hash == annotationsOf(it.body)[AnnAppliedHash]
	if it.drift {
		it.message = "changed in CMF behind Git's back"
	}
}

// driftOf is the item's drift, field by field.
func (it *item) driftOf(env *model.Environment) []sync.Drift {
	if !it.drift {
		return nil
	}
	var out []sync.Drift
	for _, d := range it.diffs {
		out = append(out, sync.Drift{Environment: env.Metadata.Name, ObjectID: idOf(it.ref), Field: d.Field, Desired: d.Desired, Live: d.Live})
	}
	return out
}

// diffFields compares two values both ways, down to their leaves. A
// field only CMF has is a difference unless its value is empty (false, 0,
// "", {} or []): CMF may write out a default Git leaves implicit.
func diffFields(path string, want, have any, out *[]sync.FieldDiff) {
	if want == nil && empty(have) {
		return
	}
	wm, wok := want.(map[string]any)
	hm, hok := have.(map[string]any)
	if !wok || !hok {
		if !equal(want, have) {
			*out = append(*out, fieldDiff(path, want, have))
		}
		return
	}
	keys := map[string]bool{}
	for k := range wm {
		keys[k] = true
	}
	for k := range hm {
		keys[k] = true
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		diffFields(path+"."+quoteKey(k), wm[k], hm[k], out)
	}
}

func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case float64:
		return x == 0
	case string:
		return x == ""
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

func quoteKey(k string) string {
	if strings.ContainsAny(k, ".[]\"") {
		b, _ := json.Marshal(k)
		return "[" + string(b) + "]"
	}
	return k
}

func fieldDiff(path string, want, have any) sync.FieldDiff {
	return sync.FieldDiff{Field: strings.ReplaceAll(path, ".[", "["), Desired: text(want), Live: text(have)}
}

func text(v any) string {
	if v == nil {
		return "(absent)"
	}
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func equal(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func nameOf(o cmf.Object) string {
	if meta, ok := o["metadata"].(map[string]any); ok {
		if n, _ := meta["name"].(string); n != "" {
			return n
		}
	}
	n, _ := o["name"].(string)
	return n
}

func labelsOf(o cmf.Object) map[string]string {
	out := map[string]string{}
	meta, _ := o["metadata"].(map[string]any)
	labels, _ := meta["labels"].(map[string]any)
	for k, v := range labels {
		out[k], _ = v.(string)
	}
	return out
}

func annotationsOf(o cmf.Object) map[string]any {
	meta, _ := o["metadata"].(map[string]any)
	ann, _ := meta["annotations"].(map[string]any)
	return ann
}
