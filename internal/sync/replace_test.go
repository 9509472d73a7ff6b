package sync

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/testenv"
)

// cfkObj is an object of a CFK kind as render makes it: flinksync's labels,
// in the environment's namespace.
func cfkObj(env, ns, kind, name string, labels map[string]string, spec map[string]any) *render.Object {
	l := map[string]string{render.LabelManagedBy: render.ManagedByValue, render.LabelEnvironment: env, render.LabelName: name}
	for k, v := range labels {
		l[k] = v
	}
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetAPIVersion("platform.confluent.io/v1beta1")
	u.SetKind(kind)
	u.SetName(name)
	u.SetNamespace(ns)
	u.SetLabels(l)
	return &render.Object{Unstructured: u}
}

// sqlObjects are the objects of a small CFK SQL pipeline in environment
// env: an environment, a secret and its mapping, a catalog and a database,
// a pool, a DDL and a DML statement. The statement names sort DDL first, so
// only the sql-kind label puts DML first in prune order.
func sqlObjects(env, ns, poolType string) []*render.Object {
	ref := map[string]any{"name": "cmf"}
	stmt := func(name, kind, sql string) *render.Object {
		return cfkObj(env, ns, "FlinkStatement", name+"-0a1b2c", map[string]string{render.LabelName: name, render.LabelSQLKind: kind},
			map[string]any{"flinkEnvironment": env, "computePoolName": "pool", "statement": sql, "cmfRestClassRef": ref})
	}
	return []*render.Object{
		cfkObj(env, ns, "FlinkEnvironment", env, nil, map[string]any{"kubernetesNamespace": ns, "cmfRestClassRef": ref}),
		cfkObj(env, ns, "FlinkSecret", "sr-creds", nil, map[string]any{"secretRef": "sr-creds", "cmfRestClassRef": ref}),
		cfkObj(env, ns, "FlinkEnvironmentSecretMapping", "sr-creds", nil, map[string]any{"flinkEnvironment": env,
			"secretRef": map[string]any{"name": "sr-creds"}, "cmfRestClassRef": ref}),
		cfkObj(env, ns, "FlinkKafkaCatalog", "kafka", nil, map[string]any{"flinkEnvironment": env, "cmfRestClassRef": ref,
			"srInstance": map[string]any{"connectionConfig": map[string]any{"schema.registry.url": "http://sr:8081"}, "connectionSecretId": "sr-creds"}}),
		cfkObj(env, ns, "FlinkKafkaDatabase", "clicks", nil, map[string]any{"flinkEnvironment": env, "cmfRestClassRef": ref,
			"catalogRef":   map[string]any{"name": "kafka"},
			"kafkaCluster": map[string]any{"connectionConfig": map[string]any{"bootstrap.servers": "kafka:9092"}}}),
		cfkObj(env, ns, "FlinkComputePool", "pool", nil, map[string]any{"flinkEnvironment": env, "type": poolType, "cmfRestClassRef": ref,
			"clusterSpec": map[string]any{"flinkVersion": "v1_20", "image": "confluentinc/cp-flink-sql:1.20"}}),
		stmt("a-tables", string(model.SQLDDL), "CREATE TABLE t (x INT);\n"),
		stmt("b-load", string(model.SQLDML), "INSERT INTO t SELECT 1;\n"),
	}
}

// sqlFixture is a namespace with a hand-made CFK SQL environment in it, for
// sync tests that need the SQL kinds whatever render makes of a repository.
type sqlFixture struct {
	t      *testing.T
	env    *model.Environment
	syncer *Syncer
	dyn    dynamic.Interface
	writes atomic.Int64
}

