package sync

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

var fdGVR = schema.GroupVersionResource{Group: "flink.apache.org", Version: "v1beta1", Resource: "flinkdeployments"}

var nsCounter atomic.Int64

// fixture is a copy of examples/repo-layout whose namespaces are unique to
// one test, with the namespaces created.
type fixture struct {
	t      *testing.T
	dir    string
	suffix string
	cfg    *rest.Config
	writes atomic.Int64
	syncer *Syncer
	dyn    dynamic.Interface
}

// newFixture copies the example; every test passes over all its environments.
func newFixture(t *testing.T, _ ...string) *fixture {
	t.Helper()
	cfg := testenv.Config(t)
	f := &fixture{t: t, dir: t.TempDir(), suffix: fmt.Sprintf("-t%d", nsCounter.Add(1)), cfg: cfg}
	testenv.CopyTree(t, "../../examples/repo-layout", f.dir, testenv.UniqueNamespaces(t, cfg, f.suffix))
	s, err := New(CountWrites(cfg, &f.writes))
	if err != nil {
		t.Fatal(err)
	}
	f.syncer = s
	f.dyn, _ = dynamic.NewForConfig(cfg)
	return f
}

func (f *fixture) ns(env string) string { return "flink-" + env + f.suffix }

func (f *fixture) remove(rel string) {
	if err := os.Remove(filepath.Join(f.dir, rel)); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) edit(rel, from, to string) {
	f.t.Helper()
	p := filepath.Join(f.dir, rel)
	data, err := os.ReadFile(p)
	if err != nil {
		f.t.Fatal(err)
	}
	if !strings.Contains(string(data), from) {
		f.t.Fatalf("%s does not contain %q", rel, from)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(data), from, to, 1)), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// pass runs the pipeline and syncs every environment.
func (f *fixture) pass(ctx context.Context, opts Options) map[string]*Result {
	f.t.Helper()
	res, err := pipeline.Run(os.DirFS(f.dir), pipeline.Options{Revision: "rev1", Now: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]*Result{}
	for _, env := range res.Repo.Environments {
		if env.Spec.Target == model.TargetCMF {
			continue // synced through CMF's API (internal/cmf/cmfsync), not a cluster
		}
		o := opts
		o.Blocked = res.Blocked[env.Metadata.Name]
		if o.Guard == nil {
			o.Guard = res.Guard(env.Metadata.Name) // as apply and the daemon do
		}
		out[env.Metadata.Name] = f.syncer.Sync(ctx, env, res.Rendered[env.Metadata.Name], o)
	}
	return out
}

func (f *fixture) fd(env, name string) *unstructured.Unstructured {
	f.t.Helper()
	u, err := f.dyn.Resource(fdGVR).Namespace(f.ns(env)).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatalf("FlinkDeployment %s/%s: %v", env, name, err)
	}
	return u
}

func mustOK(t *testing.T, results map[string]*Result) {
	t.Helper()
	for env, r := range results {
		if !r.OK() {
			t.Fatalf("%s: %s\nblocked: %v\nerrors: %v\nchanges: %+v", env, r.Summary(), r.Blocked, r.Errors, failed(r))
		}
	}
}

func failed(r *Result) []Change {
	var out []Change
	for _, c := range r.Changes {
		if c.Action == Failed || c.Action == Conflict {
			out = append(out, c)
		}
	}
	return out
}

