package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/sync"
	"github.com/flinksync/flinksync/internal/testenv"
)

// The example's SQL pipeline: environment prod-eu (target cfk) with the
// catalog kafka (databases clickstream and orders), the DDL statement
// create-checkout-pageviews, and the streaming statements
// checkout-pageviews (inline SQL) and orders-attributed (from sql/), on
// the dedicated pool sql.
const sqlEnv = "prod-eu"

var sqlNamespaces atomic.Int64

// sqlRepo is a copy of examples/repo-layout whose namespaces are unique to
// one test, synced environment by environment (prod-eu only here).
type sqlRepo struct {
	t      *testing.T
	dir    string
	ns     string
	writes atomic.Int64
	syncer *sync.Syncer
	dyn    dynamic.Interface
}

func newSQLRepo(t *testing.T, cfg *rest.Config) *sqlRepo {
	t.Helper()
	suffix := fmt.Sprintf("-sql%d", sqlNamespaces.Add(1))
	r := &sqlRepo{t: t, dir: t.TempDir(), ns: "flink-" + sqlEnv + suffix}
	testenv.CopyTree(t, example, r.dir, testenv.UniqueNamespaces(t, cfg, suffix))
	s, err := sync.New(sync.CountWrites(cfg, &r.writes))
	if err != nil {
		t.Fatal(err)
	}
	r.syncer = s
	r.dyn, _ = dynamic.NewForConfig(cfg)
	return r
}

// apply runs the pipeline over the repository and syncs prod-eu.
func (r *sqlRepo) apply() *sync.Result {
	r.t.Helper()
	res, err := Run(os.DirFS(r.dir), Options{Revision: "rev", Now: fixedNow})
	if err != nil {
		r.t.Fatal(err)
	}
	if b := res.Blocked[sqlEnv]; len(b) > 0 {
		r.t.Fatalf("%s is blocked: %v", sqlEnv, b)
	}
	return r.syncer.Sync(context.Background(), res.Repo.Environment(sqlEnv), res.Rendered[sqlEnv], sync.Options{})
}

func (r *sqlRepo) mustApply() *sync.Result {
	r.t.Helper()
	res := r.apply()
	if !res.OK() {
		var bad []string
		for _, c := range res.Changes {
			if c.Action == sync.Failed || c.Action == sync.Conflict || c.Action == sync.Skipped {
				bad = append(bad, fmt.Sprintf("%s %s: %s", c.Action, c.ID(), c.Message))
			}
		}
		r.t.Fatalf("%s\nerrors: %v\n%s", res.Summary(), res.Errors, strings.Join(bad, "\n"))
	}
	return res
}

func (r *sqlRepo) edit(rel, from, to string) {
	r.t.Helper()
	p := filepath.Join(r.dir, rel)
	data, err := os.ReadFile(p)
	if err != nil {
		r.t.Fatal(err)
	}
	if !strings.Contains(string(data), from) {
		r.t.Fatalf("%s does not contain %q", rel, from)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(data), from, to, 1)), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *sqlRepo) remove(rel ...string) {
	r.t.Helper()
	for _, p := range rel {
		if err := os.Remove(filepath.Join(r.dir, p)); err != nil {
			r.t.Fatal(err)
		}
	}
}

// live lists the names of the objects of a CFK kind in the namespace.
func (r *sqlRepo) live(kind string) []*unstructured.Unstructured {
	r.t.Helper()
	gvr := schema.GroupVersionResource{Group: testenv.CFKGroup, Version: "v1beta1", Resource: strings.ToLower(kind) + "s"}
	list, err := r.dyn.Resource(gvr).Namespace(r.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		r.t.Fatalf("listing %s: %v", kind, err)
	}
	out := make([]*unstructured.Unstructured, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out
}

func names(us []*unstructured.Unstructured) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.GetName())
	}
	slices.Sort(out)
	return out
}

// statement is the live FlinkStatement of the statement called name; it
// fails the test unless there is exactly one.
func (r *sqlRepo) statement(name string) *unstructured.Unstructured {
	r.t.Helper()
	var found []*unstructured.Unstructured
	for _, u := range r.live("FlinkStatement") {
		if u.GetLabels()[render.LabelName] == name {
			found = append(found, u)
		}
	}
	if len(found) != 1 {
		r.t.Fatalf("want one live FlinkStatement of statement %s, got %v", name, names(found))
	}
	return found[0]
}

func count(res *sync.Result, a sync.Action, kind string) int {
	n := 0
	for _, c := range res.Changes {
		if c.Action == a && (kind == "" || c.Kind == kind) {
			n++
		}
	}
	return n
}

// TestSQLExampleOnTheProjectCRDs runs the SQL example's life on the
// project's CFK test CRDs, whose CEL rules refuse a new SQL text on a
// FlinkStatement and a new type on a FlinkComputePool as CFK does.
func TestSQLExampleOnTheProjectCRDs(t *testing.T) {
	sqlLifecycle(t, testenv.Config(t))
}

// TestSQLExampleOnTheRealCFKCRDs runs it on the real CFK 3.3.0 CRDs.
func TestSQLExampleOnTheRealCFKCRDs(t *testing.T) {
	cfg := testenv.Config(t)
	testenv.UseRealCRDs(t, cfg, testenv.RealCFKCRDs)
	sqlLifecycle(t, cfg)
}

