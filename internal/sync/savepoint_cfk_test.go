package sync

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/testenv"
)

var flinkApplicationGVR = schema.GroupVersionResource{Group: "platform.confluent.io", Version: "v1beta1", Resource: "flinkapplications"}

// cfkAppFixture syncs a CFK environment with a FlinkApplication "orders"
// (upgradeMode mode) on the real CFK 3.3.0 CRDs, has CFK report its job
// RUNNING, and returns the environment alone: the objects of a pass that
// prunes the application.
func cfkAppFixture(t *testing.T, mode string) (*sqlFixture, []*render.Object) {
	t.Helper()
	f := newSQLFixture(t)
	testenv.UseRealCRDs(t, testenv.Config(t), testenv.RealCFKCRDs)
	ns := f.env.Spec.Namespace
	env := cfkObj("sql", ns, "FlinkEnvironment", "sql", nil, map[string]any{"kubernetesNamespace": ns, "cmfRestClassRef": map[string]any{"name": "cmf"}})
	app := cfkObj("sql", ns, "FlinkApplication", "orders", nil, map[string]any{
		"flinkEnvironment": "sql", "cmfRestClassRef": map[string]any{"name": "cmf"},
		"image": "registry.example.com/flink/orders:1.0", "flinkVersion": "v1_20",
		"jobManager":  map[string]any{"resource": map[string]any{"cpu": int64(1), "memory": "2048m"}},
		"taskManager": map[string]any{"resource": map[string]any{"cpu": int64(1), "memory": "2048m"}, "replicas": int64(2)},
		"job":         map[string]any{"jarURI": "local:///opt/flink/usrlib/orders.jar", "upgradeMode": mode, "state": "running", "parallelism": int64(2)}})
	if r := f.sync([]*render.Object{env, app}, Options{}); !r.OK() {
		t.Fatalf("%s %+v", r.Summary(), failed(r))
	}
	f.setAppStatus(nil)
	return f, []*render.Object{env}
}

// setAppStatus plays CFK: the application's job RUNNING, with savepointInfo
// and the last reconciled spec's trigger nonce when given.
func (f *sqlFixture) setAppStatus(info map[string]any, reconciled ...int64) {
	f.t.Helper()
	job := map[string]any{"state": "RUNNING", "jobId": "a1b2c3"}
	if info != nil {
		job["savepointInfo"] = info
	}
	status := map[string]any{"jobStatus": job, "lifecycleState": "STABLE"}
	if len(reconciled) > 0 {
		status["reconciliationStatus"] = map[string]any{"state": "DEPLOYED",
			"lastReconciledSpec": fmt.Sprintf(`{"spec":{"job":{"upgradeMode":"savepoint","savepointTriggerNonce":%d}},"resource_metadata":{"apiVersion":"flink.apache.org/v1beta1"}}`, reconciled[0])}
	}
	testenv.SetStatus(f.t, testenv.Config(f.t), flinkApplicationGVR, f.env.Spec.Namespace, "orders", status)
}

func (f *sqlFixture) app() *unstructured.Unstructured {
	f.t.Helper()
	u, err := f.dyn.Resource(flinkApplicationGVR).Namespace(f.env.Spec.Namespace).Get(context.Background(), "orders", metav1.GetOptions{})
	if err != nil {
		f.t.Fatalf("FlinkApplication orders: %v", err)
	}
	return u
}

func (f *sqlFixture) appExists() bool {
	_, err := f.dyn.Resource(flinkApplicationGVR).Namespace(f.env.Spec.Namespace).Get(context.Background(), "orders", metav1.GetOptions{})
	return err == nil
}

func nonceOf(u *unstructured.Unstructured) int64 {
	n, _, _ := unstructured.NestedInt64(u.Object, "spec", "job", "savepointTriggerNonce")
	return n
}