func TestApplyCreatesEverythingThenNoOpMakesZeroWrites(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	first := f.pass(ctx, Options{})
	mustOK(t, first)
	total := 0
	for env, r := range first {
		if r.Count(Created) == 0 || r.Count(Created) != len(r.Changes) {
			t.Errorf("%s: first apply must create every object: %s", env, r.Summary())
		}
		total += r.Count(Created)
	}
	fd := f.fd("prod", "orders-enrich")
	if got, _, _ := unstructured.NestedInt64(fd.Object, "spec", "taskManager", "replicas"); got < 1 {
		t.Errorf("replicas %d", got)
	}
	if fd.GetLabels()[LabelApplySetPart] != ApplySetID(f.ns("prod")) {
		t.Errorf("members carry the ApplySet part-of label: %v", fd.GetLabels())
	}
	rv := fd.GetResourceVersion()

	f.writes.Store(0)
	second := f.pass(ctx, Options{})
	mustOK(t, second)
	for env, r := range second {
		if r.Count(Unchanged) != len(r.Changes) {
			t.Errorf("%s: second apply must change nothing: %s %+v", env, r.Summary(), r.Changes)
		}
	}
	if n := f.writes.Load(); n != 0 {
		t.Errorf("a no-op apply made %d write requests, want 0", n)
	}
	if got := f.fd("prod", "orders-enrich").GetResourceVersion(); got != rv {
		t.Errorf("resourceVersion moved on a no-op apply: %s → %s", rv, got)
	}
	t.Logf("%d objects created; re-apply: 0 writes", total)
}

func TestNewRevisionAloneDoesNotRewrite(t *testing.T) {
	f := newFixture(t, "dev")
	ctx := context.Background()
	mustOK(t, f.pass(ctx, Options{}))
	res, _ := pipeline.Run(os.DirFS(f.dir), pipeline.Options{Revision: "rev2"})
	f.writes.Store(0)
	r := f.syncer.Sync(ctx, res.Repo.Environment("dev"), res.Rendered["dev"], Options{})
	if !r.OK() || r.Count(Unchanged) != len(r.Changes) || f.writes.Load() != 0 {
		t.Fatalf("a commit that changes no object must write nothing: %s, %d writes", r.Summary(), f.writes.Load())
	}
}