func newSQLFixture(t *testing.T) *sqlFixture {
	t.Helper()
	cfg := testenv.Config(t)
	ns := fmt.Sprintf("flink-sql-t%d", nsCounter.Add(1))
	testenv.CreateNamespace(t, cfg, ns)
	f := &sqlFixture{t: t, env: &model.Environment{Metadata: model.ObjectMeta{Name: "sql"},
		Spec: model.EnvironmentSpec{Target: model.TargetCFK, Namespace: ns}}}
	s, err := New(CountWrites(cfg, &f.writes))
	if err != nil {
		t.Fatal(err)
	}
	f.syncer = s
	f.dyn, _ = dynamic.NewForConfig(cfg)
	return f
}

func (f *sqlFixture) sync(objs []*render.Object, opts Options) *Result {
	f.t.Helper()
	return f.syncer.Sync(context.Background(), f.env, &render.Environment{Name: "sql", Namespace: f.env.Spec.Namespace, Objects: objs}, opts)
}

func (f *sqlFixture) get(kind, name string) *unstructured.Unstructured {
	f.t.Helper()
	gvr := schema.GroupVersionResource{Group: "platform.confluent.io", Version: "v1beta1", Resource: strings.ToLower(kind) + "s"}
	u, err := f.dyn.Resource(gvr).Namespace(f.env.Spec.Namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatalf("%s %s: %v", kind, name, err)
	}
	return u
}

func actions(r *Result) map[string]Action {
	out := map[string]Action{}
	for _, c := range r.Changes {
		out[c.Kind+"/"+c.Name] = c.Action
	}
	return out
}

func edited(objs []*render.Object, kind string, path []string, value any) []*render.Object {
	out := make([]*render.Object, len(objs))
	for i, o := range objs {
		out[i] = o
		if o.GetKind() == kind {
			c := &render.Object{Unstructured: o.DeepCopy()}
			_ = unstructured.SetNestedField(c.Object, value, path...)
			out[i] = c
		}
	}
	return out
}

func TestImmutableChanges(t *testing.T) {
	obj := func(kind string, spec map[string]any) *unstructured.Unstructured {
		return cfkObj("e", "ns", kind, "x", nil, spec).Unstructured
	}
	for _, tc := range []struct {
		name          string
		desired, live *unstructured.Unstructured
		want          []string
	}{
		{"pool type", obj("FlinkComputePool", map[string]any{"type": "SHARED", "flinkEnvironment": "e"}),
			obj("FlinkComputePool", map[string]any{"type": "DEDICATED", "flinkEnvironment": "e", "state": "RUNNING"}), []string{"spec.type"}},
		{"pool same", obj("FlinkComputePool", map[string]any{"type": "DEDICATED", "flinkEnvironment": "e", "clusterSpec": map[string]any{"a": "b"}}),
			obj("FlinkComputePool", map[string]any{"type": "DEDICATED", "flinkEnvironment": "e", "clusterSpec": map[string]any{"a": "c"}}), nil},
		{"environment namespace", obj("FlinkEnvironment", map[string]any{"kubernetesNamespace": "b"}),
			obj("FlinkEnvironment", map[string]any{"kubernetesNamespace": "a"}), []string{"spec.kubernetesNamespace"}},
		{"statement text and environment", obj("FlinkStatement", map[string]any{"statement": "B", "flinkEnvironment": "f", "computePoolName": "p"}),
			obj("FlinkStatement", map[string]any{"statement": "A", "flinkEnvironment": "e", "computePoolName": "p"}),
			[]string{"spec.flinkEnvironment", "spec.statement"}},
		{"statement text set where it was empty", obj("FlinkStatement", map[string]any{"statement": "B"}),
			obj("FlinkStatement", map[string]any{"statement": ""}), nil},
		{"statement pool", obj("FlinkStatement", map[string]any{"computePoolName": "q"}),
			obj("FlinkStatement", map[string]any{"computePoolName": "p"}), []string{"spec.computePoolName"}},
		{"database catalog", obj("FlinkKafkaDatabase", map[string]any{"catalogRef": map[string]any{"name": "b"}}),
			obj("FlinkKafkaDatabase", map[string]any{"catalogRef": map[string]any{"name": "a"}}), []string{"spec.catalogRef"}},
		{"mapping environment", obj("FlinkEnvironmentSecretMapping", map[string]any{"flinkEnvironment": "f"}),
			obj("FlinkEnvironmentSecretMapping", map[string]any{"flinkEnvironment": "e"}), []string{"spec.flinkEnvironment"}},
		{"catalog environment", obj("FlinkKafkaCatalog", map[string]any{"flinkEnvironment": "f"}),
			obj("FlinkKafkaCatalog", map[string]any{"flinkEnvironment": "e"}), []string{"spec.flinkEnvironment"}},
		{"application environment", obj("FlinkApplication", map[string]any{"flinkEnvironment": "f"}),
			obj("FlinkApplication", map[string]any{"flinkEnvironment": "e"}), []string{"spec.flinkEnvironment"}},
		{"a kind without immutable fields", obj("FlinkSecret", map[string]any{"secretRef": "b"}),
			obj("FlinkSecret", map[string]any{"secretRef": "a"}), nil},
	} {
		if got := ImmutableChanges(tc.desired, tc.live); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	rb := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
		"roleRef": map[string]any{"kind": "Role", "name": "b"}}}
	old := rb.DeepCopy()
	old.Object["roleRef"] = map[string]any{"kind": "Role", "name": "a"}
	if got := ImmutableChanges(rb, old); !slices.Equal(got, []string{"roleRef"}) {
		t.Errorf("RoleBinding roleRef: %v", got)
	}
}

