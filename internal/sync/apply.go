package sync

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	gosync "sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/policy"
	"github.com/flinksync/flinksync/internal/render"
)

var namespaceGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

// planned is one desired object and what the pass will do with it.
type planned struct {
	obj     *unstructured.Unstructured
	live    *unstructured.Unstructured
	mapping *meta.RESTMapping
	entry   Entry
	action  Action
	diffs   []FieldDiff
	// message explains a conflict, a failure, a skip or an adoption.
	message string
	// drift is true when the live object changed behind Git's back (the
	// object in Git is what flinksync applied last).
	drift bool
	// refused is true when the live object is not this environment's and
	// carries no opt-in: the pass never writes it nor adds it to the
	// inventory.
	refused bool
	// written is true once the apply of this pass succeeded.
	written bool
	// added are the fields other managers added that Git does not
	// declare (managed.go): drift, which correct mode removes.
	added []addedField
	// dry is the object as the API server would store it (confirm's dry
	// run), when it was asked.
	dry map[string]any
	// seen is what a verdict of "unchanged" on p holds for.
	seen verdict
	// ignoreKey is the key of the ignore rules that select p (watch.go).
	ignoreKey string
	// prepared is the object as rendered for the pass, before the ignore
	// rules.
	prepared *unstructured.Unstructured
	// slim is true when p.live is a watched object held in part (no spec,
	// no managed fields) that an earlier pass found clean and unchanged at
	// this very version: p is unchanged, and p.obj what that pass applied.
	slim bool
}

// passState is what the read phase of a pass found.
type passState struct {
	env     *model.Environment
	ns      string
	objects []*planned
	inv     Inventory
	desired map[string]bool
	// owner decides which live objects the pass may write and prune.
	owner owner
	// dryRuns counts the server-side dry runs confirm sent.
	dryRuns int
	// progress reports the writes done of the pass's total (Options.Progress).
	progress func(done, total int)
	// staleLists are the live objects of the kinds with many stale
	// inventory entries, listed once a pass (prune.go listStale).
	staleLists map[schema.GroupKind]map[string]*unstructured.Unstructured
}

// Sync runs one pass over an environment: read, compare, apply what
// differs, prune, and report. out is the environment's rendered objects;
// it is nil when the environment did not render (then opts.Blocked says why).
func (s *Syncer) Sync(ctx context.Context, env *model.Environment, out *render.Environment, opts Options) *Result {
	start := s.Now()
	res := &Result{Environment: env.Metadata.Name, Namespace: env.Spec.Namespace, Cluster: env.Spec.Cluster, DryRun: opts.Mode == ModeDryRun,
		Changes: []Change{}, Drift: []Drift{}, Health: []AppHealth{}}
	defer func() { res.Duration = s.Now().Sub(start) }()
	if len(opts.Blocked) > 0 || out == nil {
		res.Blocked = opts.Blocked
		if len(res.Blocked) == 0 {
			res.Blocked = []string{"the environment did not render"}
		}
		return res
	}
	st, err := s.read(ctx, env, out)
	if err != nil {
		res.Errors = append(res.Errors, err.Error())
		return res
	}
	res.DryRuns = st.dryRuns
	st.progress = opts.Progress
	for _, p := range st.objects {
		if p.drift && !p.refused {
			for _, d := range p.diffs {
				res.Drift = append(res.Drift, Drift{Environment: res.Environment, ObjectID: p.entry.ObjectID,
					Field: d.Field, Desired: d.Desired, Live: d.Live})
			}
		}
	}
	if opts.Mode == ModeObserve {
		for _, p := range st.objects {
			res.Changes = append(res.Changes, change(p))
		}
		s.health(ctx, st, res)
		return res
	}

	// The state guard, before any write: a pass that would throw a
	// stateful job's state away without an acknowledgement in Git leaves
	// the environment as it is (the last good state stays).
	res.State = s.stateImpacts(ctx, st)
	if why := CheckGuard(opts.Guard, res.State, res); len(why) > 0 {
		res.Blocked = why
		s.health(ctx, st, res)
		return res
	}

	// Record the union of old and new before any write, so a pass that
	// stops half-way never loses track of an object.
	union := Inventory{}
	for k, e := range st.inv {
		union[k] = e
	}
	for _, p := range st.objects {
		if _, ok := union[p.entry.Key()]; !ok && !p.refused {
			union[p.entry.Key()] = Entry{ObjectID: p.entry.ObjectID}
		}
	}
	if opts.Mode == ModeApply && !union.equal(st.inv) {
		if err := s.writeInventory(ctx, res.Environment, st.ns, union); err != nil {
			res.Errors = append(res.Errors, err.Error())
			return res
		}
	}

	applyFailed := s.apply(ctx, st, opts.Mode == ModeDryRun)
	for _, p := range st.objects {
		res.Changes = append(res.Changes, change(p))
	}
	if err := ctxErr(ctx); err != nil {
		res.Errors = append(res.Errors, "interrupted: "+err.Error())
		return res
	}

	final := Inventory{}
	for _, p := range st.objects {
		e := p.entry
		switch {
		case p.refused:
			// Never written: keep tracking it only if an earlier pass did.
			old, known := st.inv[e.Key()]
			if !known {
				continue
			}
			e = old
		case p.action == Created || p.action == Configured || p.action == Replaced || p.action == Unchanged:
			// e.Hash is what is now applied.
		default:
			e.Hash = st.inv[e.Key()].Hash // keep the last applied state
		}
		final[e.Key()] = e
	}
	for _, p := range st.objects {
		// A refused object is a conflict of this pass: prune waits, as
		// after a failed write.
		applyFailed = applyFailed || p.refused
	}
	pruned := s.prune(ctx, st, union, final, applyFailed, opts, res)
	s.health(ctx, st, res)
	// The jobs' upgrades (upgrade.go) are recorded in the same inventory
	// write as the prune, or in one of their own when nothing else changed.
	marks := s.upgrades(st, opts.Mode, res)
	next := union
	if pruned {
		next = final
	}
	marked := withMarks(next, st.inv, marks)
	if opts.Mode == ModeApply && ((pruned && !final.equal(union)) || marked) {
		if err := s.writeInventory(ctx, res.Environment, st.ns, next); err != nil {
			res.Errors = append(res.Errors, err.Error())
		}
	}
	s.certificate(ctx, env, res)
	return res
}