// sqlLifecycle: the SQL example applies, every object lands; a second
// apply writes nothing; a new SQL text is a new statement, the old one
// pruned, without an immutable-field error; a new pool type replaces the
// pool; a removed statement is pruned; removing the catalog and every
// statement prunes in reverse apply order.
func sqlLifecycle(t *testing.T, cfg *rest.Config) {
	r := newSQLRepo(t, cfg)
	first := r.mustApply()
	wantKinds := map[string]int{"FlinkComputePool": 1, "FlinkStatement": 3, "FlinkKafkaCatalog": 1, "FlinkKafkaDatabase": 2,
		"FlinkSecret": 3, "FlinkEnvironmentSecretMapping": 3}
	for kind, n := range wantKinds {
		if got := count(first, sync.Created, kind); got != n {
			t.Errorf("first apply: %d %s created, want %d", got, kind, n)
		}
		if got := len(r.live(kind)); got != n {
			t.Errorf("%d %s live, want %d", got, kind, n)
		}
	}
	if got := names(r.live("FlinkKafkaDatabase")); !slices.Equal(got, []string{"clickstream", "orders"}) {
		t.Errorf("databases %v", got)
	}
	from := r.statement("orders-attributed")
	if sql, _, _ := unstructured.NestedString(from.Object, "spec", "statement"); !strings.Contains(sql, "INSERT INTO") {
		t.Errorf("the statement from sqlFile must carry its SQL: %q", sql)
	}

	r.writes.Store(0)
	second := r.mustApply()
	if n := second.Count(sync.Created) + second.Count(sync.Configured) + second.Count(sync.Replaced); n != 0 || r.writes.Load() != 0 {
		t.Errorf("a second apply must write nothing: %s, %d writes", second.Summary(), r.writes.Load())
	}

	// Health from CFK's status, under the statement's own name.
	running := r.statement("checkout-pageviews")
	running.Object["status"] = map[string]any{"phase": "RUNNING",
		"cmfSync": map[string]any{"status": "Created", "errorMessage": "", "lastSyncTime": "2026-11-21T00:00:00Z"}}
	gvr := schema.GroupVersionResource{Group: testenv.CFKGroup, Version: "v1beta1", Resource: "flinkstatements"}
	if _, err := r.dyn.Resource(gvr).Namespace(r.ns).UpdateStatus(context.Background(), running, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	health := map[string]sync.Health{}
	for _, h := range r.mustApply().Health {
		health[h.App] = h.Health
	}
	if health["checkout-pageviews"] != sync.Healthy || health["orders-attributed"] != sync.Unknown || health["pool/sql"] != sync.Unknown {
		t.Errorf("health %v", health)
	}

	// A new SQL text: a new FlinkStatement, the old one pruned.
	old := r.statement("checkout-pageviews")
	r.edit("statements/checkout-pageviews.yaml", "OR `page_id` = '/cart'", "OR `page_id` = '/basket'")
	res := r.mustApply()
	now := r.statement("checkout-pageviews")
	if sql, _, _ := unstructured.NestedString(now.Object, "spec", "statement"); now.GetName() == old.GetName() || !strings.Contains(sql, "/basket") {
		t.Errorf("the new statement must be live under a new name: %s (was %s): %q", now.GetName(), old.GetName(), sql)
	}
	if count(res, sync.Created, "FlinkStatement") != 1 || count(res, sync.Pruned, "FlinkStatement") != 1 || res.Count(sync.Failed) != 0 {
		t.Errorf("want one statement created and one pruned: %s", res.Summary())
	}

	// A new pool type: the pool is replaced.
	oldPool := r.live("FlinkComputePool")[0]
	r.edit("pools/sql.yaml", "type: dedicated", "type: shared")
	res = r.mustApply()
	if count(res, sync.Replaced, "FlinkComputePool") != 1 {
		t.Errorf("the pool must be replaced: %s", res.Summary())
	}
	pool := r.live("FlinkComputePool")[0]
	if typ, _, _ := unstructured.NestedString(pool.Object, "spec", "type"); typ != "SHARED" || pool.GetUID() == oldPool.GetUID() {
		t.Errorf("the pool must be a new SHARED one: %s", typ)
	}

	// A removed statement is pruned.
	r.remove("statements/orders-attributed.yaml")
	res = r.mustApply()
	if count(res, sync.Pruned, "FlinkStatement") != 1 || len(r.live("FlinkStatement")) != 2 {
		t.Errorf("the removed statement must be pruned: %s, live %v", res.Summary(), names(r.live("FlinkStatement")))
	}

	// The catalog and every statement removed: the statements go first
	// (the streaming one before the DDL), then the pool no statement uses,
	// the databases, the catalog, the mappings and the secrets.
	r.remove("catalogs/kafka.yaml", "statements/checkout-pageviews.yaml", "statements/create-checkout-pageviews.yaml")
	res = r.mustApply()
	var order []string
	for _, c := range res.Changes {
		if c.Action == sync.Pruned {
			if len(order) == 0 || order[len(order)-1] != c.Kind {
				order = append(order, c.Kind)
			}
		}
	}
	want := []string{"FlinkStatement", "FlinkComputePool", "FlinkKafkaDatabase", "FlinkKafkaCatalog", "FlinkEnvironmentSecretMapping", "FlinkSecret"}
	if !slices.Equal(order, want) {
		t.Errorf("prune order %v, want %v", order, want)
	}
	var stmts []string
	for _, c := range res.Changes {
		if c.Action == sync.Pruned && c.Kind == "FlinkStatement" {
			stmts = append(stmts, c.Name)
		}
	}
	if len(stmts) != 2 || !strings.HasPrefix(stmts[0], "checkout-pageviews-") {
		t.Errorf("the streaming statement goes before the DDL: %v", stmts)
	}
	for kind := range wantKinds {
		if got := names(r.live(kind)); len(got) != 0 {
			t.Errorf("%s left: %v", kind, got)
		}
	}
}