func TestPruneRemovesExactlyTheRemovedApp(t *testing.T) {
	f := newFixture(t, "dev")
	ctx := context.Background()
	mustOK(t, f.pass(ctx, Options{}))
	ns := f.ns("dev")
	// An object with flinksync's labels that is not in the inventory, and a
	// foreign object: both must survive.
	for _, name := range []string{"labelled-stray", "foreign"} {
		obj := f.fd("dev", "inventory-sync").DeepCopy()
		obj.SetName(name)
		obj.SetResourceVersion("")
		obj.SetUID("")
		obj.SetManagedFields(nil)
		if name == "foreign" {
			obj.SetLabels(map[string]string{"team": "other"})
		}
		unstructured.RemoveNestedField(obj.Object, "status")
		if _, err := f.dyn.Resource(fdGVR).Namespace(ns).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	f.remove("apps/metrics-rollup.yaml")
	r := f.pass(ctx, Options{})["dev"]
	if !r.OK() || r.Count(Pruned) != 1 {
		t.Fatalf("want exactly one object pruned: %s %+v", r.Summary(), r.Changes)
	}
	for _, c := range r.Changes {
		if c.Action == Pruned && c.ID() != "FlinkDeployment/"+ns+"/metrics-rollup" {
			t.Errorf("pruned the wrong object %s", c.ID())
		}
	}
	if _, err := f.dyn.Resource(fdGVR).Namespace(ns).Get(ctx, "metrics-rollup", metav1.GetOptions{}); err == nil {
		t.Errorf("metrics-rollup still exists")
	}
	for _, name := range []string{"labelled-stray", "foreign", "orders-enrich"} {
		if _, err := f.dyn.Resource(fdGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("%s must not be pruned: %v", name, err)
		}
	}
	inv, _ := f.syncer.readInventory(ctx, ns)
	for _, e := range inv {
		if e.Name == "metrics-rollup" {
			t.Errorf("the inventory still lists the pruned object")
		}
	}
}

func TestEmptyRenderPrunesNothingWithoutAllowEmpty(t *testing.T) {
	f := newFixture(t, "dev")
	ctx := context.Background()
	mustOK(t, f.pass(ctx, Options{}))
	res, _ := pipeline.Run(os.DirFS(f.dir), pipeline.Options{})
	env := res.Repo.Environment("dev")
	empty := *res.Rendered["dev"]
	empty.Objects = nil
	r := f.syncer.Sync(ctx, env, &empty, Options{})
	if r.Count(Pruned) != 0 || r.Count(Retained) == 0 {
		t.Fatalf("an empty render must prune nothing: %s", r.Summary())
	}
	f.fd("dev", "orders-enrich")
	r = f.syncer.Sync(ctx, env, &empty, Options{AllowEmpty: true})
	if r.Count(Pruned) == 0 {
		t.Fatalf("with --allow-empty it prunes: %s", r.Summary())
	}
}

func TestInvalidEnvironmentIsNotTouchedWhileItsNeighbourIs(t *testing.T) {
	f := newFixture(t, "dev", "staging")
	ctx := context.Background()
	mustOK(t, f.pass(ctx, Options{}))
	before := f.fd("dev", "orders-enrich").GetResourceVersion()
	// A policy error in dev only (an inline password), and a real change in staging.
	f.edit("apps/orders-enrich.yaml", "    dev:\n", "    dev:\n      flinkConfiguration: {s3.secret-key: hunter2}\n")
	f.edit("apps/inventory-sync.yaml", "recordsPerSecond: 2000", "recordsPerSecond: 90000")
	r := f.pass(ctx, Options{})
	if len(r["dev"].Blocked) == 0 || len(r["dev"].Changes) != 0 {
		t.Fatalf("dev must be blocked and untouched: %s %v", r["dev"].Summary(), r["dev"].Changes)
	}
	if !strings.Contains(strings.Join(r["dev"].Blocked, "\n"), "TLS-003") {
		t.Errorf("dev's block must name the policy finding: %v", r["dev"].Blocked)
	}
	if got := f.fd("dev", "orders-enrich").GetResourceVersion(); got != before {
		t.Errorf("dev was changed")
	}
	if !r["staging"].OK() || r["staging"].Count(Configured) == 0 {
		t.Errorf("staging must be applied: %s", r["staging"].Summary())
	}

	// A load error in an app of dev only blocks dev as well.
	f.edit("apps/payments-ledger.yaml", "upgradeMode: savepoint", "upgradeMode: sometimes")
	r = f.pass(ctx, Options{})
	if len(r["dev"].Blocked) == 0 || !r["staging"].OK() && len(r["staging"].Blocked) == 0 {
		t.Errorf("a load error in an app blocks its environments: dev %s, staging %s", r["dev"].Summary(), r["staging"].Summary())
	}
}

func TestCancelHalfwayThenConverges(t *testing.T) {
	f := newFixture(t, "staging")
	ctx := context.Background()
	res, _ := pipeline.Run(os.DirFS(f.dir), pipeline.Options{})
	env, out := res.Repo.Environment("staging"), res.Rendered["staging"]
	// Cancel after a few writes.
	cctx, cancel := context.WithCancel(ctx)
	var n atomic.Int64
	counting := CountWrites(f.cfg, &n)
	counting.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if n.Load() >= 4 {
				cancel()
			}
			return rt.RoundTrip(req)
		})
	})
	s, _ := New(counting)
	s.Workers = 1
	r := s.Sync(cctx, env, out, Options{})
	if r.OK() {
		t.Fatalf("the cancelled pass must report the interruption: %s", r.Summary())
	}
	inv, err := f.syncer.readInventory(ctx, f.ns("staging"))
	if err != nil || len(inv) != len(out.Objects) {
		t.Fatalf("the inventory must list every object before any is applied: %d of %d (%v)", len(inv), len(out.Objects), err)
	}
	r = f.syncer.Sync(ctx, env, out, Options{})
	if !r.OK() || r.Count(Created)+r.Count(Configured)+r.Count(Unchanged) != len(out.Objects) {
		t.Fatalf("the next pass must converge: %s", r.Summary())
	}
	r = f.syncer.Sync(ctx, env, out, Options{})
	if r.Count(Unchanged) != len(out.Objects) {
		t.Fatalf("and then be a no-op: %s", r.Summary())
	}
}