var secretGVR = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}

// certificate checks the environment's TLS secret in the cluster (policy
// TLS-007): expired, expiring within 30 days, missing or unreadable. It
// reads that one secret by name, never lists secrets.
func (s *Syncer) certificate(ctx context.Context, env *model.Environment, res *Result) {
	t := env.Spec.TLS
	if t == nil || t.SecretName == "" {
		return
	}
	sec, err := s.dyn.Resource(secretGVR).Namespace(env.Spec.Namespace).Get(ctx, t.SecretName, metav1.GetOptions{})
	if apierrors.IsForbidden(err) {
		return // not allowed to read it: nothing to say
	}
	var crt []byte
	if err == nil {
		b64, _, _ := unstructured.NestedString(sec.Object, "data", "tls.crt")
		crt, _ = base64.StdEncoding.DecodeString(b64)
	}
	if f := policy.CheckCertificate(env, crt, s.Now()); f != nil {
		if apierrors.IsNotFound(err) {
			f.Message = fmt.Sprintf("the TLS secret %q does not exist in %s; Flink pods cannot mount it", t.SecretName, env.Spec.Namespace)
		}
		res.Findings = append(res.Findings, f)
	}
}

// change is what the pass reports for a planned object.
func change(p *planned) Change {
	a := p.action
	c := Change{ObjectID: p.entry.ObjectID, Action: a, Message: p.message}
	if a == Configured || a == Replaced || a == Drifted || (p.drift && a != Unchanged && a != Failed && a != Conflict) {
		c.Diffs = p.diffs
	}
	return c
}