func TestPruneOfRunningFlinkApplicationWaitsForCFKSavepoint(t *testing.T) {
	f, keep := cfkAppFixture(t, "savepoint")
	ns := f.env.Spec.Namespace
	before := f.app()

	r := f.sync(keep, Options{})
	c := changeOf(t, r, "FlinkApplication", ns, "orders")
	if c.Action != Retained || !strings.Contains(c.Message, "waiting for savepoint savepointTriggerNonce") {
		t.Fatalf("a running stateful application waits for its savepoint: %+v", c)
	}
	after := f.app()
	nonce := nonceOf(after)
	if nonce == 0 || len(r.Savepoints) != 1 || r.Savepoints[0].Nonce != nonce {
		t.Fatalf("the pass must set spec.job.savepointTriggerNonce and report it: nonce %d, savepoints %+v", nonce, r.Savepoints)
	}
	// Only that field changed, and flinksync's update owns it.
	b, _, _ := unstructured.NestedMap(before.Object, "spec")
	a, _, _ := unstructured.NestedMap(after.Object, "spec")
	unstructured.RemoveNestedField(a, "job", "savepointTriggerNonce")
	if !reflect.DeepEqual(a, b) {
		t.Errorf("the trigger must change spec.job.savepointTriggerNonce alone:\nbefore %v\nafter  %v", b, a)
	}
	if !setByUs(after, "spec", "job", "savepointTriggerNonce") {
		t.Errorf("the nonce must be flinksync's (field manager %s, update): %+v", FieldManager, after.GetManagedFields())
	}

	// CFK triggered it: still waiting, the same nonce.
	f.setAppStatus(map[string]any{"triggerId": "trig-1", "triggerType": "MANUAL", "triggerTimestamp": time.Now().UnixMilli()}, nonce-1)
	r = f.sync(keep, Options{})
	if c := changeOf(t, r, "FlinkApplication", ns, "orders"); c.Action != Retained || !strings.Contains(c.Message, "(state IN_PROGRESS)") {
		t.Fatalf("want waiting: %+v", c)
	}
	if got := nonceOf(f.app()); got != nonce || !f.appExists() {
		t.Fatalf("nonce %d → %d; exists %v", nonce, got, f.appExists())
	}

	// An older savepoint (another nonce) is not the one asked for.
	path := "s3://acme/savepoints/savepoint-orders-1"
	older := map[string]any{"location": "s3://acme/savepoints/old", "triggerNonce": nonce - 1, "timeStamp": time.Now().UnixMilli(), "triggerType": "MANUAL", "formatType": "CANONICAL"}
	f.setAppStatus(map[string]any{"triggerId": "trig-1", "lastSavepoint": older, "savepointHistory": []any{older}}, nonce-1)
	if c := changeOf(t, f.sync(keep, Options{}), "FlinkApplication", ns, "orders"); c.Action != Retained {
		t.Fatalf("a savepoint of another nonce must not license the delete: %+v", c)
	}

	done := map[string]any{"location": path, "triggerNonce": nonce, "timeStamp": time.Now().UnixMilli(), "triggerType": "MANUAL", "formatType": "CANONICAL"}
	f.setAppStatus(map[string]any{"triggerId": "", "lastSavepoint": done, "savepointHistory": []any{older, done}}, nonce)
	r = f.sync(keep, Options{})
	c = changeOf(t, r, "FlinkApplication", ns, "orders")
	if c.Action != Pruned || !strings.Contains(c.Message, "restore with spec.job.initialSavepointPath: "+path) {
		t.Fatalf("after the savepoint the application is pruned with its path: %+v", c)
	}
	if !r.OK() || f.appExists() {
		t.Fatalf("%s; exists %v", r.Summary(), f.appExists())
	}
	if len(r.Savepoints) != 1 || r.Savepoints[0].Path != path || r.Savepoints[0].State != SnapshotCompleted {
		t.Errorf("result savepoints %+v", r.Savepoints)
	}
}