func TestDriftWarnAndCorrect(t *testing.T) {
	f := newFixture(t, "dev", "staging") // dev: drift warn; staging: correct
	ctx := context.Background()
	mustOK(t, f.pass(ctx, Options{}))
	for _, env := range []string{"dev", "staging"} {
		patch := []byte(`{"spec":{"taskManager":{"replicas":17}}}`)
		if _, err := f.dyn.Resource(fdGVR).Namespace(f.ns(env)).Patch(ctx, "orders-enrich", types.MergePatchType, patch,
			metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
			t.Fatal(err)
		}
	}
	res, _ := pipeline.Run(os.DirFS(f.dir), pipeline.Options{})
	for _, env := range []string{"dev", "staging"} {
		obs := f.syncer.Sync(ctx, res.Repo.Environment(env), res.Rendered[env], Options{Mode: ModeObserve})
		found := false
		for _, d := range obs.Drift {
			if d.Name == "orders-enrich" && d.Field == "spec.taskManager.replicas" && d.Live == "17" {
				found = true
			}
		}
		if !found || len(obs.Drift) != 1 {
			t.Errorf("%s: drift must name spec.taskManager.replicas: %+v", env, obs.Drift)
		}
	}
	r := f.pass(ctx, Options{})
	if got, _, _ := unstructured.NestedInt64(f.fd("dev", "orders-enrich").Object, "spec", "taskManager", "replicas"); got != 17 {
		t.Errorf("warn mode must leave the live edit, got %d", got)
	}
	if r["dev"].Count(Drifted) != 1 || len(r["dev"].Drift) != 1 {
		t.Errorf("warn mode reports the drift: %s", r["dev"].Summary())
	}
	if got, _, _ := unstructured.NestedInt64(f.fd("staging", "orders-enrich").Object, "spec", "taskManager", "replicas"); got == 17 {
		t.Errorf("correct mode must restore replicas")
	}
	obs := f.syncer.Sync(ctx, res.Repo.Environment("staging"), res.Rendered["staging"], Options{Mode: ModeObserve})
	if len(obs.Drift) != 0 {
		t.Errorf("after correction there is no drift: %+v", obs.Drift)
	}
}

func TestConflictReportedAndForced(t *testing.T) {
	f := newFixture(t, "dev")
	ctx := context.Background()
	mustOK(t, f.pass(ctx, Options{}))
	// Another manager takes spec.image with its own apply.
	other := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkDeployment",
		"metadata": map[string]any{"name": "orders-enrich", "namespace": f.ns("dev")},
		"spec":     map[string]any{"image": "someone/else:1"},
	}}
	if _, err := f.dyn.Resource(fdGVR).Namespace(f.ns("dev")).Apply(ctx, "orders-enrich", other, metav1.ApplyOptions{FieldManager: "other-tool", Force: true}); err != nil {
		t.Fatal(err)
	}
	f.edit("apps/orders-enrich.yaml", "orders-enrich:1.4.2", "orders-enrich:1.4.3")
	r := f.pass(ctx, Options{})["dev"]
	if r.Count(Conflict) != 1 {
		t.Fatalf("want one conflict: %s %+v", r.Summary(), r.Changes)
	}
	for _, c := range r.Changes {
		if c.Action == Conflict && (!strings.Contains(c.Message, "other-tool") || !strings.Contains(c.Message, "sync.force")) {
			t.Errorf("a conflict must name the other manager and the way out: %q", c.Message)
		}
	}
	f.edit("environments/dev.yaml", "    drift: warn\n", "    drift: warn\n    force: true\n")
	r = f.pass(ctx, Options{})["dev"]
	if !r.OK() {
		t.Fatalf("force must take the field over: %s %+v", r.Summary(), failed(r))
	}
	if img, _, _ := unstructured.NestedString(f.fd("dev", "orders-enrich").Object, "spec", "image"); img != "registry.example.com/flink/orders-enrich:1.4.3" {
		t.Errorf("image %q", img)
	}
}

