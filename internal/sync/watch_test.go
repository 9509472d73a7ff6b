package sync

import (
	"context"
	"net/http"
	"os"
	"reflect"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/testenv"
)

// fdReads counts the reads of FlinkDeployments a client sends: LISTs and
// GETs of one by name (watches are neither).
type fdReads struct{ lists, gets atomic.Int64 }

func (c *fdReads) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			q := req.URL.Query()
			if req.Method == http.MethodGet && q.Get("watch") != "true" {
				switch p := req.URL.Path; {
				case strings.HasSuffix(p, "/flinkdeployments"):
					c.lists.Add(1)
				case strings.Contains(p, "/flinkdeployments/"):
					c.gets.Add(1)
				}
			}
			return rt.RoundTrip(req)
		})
	})
	return cfg
}

// waitWatch waits until the Syncer's watch of FlinkDeployments in ns holds
// name at a resourceVersion other than old ("" : holds it at all; gone:
// holds it no more).
func waitWatch(t *testing.T, s *Syncer, ns, name, old string, gone bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		s.watch.mu.Lock()
		x := s.watch.kinds[watchKey{fdGVR, ns}]
		s.watch.mu.Unlock()
		if x != nil && x.informer.HasSynced() {
			it, exists, _ := x.informer.GetStore().GetByKey(ns + "/" + name)
			if gone && !exists {
				return
			}
			if o, ok := it.(*slimObject); ok && !gone && o.ResourceVersion != old {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the watch of FlinkDeployments in %s did not see %s change in 10 s", ns, name)
}

// waitSynced waits until every watch of the Syncer has its first LIST in.
func waitSynced(t *testing.T, s *Syncer) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		s.watch.mu.Lock()
		synced := true
		for _, x := range s.watch.kinds {
			synced = synced && x.informer.HasSynced()
		}
		s.watch.mu.Unlock()
		if synced {
			return
		}
	}
	t.Fatal("the Syncer's watches did not sync in 10 s")
}

// freeze stops the Syncer's watches and keeps what they hold: a watch
// whose events are late.
func freeze(s *Syncer) {
	s.watch.mu.Lock()
	defer s.watch.mu.Unlock()
	for _, x := range s.watch.kinds {
		x.stop()
	}
}