// read finds the namespace, the inventory and the live objects, and plans
// each desired object. It writes nothing.
func (s *Syncer) read(ctx context.Context, env *model.Environment, out *render.Environment) (*passState, error) {
	ns := env.Spec.Namespace
	if _, err := s.dyn.Resource(namespaceGVR).Get(ctx, ns, metav1.GetOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("namespace %q does not exist: create it (flinksync never creates or deletes namespaces) or fix spec.namespace in %s", ns, env.Origin.File)
		}
		return nil, fmt.Errorf("reading namespace %q: %w", ns, err)
	}
	inv, own, err := s.inventoryOf(ctx, env.Metadata.Name, ns)
	if err != nil {
		return nil, err
	}
	st := &passState{env: env, ns: ns, inv: inv, desired: map[string]bool{}, owner: own}
	prep := s.prepared.pass(env.Metadata.Name, ns)
	defer prep.done()
	live := map[schema.GroupVersionKind]map[string]*unstructured.Unstructured{}
	mappings := map[schema.GroupVersionKind]*meta.RESTMapping{}
	watched := map[schema.GroupVersionKind]bool{}
	rendered := make([]*render.Object, 0, len(out.Objects))
	// Prepared before the first LIST is waited for: the CLI's LISTs were
	// started while the repository rendered (Prefetch).
	preparedObjs, hashes := prep.all(out.Objects)
	for i, o := range out.Objects {
		obj, hash := preparedObjs[i], hashes[i]
		gvk := obj.GroupVersionKind()
		m, known := mappings[gvk]
		if !known {
			if m, err = s.mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
				return nil, fmt.Errorf("%s: the cluster does not serve %s (is the operator's CRD installed?): %v", o.ID(), gvk.String(), err)
			}
			mappings[gvk] = m
		}
		if m.Scope.Name() != meta.RESTScopeNameNamespace {
			return nil, fmt.Errorf("%s: cluster-scoped objects are never applied (policy RBAC-001)", o.ID())
		}
		if _, listed := live[gvk]; !listed {
			// The daemon's watch (watch.go) holds the kind's live objects;
			// otherwise, and until its first LIST is in, one LIST now, or
			// the one Prefetch sent while the repository rendered.
			byName, ok := s.watch.cached(m, ns)
			if !ok {
				var pre bool
				if byName, pre = s.takePrefetched(ctx, m, ns); !pre {
					if byName, err = s.listRaw(ctx, m, ns); err != nil {
						return nil, fmt.Errorf("listing %s in %s: %w", m.Resource.Resource, ns, err)
					}
				}
			}
			live[gvk], watched[gvk] = byName, ok
		}
		p := &planned{obj: obj, prepared: obj, mapping: m, live: live[gvk][obj.GetName()], entry: entryFor(obj, hash)}
		p.ignoreKey = ignoreFor(env, o).key()
		if watched[gvk] && p.live != nil {
			if honoured, ok := s.verdicts.cleanHit(p.entry.Key(), hash, p.live, p.ignoreKey); ok {
				p.action, p.slim = Unchanged, true
				if honoured != nil {
					p.obj = honoured
				}
			}
		}
		st.desired[p.entry.Key()] = true
		st.objects = append(st.objects, p)
		rendered = append(rendered, o)
	}
	if err := s.refreshWatched(ctx, st, watched); err != nil {
		return nil, err
	}
	// Each object is compared with its live one on its own, on every CPU
	// at once: one by one, comparing 10,000 took 0.9 s of a 3 s CLI no-op.
	workers := min(runtime.GOMAXPROCS(0), len(st.objects))
	var wg gosync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(st.objects); i += workers {
				s.compareOne(env, own, st.objects[i], rendered[i], ns)
			}
		}()
	}
	wg.Wait()
	if st.dryRuns, err = s.confirm(ctx, st); err != nil {
		return nil, err
	}
	for _, p := range st.objects {
		if p.action == "" {
			st.decide(p)
		}
	}
	st.refuseOwned()
	return st, nil
}

// compareOne settles what a pass can of object p (rendered from o)
// before asking the API server: refused (the inventory, another owner's),
// created, or its field diffs against the live object.
func (s *Syncer) compareOne(env *model.Environment, own owner, p *planned, o *render.Object, ns string) {
	switch {
	case p.entry.isInventory():
		p.refuse(fmt.Sprintf("ConfigMap %s/%s is flinksync's inventory of this environment; Git may not declare it: rename the object in Git", ns, InventoryName))
	case p.live == nil:
		p.action = Created
	case !own.owns(p.live) && !own.adopts(p.live):
		p.refuse(own.refusal(p.live))
	default:
		if !own.owns(p.live) {
			p.message = fmt.Sprintf("adopted: the live object is annotated %s=%s", AnnAdopt, own.env)
		}
		if p.slim {
			return // unchanged: an earlier pass found this very version clean
		}
		obj := p.obj
		p.honourIgnoreRules(env, o, own.owns(p.live)) // ignore.go: p.obj keeps what the rules ignore
		p.diffs = s.localDiffs(p, obj)                // the server settles these in confirm
	}
}

// decide sets the action of an object compared with its live one, from its
// field diffs: unchanged, configured (a change in Git, or drift corrected),
// drifted (drift left alone) or replaced (an immutable field changes).
func (st *passState) decide(p *planned) {
	prev, known := st.inv[p.entry.Key()]
	p.diffs = append(p.diffs, addedDiffs(p.added)...) // after confirm: an apply leaves them
	switch {
	case len(p.diffs) == 0:
		p.action = Unchanged
	case known && prev.Hash == p.entry.Hash:
		// Git did not change since the last apply: the cluster did.
		p.drift = true
		p.action = Configured
		if st.env.Spec.Sync.Drift == model.DriftWarn {
			p.action = Drifted
		}
	default:
		p.action = Configured
	}
	if p.action == Configured {
		if fields := ImmutableChanges(p.obj, p.live); len(fields) > 0 {
			p.action = Replaced
			p.message = strings.TrimPrefix(p.message+"; "+replaceReason(p.obj.GetKind(), fields), "; ")
		}
	}
}