func TestMissingNamespaceFailsOnlyThatEnvironment(t *testing.T) {
	f := newFixture(t, "dev", "staging")
	f.edit("environments/dev.yaml", "namespace: flink-dev"+f.suffix, "namespace: nowhere"+f.suffix)
	r := f.pass(context.Background(), Options{})
	if len(r["dev"].Errors) != 1 || !strings.Contains(r["dev"].Errors[0], "does not exist") {
		t.Errorf("dev: want a clear missing-namespace error: %v", r["dev"].Errors)
	}
	if !r["staging"].OK() {
		t.Errorf("staging must be applied: %s", r["staging"].Summary())
	}
}

func TestHealthFromOperatorStatus(t *testing.T) {
	f := newFixture(t, "dev")
	ctx := context.Background()
	mustOK(t, f.pass(ctx, Options{}))
	set := func(name string, status map[string]any) {
		u := f.fd("dev", name)
		u.Object["status"] = status
		if _, err := f.dyn.Resource(fdGVR).Namespace(f.ns("dev")).UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	set("orders-enrich", map[string]any{"lifecycleState": "STABLE", "jobManagerDeploymentStatus": "READY", "jobStatus": map[string]any{"state": "RUNNING"}})
	set("payments-ledger", map[string]any{"lifecycleState": "FAILED", "error": "OOMKilled", "jobStatus": map[string]any{"state": "FAILED"}})
	set("metrics-rollup", map[string]any{"lifecycleState": "DEPLOYED", "jobManagerDeploymentStatus": "DEPLOYING"})
	r := f.pass(ctx, Options{})["dev"]
	got := map[string]Health{}
	for _, h := range r.Health {
		got[h.App] = h.Health
	}
	want := map[string]Health{"orders-enrich": Healthy, "payments-ledger": Degraded, "metrics-rollup": Progressing, "inventory-sync": Unknown}
	for app, h := range want {
		if got[app] != h {
			t.Errorf("%s: health %s, want %s", app, got[app], h)
		}
	}
}
func TestCertificateExpiryIsReported(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := f.pass(ctx, Options{})["prod"]
	if len(r.Findings) != 1 || r.Findings[0].Rule != "TLS-007" || !strings.Contains(r.Findings[0].Message, "does not exist") {
		t.Fatalf("a missing TLS secret must be reported: %+v", r.Findings)
	}
	crt := selfSignedPEM(t, time.Now().Add(10*24*time.Hour))
	secret := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
		"metadata": map[string]any{"name": "flink-prod-tls", "namespace": f.ns("prod")},
		"data":     map[string]any{"tls.crt": base64.StdEncoding.EncodeToString(crt), "tls.key": base64.StdEncoding.EncodeToString([]byte("k"))},
	}}
	if _, err := f.dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}).Namespace(f.ns("prod")).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r = f.pass(ctx, Options{})["prod"]
	if len(r.Findings) != 1 || !strings.Contains(r.Findings[0].Message, "expires on") || r.Findings[0].File != "environments/prod.yaml" {
		t.Fatalf("a certificate expiring in 10 days must be reported at the environment's file: %+v", r.Findings)
	}
	if got := f.pass(ctx, Options{})["dev"]; len(got.Findings) != 0 {
		t.Errorf("dev has no TLS: %+v", got.Findings)
	}
}

func selfSignedPEM(t *testing.T, notAfter time.Time) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "flink"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// userWith provisions a user of the control plane (name plus the
// fixture's suffix) bound to a ClusterRole of rules, and returns its
// client config: the API server authorizes it by RBAC.
func (f *fixture) userWith(name string, rules ...rbacv1.PolicyRule) *rest.Config {
	f.t.Helper()
	name += f.suffix
	ctx := context.Background()
	kc := kubernetes.NewForConfigOrDie(f.cfg)
	if _, err := kc.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules},
		metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	if _, err := kc.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}}}, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	return testenv.UserConfig(f.t, name)
}