// TestReplaceOnImmutableChange: a change of a pool's type, an
// environment's kubernetesNamespace and a database's catalog, which the
// CRDs' CEL rules refuse on an existing object, is applied by replacing
// those objects: the dry run says so and deletes nothing, the apply does
// it, and the next pass writes nothing.
func TestReplaceOnImmutableChange(t *testing.T) {
	f := newSQLFixture(t)
	objs := sqlObjects("sql", f.env.Spec.Namespace, "DEDICATED")
	mustOK(t, map[string]*Result{"sql": f.sync(objs, Options{})})
	oldPool := f.get("FlinkComputePool", "pool").GetUID()

	objs = edited(objs, "FlinkComputePool", []string{"spec", "type"}, "SHARED")
	objs = edited(objs, "FlinkEnvironment", []string{"spec", "kubernetesNamespace"}, "elsewhere")
	objs = edited(objs, "FlinkKafkaDatabase", []string{"spec", "catalogRef", "name"}, "other")
	want := map[string]bool{"FlinkComputePool/pool": true, "FlinkEnvironment/sql": true, "FlinkKafkaDatabase/clicks": true}

	dry := f.sync(objs, Options{Mode: ModeDryRun})
	if !dry.OK() {
		t.Fatalf("dry run: %s %+v", dry.Summary(), failed(dry))
	}
	for id, a := range actions(dry) {
		if want[id] != (a == Replaced) {
			t.Errorf("dry run: %s %s", id, a)
		}
	}
	if f.get("FlinkComputePool", "pool").GetUID() != oldPool {
		t.Fatalf("a dry run must delete nothing")
	}
	if typ, _, _ := unstructured.NestedString(f.get("FlinkComputePool", "pool").Object, "spec", "type"); typ != "DEDICATED" {
		t.Fatalf("a dry run must change nothing: type %s", typ)
	}

	diffs, err := f.syncer.Diff(context.Background(), f.env, &render.Environment{Name: "sql", Namespace: f.env.Spec.Namespace, Objects: objs})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		if d.Action != Replaced || !want[d.Kind+"/"+d.Name] || !strings.Contains(d.Message, "cannot change") || d.Unified == "" {
			t.Errorf("diff: %s %s %q", d.Action, d.ID(), d.Message)
		}
	}
	if len(diffs) != len(want) {
		t.Errorf("diff lists %d objects, want %d", len(diffs), len(want))
	}

	r := f.sync(objs, Options{})
	if !r.OK() || r.Count(Replaced) != 3 {
		t.Fatalf("want 3 objects replaced: %s %+v", r.Summary(), failed(r))
	}
	if !strings.Contains(r.Summary(), "3 replaced") {
		t.Errorf("the summary must count replaced objects: %s", r.Summary())
	}
	for _, c := range r.Changes {
		if c.Action == Replaced && (!strings.Contains(c.Message, "cannot change") || len(c.Diffs) == 0) {
			t.Errorf("%s: a replace says why and shows the fields: %q %v", c.ID(), c.Message, c.Diffs)
		}
	}
	pool := f.get("FlinkComputePool", "pool")
	if typ, _, _ := unstructured.NestedString(pool.Object, "spec", "type"); typ != "SHARED" || pool.GetUID() == oldPool {
		t.Errorf("the pool must be a new object of type SHARED: %s, uid changed %v", typ, pool.GetUID() != oldPool)
	}
	if ns, _, _ := unstructured.NestedString(f.get("FlinkEnvironment", "sql").Object, "spec", "kubernetesNamespace"); ns != "elsewhere" {
		t.Errorf("kubernetesNamespace %q", ns)
	}

	f.writes.Store(0)
	again := f.sync(objs, Options{})
	if !again.OK() || again.Count(Unchanged) != len(objs) || f.writes.Load() != 0 {
		t.Errorf("the next pass must write nothing: %s, %d writes", again.Summary(), f.writes.Load())
	}
}