// writes reports whether the pass means to write p.
func (p *planned) writes() bool {
	return p.action == Created || p.action == Configured || p.action == Replaced
}

// refuse marks p as an object the pass will not write, with why.
func (p *planned) refuse(why string) {
	p.action, p.refused, p.message, p.diffs = Conflict, true, why, nil
}

// apply writes the objects that differ, stage by stage in apply order
// (render.Rank), with up to Workers writes at once within a stage. It
// reports whether any write failed. After a failed stage it stops: the
// objects it did not write are reported as skipped, never as created or
// configured.
func (s *Syncer) apply(ctx context.Context, st *passState, dryRun bool) (failed bool) {
	defer func() { skipUnwritten(st, failed && ctx.Err() == nil) }()
	var stages [][]*planned
	byRank := map[int][]*planned{}
	var ranks []int
	for _, p := range st.objects {
		if !p.writes() {
			continue
		}
		r := render.ObjectRank(p.obj)
		if _, ok := byRank[r]; !ok {
			ranks = append(ranks, r)
		}
		byRank[r] = append(byRank[r], p)
	}
	sort.Ints(ranks)
	for _, r := range ranks {
		stages = append(stages, byRank[r])
	}
	envForce := st.env.Spec.Sync.Force
	correct := st.env.Spec.Sync.Drift != model.DriftWarn
	var mu gosync.Mutex
	total, done := 0, 0
	for _, stage := range stages {
		total += len(stage)
	}
	tick := func() {
		if st.progress == nil {
			return
		}
		mu.Lock()
		done++
		n := done
		mu.Unlock()
		st.progress(n, total)
	}
	if st.progress != nil && total > 0 {
		st.progress(0, total)
	}
	for _, stage := range stages {
		if ctx.Err() != nil {
			return true
		}
		work := make(chan *planned)
		var wg gosync.WaitGroup
		for i := 0; i < max(1, s.Workers); i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for p := range work {
					s.write(ctx, st, p, envForce, correct, dryRun, &mu, &failed)
					tick()
				}
			}()
		}
	feed:
		for _, p := range stage {
			select {
			case work <- p:
			case <-ctx.Done():
				break feed
			}
		}
		close(work)
		wg.Wait()
		// A stage must be in place before the next: a RoleBinding needs its
		// Role, a FlinkApplication its FlinkEnvironment.
		if failed {
			break
		}
	}
	return failed
}

// write applies (or replaces) one object of a stage; a failure sets
// *failed under mu.
func (s *Syncer) write(ctx context.Context, st *passState, p *planned, envForce, correct, dryRun bool, mu *gosync.Mutex, failed *bool) {
	fail := func() {
		mu.Lock()
		*failed = true
		mu.Unlock()
	}
	// Correcting drift takes back what a live edit took; a change from Git
	// never overrides another manager unless the environment says sync.force.
	force := envForce || (p.drift && correct)
	if p.action == Replaced {
		if err := s.replace(ctx, st.ns, p, force, dryRun); err != nil {
			fail()
			p.action, p.message = Failed, err.Error()
			return
		}
		p.written = true
		return
	}
	opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: force}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	var applied *unstructured.Unstructured
	err := s.removeAdded(ctx, st, p, dryRun)
	if err == nil {
		applied, err = s.dyn.Resource(p.mapping.Resource).Namespace(st.ns).Apply(ctx, p.obj.GetName(), p.obj, opts)
	}
	if err != nil {
		fail()
		p.action, p.message = failure(err, force)
		return
	}
	p.live, p.written = applied, true
}

// failure turns an apply error into an action and a message.
func failure(err error, force bool) (Action, string) {
	if apierrors.IsConflict(err) && !force {
		return Conflict, err.Error() + "; another field manager owns these fields: set spec.sync.force: true in the environment to take them over"
	}
	var status apierrors.APIStatus
	msg := err.Error()
	if errors.As(err, &status) && status.Status().Details != nil {
		msg = status.Status().Message
	}
	return Failed, msg
}

// skipUnwritten reports the objects apply meant to write and did not as
// skipped: after a failed stage (failed), or when the pass was cut short.
func skipUnwritten(st *passState, failed bool) {
	why := "not applied: the pass was interrupted before it reached this object"
	if failed {
		why = "not applied: an object of an earlier apply stage failed (see the failed objects), and a stage must be in place before the next"
	}
	for _, p := range st.objects {
		if p.writes() && !p.written {
			p.action, p.message = Skipped, why
		}
	}
}