func TestPruneKeepsFlinkApplicationWhenCFKSavepointFails(t *testing.T) {
	f, keep := cfkAppFixture(t, "last-state")
	ns := f.env.Spec.Namespace
	f.sync(keep, Options{})
	nonce := nonceOf(f.app())
	if nonce == 0 {
		t.Fatal("no trigger nonce set")
	}
	// The operator gave up: the nonce handled, no trigger, no savepoint.
	f.setAppStatus(map[string]any{"triggerId": ""}, nonce)
	for pass := 0; pass < 2; pass++ {
		r := f.sync(keep, Options{})
		c := changeOf(t, r, "FlinkApplication", ns, "orders")
		if c.Action != Failed || !strings.Contains(c.Message, "FAILED") {
			t.Fatalf("pass %d: a failed savepoint must fail the prune: %+v", pass, c)
		}
		if r.OK() || len(r.Savepoints) != 1 || !r.Savepoints[0].Failed() {
			t.Fatalf("pass %d: the result must carry the failed savepoint (the daemon's SavepointFailed alert): %s %+v", pass, r.Summary(), r.Savepoints)
		}
		if !f.appExists() || nonceOf(f.app()) != nonce {
			t.Fatalf("pass %d: the application must stay, with the same nonce", pass)
		}
	}
	// An hour later prune asks again by itself.
	later := time.Now().Add(2 * time.Hour)
	f.syncer.Now = func() time.Time { return later }
	r := f.sync(keep, Options{})
	if c := changeOf(t, r, "FlinkApplication", ns, "orders"); c.Action != Retained || !strings.Contains(c.Message, "waiting for savepoint") {
		t.Fatalf("a failure older than %s is retried: %+v", SavepointFreshness, c)
	}
	if got := nonceOf(f.app()); got <= nonce {
		t.Fatalf("want a new nonce above %d, got %d", nonce, got)
	}
}

// TestPruneOfFlinkApplicationIgnoresAnOldSavepoint: a savepoint recorded
// for the live nonce long ago (set by hand, or by an earlier removal) is
// not taken for this one.
func TestPruneOfFlinkApplicationIgnoresAnOldSavepoint(t *testing.T) {
	f, keep := cfkAppFixture(t, "savepoint")
	ns := f.env.Spec.Namespace
	const old = int64(7)
	patch := []byte(fmt.Sprintf(`{"spec":{"job":{"savepointTriggerNonce":%d}}}`, old))
	if _, err := f.dyn.Resource(flinkApplicationGVR).Namespace(ns).Patch(context.Background(), "orders", types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl"}); err != nil {
		t.Fatal(err)
	}
	sp := map[string]any{"location": "s3://acme/savepoints/last-week", "triggerNonce": old, "timeStamp": time.Now().Add(-7 * 24 * time.Hour).UnixMilli(), "triggerType": "MANUAL"}
	f.setAppStatus(map[string]any{"lastSavepoint": sp, "savepointHistory": []any{sp}}, old)
	r := f.sync(keep, Options{})
	c := changeOf(t, r, "FlinkApplication", ns, "orders")
	if c.Action != Retained || !f.appExists() || nonceOf(f.app()) <= old {
		t.Fatalf("an old savepoint must not license the delete; want a new trigger: %+v, nonce %d", c, nonceOf(f.app()))
	}
	// A fresh one of a nonce set by hand would do.
	sp["timeStamp"] = time.Now().UnixMilli()
	sp["triggerNonce"] = nonceOf(f.app())
	f.setAppStatus(map[string]any{"lastSavepoint": sp}, nonceOf(f.app()))
	if c := changeOf(t, f.sync(keep, Options{}), "FlinkApplication", ns, "orders"); c.Action != Pruned {
		t.Fatalf("%+v", c)
	}
}

func TestDryRunPruneOfFlinkApplicationTriggersNothing(t *testing.T) {
	f, keep := cfkAppFixture(t, "savepoint")
	r := f.sync(keep, Options{Mode: ModeDryRun})
	if c := changeOf(t, r, "FlinkApplication", f.env.Spec.Namespace, "orders"); c.Action != Retained || !strings.Contains(c.Message, "would take savepoint") {
		t.Fatalf("%+v", c)
	}
	if nonceOf(f.app()) != 0 || !f.appExists() {
		t.Fatal("a dry run must set no nonce and delete nothing")
	}
}

func TestPruneOfStatelessFlinkApplicationIsImmediate(t *testing.T) {
	f, keep := cfkAppFixture(t, "stateless")
	r := f.sync(keep, Options{})
	if c := changeOf(t, r, "FlinkApplication", f.env.Spec.Namespace, "orders"); c.Action != Pruned || f.appExists() || len(r.Savepoints) != 0 {
		t.Fatalf("%+v, exists %v, savepoints %+v", c, f.appExists(), r.Savepoints)
	}
}