// TestReplaceHalfDoneIsFinishedByTheNextPass: the create after the delete
// fails; the pass says so, and the next pass creates the object.
func TestReplaceHalfDoneIsFinishedByTheNextPass(t *testing.T) {
	f := newSQLFixture(t)
	objs := sqlObjects("sql", f.env.Spec.Namespace, "DEDICATED")
	mustOK(t, map[string]*Result{"sql": f.sync(objs, Options{})})

	var deleted atomic.Bool
	cfg := testenv.Config(t)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			pool := strings.HasSuffix(req.URL.Path, "/flinkcomputepools/pool")
			if pool && req.Method == http.MethodDelete {
				deleted.Store(true)
			}
			if pool && req.Method == http.MethodPatch && deleted.Load() {
				return nil, fmt.Errorf("connection reset (injected)")
			}
			return rt.RoundTrip(req)
		})
	})
	broken, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	objs = edited(objs, "FlinkComputePool", []string{"spec", "type"}, "SHARED")
	out := &render.Environment{Name: "sql", Namespace: f.env.Spec.Namespace, Objects: objs}
	r := broken.Sync(context.Background(), f.env, out, Options{})
	if r.OK() || actions(r)["FlinkComputePool/pool"] != Failed {
		t.Fatalf("the half-done replace must fail the pass: %s %v", r.Summary(), actions(r))
	}
	for _, c := range r.Changes {
		if c.Name == "pool" && !strings.Contains(c.Message, "next pass creates it") {
			t.Errorf("the failure must say what happens next: %q", c.Message)
		}
	}
	r = f.sync(objs, Options{})
	if !r.OK() || actions(r)["FlinkComputePool/pool"] != Created {
		t.Fatalf("the next pass must create the pool: %s %v", r.Summary(), actions(r))
	}
	if typ, _, _ := unstructured.NestedString(f.get("FlinkComputePool", "pool").Object, "spec", "type"); typ != "SHARED" {
		t.Errorf("type %q", typ)
	}
}