// TestWatchedPassesListNothingAndMissNothing: with WatchLive (the daemon),
// a steady pass reads no FlinkDeployment (no LIST, no GET); a change made
// behind Git's back is found as soon as the watch has it; an object
// deleted behind Git's back is created again; and a watch that lags
// behind flinksync's own write neither reports drift nor writes again:
// the pass reads fresh what the watch cannot vouch for.
func TestWatchedPassesListNothingAndMissNothing(t *testing.T) {
	f := newFixture(t)
	var reads fdReads
	s, err := New(CountWrites(reads.wrap(f.cfg), &f.writes))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.WatchLive(ctx); err != nil {
		t.Fatal(err)
	}
	f.syncer = s
	mustOK(t, f.pass(ctx, Options{}))
	waitWatch(t, s, f.ns("dev"), "orders-enrich", "", false)
	waitWatch(t, s, f.ns("staging"), "orders-enrich", "", false)
	mustOK(t, f.pass(ctx, Options{})) // finds everything unchanged, and remembers it
	waitSynced(t, s)                  // every kind and namespace the passes read
	mustOK(t, f.pass(ctx, Options{}))

	f.writes.Store(0)
	reads.lists.Store(0)
	reads.gets.Store(0)
	res := f.pass(ctx, Options{})
	mustOK(t, res)
	for env, r := range res {
		if n := len(r.Changes) - r.Count(Unchanged); n != 0 {
			t.Errorf("%s: a steady pass changes nothing: %s", env, r.Summary())
		}
	}
	if w, l, g := f.writes.Load(), reads.lists.Load(), reads.gets.Load(); w != 0 || l != 0 || g != 0 {
		t.Errorf("a steady watched pass sent %d writes, %d LISTs and %d GETs of FlinkDeployments; want none", w, l, g)
	}
	if kinds, objs := s.Watching(); kinds == 0 || objs == 0 {
		t.Errorf("Watching() = %d kinds, %d objects", kinds, objs)
	}

	// The operator writes a status: a new version, with its spec and
	// metadata as they were. The pass reads nothing, and its health is the
	// new status, from the watch.
	old := f.fd("dev", "orders-enrich").GetResourceVersion()
	testenv.SetStatus(t, f.cfg, fdGVR, f.ns("dev"), "orders-enrich", map[string]any{
		"lifecycleState": "STABLE", "jobManagerDeploymentStatus": "READY", "jobStatus": map[string]any{"state": "RUNNING"}})
	waitWatch(t, s, f.ns("dev"), "orders-enrich", old, false)
	reads.lists.Store(0)
	reads.gets.Store(0)
	res = f.pass(ctx, Options{})
	mustOK(t, res)
	if l, g := reads.lists.Load(), reads.gets.Load(); l != 0 || g != 0 {
		t.Errorf("a pass after a status change sent %d LISTs and %d GETs of FlinkDeployments; want none", l, g)
	}
	healthy := false
	for _, h := range res["dev"].Health {
		healthy = healthy || (h.App == "orders-enrich" && h.Health == Healthy)
	}
	if !healthy {
		t.Errorf("dev's orders-enrich is Healthy by the status the watch holds: %+v", res["dev"].Health)
	}

	// A label added behind Git's back changes no generation: the pass
	// still reads the object and reports it.
	old = f.fd("dev", "clickstream-filter").GetResourceVersion()
	if _, err := f.dyn.Resource(fdGVR).Namespace(f.ns("dev")).Patch(ctx, "clickstream-filter", types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"added-by":"hand"}}}`), metav1.PatchOptions{FieldManager: "kubectl-label"}); err != nil {
		t.Fatal(err)
	}
	waitWatch(t, s, f.ns("dev"), "clickstream-filter", old, false)
	res = f.pass(ctx, Options{})
	labelled := false
	for _, d := range res["dev"].Drift {
		labelled = labelled || (d.Name == "clickstream-filter" && strings.Contains(d.Field, "added-by"))
	}
	if !labelled {
		t.Errorf("dev reports the label added by hand: %+v", res["dev"].Drift)
	}
	if _, err := f.dyn.Resource(fdGVR).Namespace(f.ns("dev")).Patch(ctx, "clickstream-filter", types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"added-by":null}}}`), metav1.PatchOptions{FieldManager: "kubectl-label"}); err != nil {
		t.Fatal(err)
	}

	// A change behind Git's back, once the watch has it.
	for _, env := range []string{"dev", "staging"} {
		old := f.fd(env, "orders-enrich").GetResourceVersion()
		if _, err := f.dyn.Resource(fdGVR).Namespace(f.ns(env)).Patch(ctx, "orders-enrich", types.MergePatchType,
			[]byte(`{"spec":{"taskManager":{"replicas":17}}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
			t.Fatal(err)
		}
		waitWatch(t, s, f.ns(env), "orders-enrich", old, false)
	}
	res = f.pass(ctx, Options{})
	if r := res["dev"]; r.Count(Drifted) != 1 || len(r.Drift) != 1 || r.Drift[0].Field != "spec.taskManager.replicas" {
		t.Errorf("dev (drift: warn) reports the edit: %s %+v", r.Summary(), r.Drift)
	}
	if got, _, _ := unstructured.NestedInt64(f.fd("staging", "orders-enrich").Object, "spec", "taskManager", "replicas"); got == 17 {
		t.Errorf("staging (drift: correct) restores the replicas: %s", res["staging"].Summary())
	}

	// An object deleted behind Git's back.
	if err := f.dyn.Resource(fdGVR).Namespace(f.ns("staging")).Delete(ctx, "fraud-detection", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitWatch(t, s, f.ns("staging"), "fraud-detection", "", true)
	res = f.pass(ctx, Options{})
	if r := res["staging"]; r.Count(Created) != 1 {
		t.Errorf("staging creates fraud-detection again: %s", r.Summary())
	}
	f.fd("staging", "fraud-detection")

	// flinksync's own write, and a watch that has not seen it yet.
	mustOK(t, f.pass(ctx, Options{}))
	freeze(s)
	f.edit("apps/fraud-detection.yaml", "fraud/v7", "fraud/v8") // a change in Git (staging and prod)
	before := f.writes.Load()
	res = f.pass(ctx, Options{})
	mustOK(t, res)
	if f.writes.Load() == before {
		t.Fatalf("the Git change writes: %s", res["staging"].Summary())
	}
	f.writes.Store(0)
	res = f.pass(ctx, Options{})
	mustOK(t, res)
	for env, r := range res {
		if n := r.Count(Created) + r.Count(Configured) + r.Count(Replaced); n != 0 {
			t.Errorf("%s: the pass after flinksync's own write, with the watch behind it, changes nothing: %s", env, r.Summary())
		}
		for _, d := range r.Drift {
			if env != "dev" || d.Name != "orders-enrich" { // dev's edit above stays: drift: warn
				t.Errorf("%s: the pass after flinksync's own write, with the watch behind it, sees no drift: %+v", env, d)
			}
		}
	}
	if w := f.writes.Load(); w != 0 {
		t.Errorf("the pass after flinksync's own write sent %d writes", w)
	}
	checkRenderedUnchanged(t, f)
}

// checkRenderedUnchanged runs two passes over one render of f's
// repository and fails when they changed a rendered object: a pass's
// prepared objects share the rendered objects' maps (prepared.go), and the
// daemon keeps a render for many passes.
func checkRenderedUnchanged(t *testing.T, f *fixture) {
	t.Helper()
	res, err := pipeline.Run(os.DirFS(f.dir), pipeline.Options{Revision: "rev1"})
	if err != nil {
		t.Fatal(err)
	}
	hashes := func() map[string]string {
		out := map[string]string{}
		for env, r := range res.Rendered {
			for _, o := range r.Objects {
				out[env+"/"+o.ID()] = hashOf(o.Object)
			}
		}
		return out
	}
	before := hashes()
	for i := 0; i < 2; i++ {
		for _, env := range res.Repo.Environments {
			if env.Spec.Target != model.TargetCMF {
				f.syncer.Sync(context.Background(), env, res.Rendered[env.Metadata.Name], Options{Guard: res.Guard(env.Metadata.Name)})
			}
		}
	}
	after := hashes()
	if len(before) == 0 {
		t.Fatal("nothing rendered")
	}
	for id, h := range before {
		if after[id] != h {
			t.Errorf("a pass changed the rendered %s", id)
		}
	}
}

// A watched object is kept as one JSON document of its kind, metadata
// without managed fields, and status (no spec), and comes back from it as
// the same values; slim takes what it made back as it is (client-go may
// hand a transform its own output).
func TestSlimKeepsMetadataAndStatusOnly(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkDeployment",
		"metadata": map[string]any{"name": "orders", "namespace": "ns", "resourceVersion": "42", "generation": int64(3),
			"labels": map[string]any{"app.kubernetes.io/managed-by": "flinksync"}, "managedFields": []any{map[string]any{"manager": "flinksync"}}},
		"spec":   map[string]any{"job": map[string]any{"parallelism": int64(4)}},
		"status": map[string]any{"lifecycleState": "STABLE", "jobStatus": map[string]any{"state": "RUNNING"}, "observedGeneration": int64(3)},
	}}
	kept, err := slim(u)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := kept.(*slimObject)
	if !ok {
		t.Fatalf("slim gave %T", kept)
	}
	if o.Name != "orders" || o.Namespace != "ns" || o.ResourceVersion != "42" {
		t.Errorf("kept as %s/%s at %s", o.Namespace, o.Name, o.ResourceVersion)
	}
	if again, _ := slim(o); again != o {
		t.Error("slim of a slimObject is not that object")
	}
	back, err := o.object()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"apiVersion": u.Object["apiVersion"], "kind": u.Object["kind"], "metadata": map[string]any{"name": "orders", "namespace": "ns",
		"resourceVersion": "42", "generation": int64(3), "labels": map[string]any{"app.kubernetes.io/managed-by": "flinksync"}},
		"status": u.Object["status"]}
	if !reflect.DeepEqual(back.Object, want) {
		t.Errorf("kept %v\nwant %v", back.Object, want)
	}
}

// TestRefusedWatchIsToldOnceAndPassesList: an identity without `watch`
// (RBAC) gets its watches refused. Each refusal is told once (the daemon
// logs it), the watch is not retried pass after pass, and passes read the
// kind with a LIST: they stay correct, a change behind Git's back is
// still found at once.
func TestRefusedWatchIsToldOnceAndPassesList(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	noWatch := f.userWith("nowatch", rbacv1.PolicyRule{APIGroups: []string{"*"}, Resources: []string{"*"},
		Verbs: []string{"get", "list", "create", "update", "patch", "delete", "deletecollection", "escalate", "bind"}})
	var mu gosync.Mutex
	told := map[string]int{}
	OnWatchRefused(func(resource, namespace string, err error) {
		mu.Lock()
		defer mu.Unlock()
		if apierrors.IsForbidden(err) {
			told[resource+" "+namespace]++
		}
	})
	defer OnWatchRefused(nil)
	s, err := New(noWatch)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WatchLive(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f.syncer = s
	mustOK(t, f.pass(ctx, Options{}))
	key := "flinkdeployments " + f.ns("dev")
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := told[key]
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the refused watch of %s was not told in 10 s (told: %v)", key, told)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range 3 {
		mustOK(t, f.pass(ctx, Options{}))
	}
	if _, err := f.dyn.Resource(fdGVR).Namespace(f.ns("dev")).Patch(ctx, "orders-enrich", types.MergePatchType,
		[]byte(`{"spec":{"taskManager":{"replicas":17}}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	res := f.pass(ctx, Options{})
	if r := res["dev"]; len(r.Drift) != 1 || r.Drift[0].Field != "spec.taskManager.replicas" {
		t.Errorf("the edit made right before the pass is drift: %s %+v", r.Summary(), r.Drift)
	}
	mu.Lock()
	defer mu.Unlock()
	for k, n := range told {
		if n != 1 {
			t.Errorf("the refused watch of %s was told %d times over 5 passes, want once", k, n)
		}
	}
	if kinds, _ := s.Watching(); kinds == 0 {
		t.Error("Watching() = 0 kinds: the refused watches should stay known (not retried before 10 min)")
	}
}