// TestSQLPruneOrder: removing the catalog, its database, the secret, the
// pool and the statements from Git deletes them in reverse apply order:
// DML statement, DDL statement, pool, database, catalog, mapping, secret.
func TestSQLPruneOrder(t *testing.T) {
	f := newSQLFixture(t)
	objs := sqlObjects("sql", f.env.Spec.Namespace, "DEDICATED")
	mustOK(t, map[string]*Result{"sql": f.sync(objs, Options{})})
	r := f.sync(objs[:1], Options{})
	if !r.OK() {
		t.Fatalf("%s %+v", r.Summary(), failed(r))
	}
	var order []string
	for _, c := range r.Changes {
		if c.Action == Pruned {
			order = append(order, c.Kind+"/"+c.Name)
		}
	}
	want := []string{"FlinkStatement/b-load-0a1b2c", "FlinkStatement/a-tables-0a1b2c", "FlinkComputePool/pool",
		"FlinkKafkaDatabase/clicks", "FlinkKafkaCatalog/kafka", "FlinkEnvironmentSecretMapping/sr-creds", "FlinkSecret/sr-creds"}
	if !slices.Equal(order, want) {
		t.Errorf("prune order:\n  %s\nwant:\n  %s", strings.Join(order, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestSQLHealthInResult: statements are reported by their own name (not
// the hashed object name), pools as pool/<name>.
func TestSQLHealthInResult(t *testing.T) {
	f := newSQLFixture(t)
	r := f.sync(sqlObjects("sql", f.env.Spec.Namespace, "DEDICATED"), Options{})
	mustOK(t, map[string]*Result{"sql": r})
	got := map[string]string{}
	for _, h := range r.Health {
		got[h.App] = h.Kind
	}
	want := map[string]string{"a-tables": HealthStatement, "b-load": HealthStatement, "pool/pool": HealthPool}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("health entries %v, want %v", got, want)
	}
}

func TestStatementAndPoolHealth(t *testing.T) {
	stmt := func(kind model.SQLKind, stopped bool, status map[string]any) *unstructured.Unstructured {
		o := cfkObj("e", "ns", "FlinkStatement", "s-0a1b2c", map[string]string{render.LabelSQLKind: string(kind)},
			map[string]any{"stopped": stopped})
		o.Object["status"] = status
		return o.Unstructured
	}
	pool := func(state string, status map[string]any) *unstructured.Unstructured {
		spec := map[string]any{"type": "SHARED"}
		if state != "" {
			spec["state"] = state
		}
		o := cfkObj("e", "ns", "FlinkComputePool", "p", nil, spec)
		o.Object["status"] = status
		return o.Unstructured
	}
	synced := map[string]any{"status": "Created", "errorMessage": "", "lastSyncTime": "t"}
	for _, tc := range []struct {
		name string
		obj  *unstructured.Unstructured
		want Health
		says string
	}{
		{"running DML", stmt(model.SQLDML, false, map[string]any{"phase": "RUNNING", "cmfSync": synced}), Healthy, "RUNNING"},
		{"pending", stmt(model.SQLDML, false, map[string]any{"phase": "PENDING"}), Progressing, "PENDING"},
		{"failed", stmt(model.SQLDML, false, map[string]any{"phase": "FAILED", "detail": "table t not found"}), Degraded, "table t not found"},
		{"failing", stmt(model.SQLDML, false, map[string]any{"phase": "FAILING"}), Degraded, "FAILING"},
		{"stopped on purpose", stmt(model.SQLDML, true, map[string]any{"phase": "STOPPED"}), Healthy, "STOPPED"},
		{"stopped, not on purpose", stmt(model.SQLDML, false, map[string]any{"phase": "STOPPED"}), Progressing, "spec.stopped is false"},
		{"stopping", stmt(model.SQLDML, true, map[string]any{"phase": "RUNNING"}), Progressing, "stopping"},
		{"completed DDL", stmt(model.SQLDDL, false, map[string]any{"phase": "COMPLETED"}), Healthy, "COMPLETED"},
		{"completed bounded DML", stmt(model.SQLDML, false, map[string]any{"phase": "COMPLETED", "traits": map[string]any{"isBounded": true}}), Healthy, "COMPLETED"},
		{"completed streaming DML", stmt(model.SQLDML, false, map[string]any{"phase": "COMPLETED", "traits": map[string]any{"isBounded": false}}), Degraded, "no longer runs"},
		{"CMF sync failed", stmt(model.SQLDML, false, map[string]any{"phase": "RUNNING",
			"cmfSync": map[string]any{"status": "Failed", "errorMessage": "compute pool not found", "lastSyncTime": "t"}}), Degraded, "compute pool not found"},
		{"no status", stmt(model.SQLDML, false, nil), Unknown, "no status"},
		{"dedicated pool", pool("", map[string]any{"phase": "DEDICATED"}), Healthy, "DEDICATED"},
		{"running pool", pool("RUNNING", map[string]any{"phase": "RUNNING", "cmfSync": synced}), Healthy, "RUNNING"},
		{"suspended pool, on purpose", pool("SUSPENDED", map[string]any{"phase": "SUSPENDED"}), Healthy, "SUSPENDED"},
		{"suspended pool, meant to run", pool("RUNNING", map[string]any{"phase": "SUSPENDED"}), Progressing, "SUSPENDED"},
		{"failed pool", pool("", map[string]any{"phase": "FAILED", "message": "image pull"}), Degraded, "image pull"},
		{"pool not synced", pool("", map[string]any{"phase": "PENDING", "cmfSync": map[string]any{"status": "Failed", "errorMessage": "401", "lastSyncTime": "t"}}), Degraded, "401"},
		{"pool without status", pool("", nil), Unknown, "no status"},
	} {
		h := HealthOf(tc.obj)
		if h.Health != tc.want || !strings.Contains(h.Message, tc.says) {
			t.Errorf("%s: %s %q, want %s saying %q", tc.name, h.Health, h.Message, tc.want, tc.says)
		}
	}
}

// TestReplaceWaitIsBounded: an old object held by a finalizer (an
// operator still deleting what it stands for) makes the replace fail after
// ReplaceTimeout, naming the finalizer, instead of hanging the pass; once
// the finalizer is lifted, the next pass creates the new object.
func TestReplaceWaitIsBounded(t *testing.T) {
	f := newSQLFixture(t)
	objs := sqlObjects("sql", f.env.Spec.Namespace, "DEDICATED")
	mustOK(t, map[string]*Result{"sql": f.sync(objs, Options{})})
	gvr := schema.GroupVersionResource{Group: "platform.confluent.io", Version: "v1beta1", Resource: "flinkcomputepools"}
	pools := f.dyn.Resource(gvr).Namespace(f.env.Spec.Namespace)
	ctx := context.Background()
	held := f.get("FlinkComputePool", "pool")
	held.SetFinalizers([]string{"platform.confluent.io/cmf-cleanup"})
	if _, err := pools.Update(ctx, held, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.syncer.ReplaceTimeout = time.Second
	objs = edited(objs, "FlinkComputePool", []string{"spec", "type"}, "SHARED")
	r := f.sync(objs, Options{})
	msg := ""
	for _, c := range r.Changes {
		if c.Kind == "FlinkComputePool" {
			msg = string(c.Action) + ": " + c.Message
		}
	}
	if !strings.HasPrefix(msg, "failed: ") || !strings.Contains(msg, "platform.confluent.io/cmf-cleanup") {
		t.Fatalf("the replace must fail naming the finalizer: %q", msg)
	}
	if r.Count(Pruned) != 0 || r.OK() {
		t.Errorf("a failed pass prunes nothing: %s", r.Summary())
	}
	held = f.get("FlinkComputePool", "pool")
	held.SetFinalizers(nil)
	if _, err := pools.Update(ctx, held, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	r = f.sync(objs, Options{})
	if !r.OK() || actions(r)["FlinkComputePool/pool"] != Created {
		t.Fatalf("the next pass must create the pool: %s %v", r.Summary(), actions(r))
	}
}
