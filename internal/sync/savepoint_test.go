package sync

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/testenv"
)

// savepointFixture applies the example to dev on the real FKO 1.15 CRDs
// (FlinkStateSnapshot among them), has the operator report app's job
// RUNNING, and removes app from Git.
func savepointFixture(t *testing.T, app string) (*fixture, context.Context) {
	t.Helper()
	f := newFixture(t, "dev")
	testenv.UseRealFKOCRDs(t, f.cfg)
	ctx := context.Background()
	mustOK(t, f.pass(ctx, Options{}))
	testenv.SetStatus(t, f.cfg, fdGVR, f.ns("dev"), app, map[string]any{
		"lifecycleState": "STABLE", "jobManagerDeploymentStatus": "READY", "jobStatus": map[string]any{"state": "RUNNING"}})
	f.remove("apps/" + app + ".yaml")
	return f, ctx
}

func (f *fixture) snapshots() []unstructured.Unstructured {
	f.t.Helper()
	l, err := f.dyn.Resource(testenv.FlinkStateSnapshotGVR).Namespace(f.ns("dev")).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return l.Items
}

func (f *fixture) exists(name string) bool {
	_, err := f.dyn.Resource(fdGVR).Namespace(f.ns("dev")).Get(context.Background(), name, metav1.GetOptions{})
	return err == nil
}

func TestPruneOfRunningStatefulJobWaitsForCompletedSavepoint(t *testing.T) {
	f, ctx := savepointFixture(t, "metrics-rollup")
	r := f.pass(ctx, Options{})["dev"]
	c := changeOf(t, r, "FlinkDeployment", f.ns("dev"), "metrics-rollup")
	if c.Action != Retained || !strings.Contains(c.Message, "waiting for savepoint metrics-rollup-prune-") {
		t.Fatalf("a running stateful job must be retained until its savepoint completes: %+v", c)
	}
	if !f.exists("metrics-rollup") {
		t.Fatal("the FlinkDeployment was deleted before any savepoint")
	}
	snaps := f.snapshots()
	if len(snaps) != 1 {
		t.Fatalf("want one FlinkStateSnapshot, got %d", len(snaps))
	}
	snap := snaps[0]
	if ref, _, _ := unstructured.NestedString(snap.Object, "spec", "jobReference", "name"); ref != "metrics-rollup" {
		t.Errorf("jobReference.name %q", ref)
	}
	if keep, found, _ := unstructured.NestedBool(snap.Object, "spec", "savepoint", "disposeOnDelete"); !found || keep {
		t.Errorf("the savepoint must survive the snapshot object: disposeOnDelete %v (set %v)", keep, found)
	}
	if len(snap.GetOwnerReferences()) != 0 {
		t.Errorf("the snapshot must not be garbage-collected with the job: %v", snap.GetOwnerReferences())
	}
	if len(r.Savepoints) != 1 || r.Savepoints[0].Snapshot != snap.GetName() {
		t.Errorf("result savepoints %+v", r.Savepoints)
	}

	// The operator is at it: still waiting, no second snapshot.
	testenv.SetStatus(t, f.cfg, testenv.FlinkStateSnapshotGVR, f.ns("dev"), snap.GetName(), map[string]any{"state": "IN_PROGRESS"})
	r = f.pass(ctx, Options{})["dev"]
	if c := changeOf(t, r, "FlinkDeployment", f.ns("dev"), "metrics-rollup"); c.Action != Retained || !strings.Contains(c.Message, "waiting for savepoint "+snap.GetName()+" (state IN_PROGRESS)") {
		t.Fatalf("want waiting: %+v", c)
	}
	if n := len(f.snapshots()); n != 1 || !f.exists("metrics-rollup") {
		t.Fatalf("%d snapshots, job exists %v", n, f.exists("metrics-rollup"))
	}

	path := "s3://acme-flink-dev/savepoints/savepoint-7f3a"
	testenv.SetStatus(t, f.cfg, testenv.FlinkStateSnapshotGVR, f.ns("dev"), snap.GetName(), map[string]any{"state": "COMPLETED", "path": path})
	r = f.pass(ctx, Options{})["dev"]
	c = changeOf(t, r, "FlinkDeployment", f.ns("dev"), "metrics-rollup")
	if c.Action != Pruned || !strings.Contains(c.Message, path) || !strings.Contains(c.Message, "initialSavepointPath") {
		t.Fatalf("after a COMPLETED savepoint the job is pruned and the path reported: %+v", c)
	}
	if !r.OK() || f.exists("metrics-rollup") {
		t.Fatalf("%s; job exists %v", r.Summary(), f.exists("metrics-rollup"))
	}
	if len(r.Savepoints) != 1 || r.Savepoints[0].Path != path {
		t.Errorf("result savepoints %+v", r.Savepoints)
	}
	if len(f.snapshots()) != 1 {
		t.Error("the snapshot (and its savepoint) must outlive the job")
	}
	inv, _ := f.syncer.readInventory(ctx, f.ns("dev"))
	for _, e := range inv {
		if e.Name == "metrics-rollup" {
			t.Error("the inventory still lists the pruned job")
		}
	}
}

func TestPruneKeepsJobWhenSavepointFails(t *testing.T) {
	f, ctx := savepointFixture(t, "metrics-rollup")
	f.pass(ctx, Options{})
	snaps := f.snapshots()
	if len(snaps) != 1 {
		t.Fatalf("want one FlinkStateSnapshot, got %d", len(snaps))
	}
	testenv.SetStatus(t, f.cfg, testenv.FlinkStateSnapshotGVR, f.ns("dev"), snaps[0].GetName(), map[string]any{"state": "FAILED", "error": "checkpoint storage unreachable"})
	for pass := 0; pass < 2; pass++ {
		r := f.pass(ctx, Options{})["dev"]
		c := changeOf(t, r, "FlinkDeployment", f.ns("dev"), "metrics-rollup")
		if c.Action != Failed || !strings.Contains(c.Message, "FAILED (checkpoint storage unreachable)") {
			t.Fatalf("pass %d: a failed savepoint must fail the prune: %+v", pass, c)
		}
		if r.OK() || len(r.Savepoints) != 1 || !r.Savepoints[0].Failed() {
			t.Fatalf("pass %d: the result must carry the failed savepoint: %s %+v", pass, r.Summary(), r.Savepoints)
		}
		if !f.exists("metrics-rollup") {
			t.Fatalf("pass %d: the job was deleted although its savepoint failed", pass)
		}
	}
	inv, _ := f.syncer.readInventory(ctx, f.ns("dev"))
	if _, ok := inv[Entry{ObjectID: IDOf(f.fd("dev", "metrics-rollup"))}.Key()]; !ok {
		t.Error("the inventory must go on listing the kept job")
	}
}

func TestPruneOfStatelessJobIsImmediate(t *testing.T) {
	f, ctx := savepointFixture(t, "clickstream-filter")
	r := f.pass(ctx, Options{})["dev"]
	if c := changeOf(t, r, "FlinkDeployment", f.ns("dev"), "clickstream-filter"); c.Action != Pruned || !r.OK() {
		t.Fatalf("a stateless job is pruned at once: %s %+v", r.Summary(), c)
	}
	if f.exists("clickstream-filter") || len(f.snapshots()) != 0 || len(r.Savepoints) != 0 {
		t.Fatalf("job exists %v, %d snapshots, savepoints %+v", f.exists("clickstream-filter"), len(f.snapshots()), r.Savepoints)
	}
}

func TestDryRunPruneTakesNoSavepoint(t *testing.T) {
	f, ctx := savepointFixture(t, "metrics-rollup")
	r := f.pass(ctx, Options{Mode: ModeDryRun})["dev"]
	if c := changeOf(t, r, "FlinkDeployment", f.ns("dev"), "metrics-rollup"); c.Action != Retained || !strings.Contains(c.Message, "would take savepoint") {
		t.Fatalf("%+v", c)
	}
	if len(f.snapshots()) != 0 || !f.exists("metrics-rollup") {
		t.Fatal("a dry run must create and delete nothing")
	}
}

func TestNeedsSavepoint(t *testing.T) {
	fd := func(mode, state, running string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkDeployment",
			"spec": map[string]any{"job": map[string]any{"upgradeMode": mode, "state": state}}}}
		if running != "" {
			u.Object["status"] = map[string]any{"jobStatus": map[string]any{"state": running}}
		}
		return u
	}
	job := func(apiVersion, kind string) *unstructured.Unstructured {
		u := fd("savepoint", "running", "RUNNING")
		u.SetAPIVersion(apiVersion)
		u.SetKind(kind)
		return u
	}
	for _, c := range []struct {
		name string
		u    *unstructured.Unstructured
		want bool
	}{
		{"savepoint, running", fd("savepoint", "running", "RUNNING"), true},
		{"last-state, state unset", fd("last-state", "", "RUNNING"), true},
		{"stateless", fd("stateless", "running", "RUNNING"), false},
		{"suspended", fd("savepoint", "suspended", "RUNNING"), false},
		{"not running yet", fd("savepoint", "running", "CREATED"), false},
		{"no status", fd("savepoint", "running", ""), false},
		{"session job", job("flink.apache.org/v1beta1", "FlinkSessionJob"), true},
		{"CFK application", job("platform.confluent.io/v1beta1", "FlinkApplication"), true},
		{"FKO group, CFK kind", job("flink.apache.org/v1beta1", "FlinkApplication"), false},
		{"a statement", job("platform.confluent.io/v1beta1", "FlinkStatement"), false},
	} {
		if _, got := needsSavepoint(c.u); got != c.want {
			t.Errorf("%s: needsSavepoint %v, want %v", c.name, got, c.want)
		}
	}
}

func TestSnapshotNameIsPerObjectAndValid(t *testing.T) {
	u := &unstructured.Unstructured{}
	u.SetName("orders")
	u.SetUID("1a2b3c4d-5e6f-4a0b-8c9d-0e1f2a3b4c5d")
	if got := snapshotName(u, 1); got != "orders-prune-1a2b3c4d" {
		t.Errorf("snapshotName %q", got)
	}
	if got := snapshotName(u, 2); got != "orders-prune-1a2b3c4d-2" {
		t.Errorf("the next of the series: %q", got)
	}
	u.SetName(strings.Repeat("a", 250))
	if got := snapshotName(u, maxSnapshots); len(got) > 253 || !strings.HasSuffix(got, "-prune-1a2b3c4d-99") {
		t.Errorf("a long name must stay a valid object name: %d chars", len(got))
	}
}

func TestPruneTrustsNoForeignSnapshotOfTheSameName(t *testing.T) {
	f, ctx := savepointFixture(t, "metrics-rollup")
	name := snapshotName(f.fd("dev", "metrics-rollup"), 1)
	forged := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkStateSnapshot",
		"metadata": map[string]any{"name": name, "labels": map[string]any{LabelSavepointOf: "metrics-rollup"}},
		"spec":     map[string]any{"jobReference": map[string]any{"kind": "FlinkDeployment", "name": "other"}, "savepoint": map[string]any{}}}}
	if _, err := f.dyn.Resource(testenv.FlinkStateSnapshotGVR).Namespace(f.ns("dev")).Create(ctx, forged, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testenv.SetStatus(t, f.cfg, testenv.FlinkStateSnapshotGVR, f.ns("dev"), name, map[string]any{"state": "COMPLETED", "path": "s3://elsewhere/sp"})
	r := f.pass(ctx, Options{})["dev"]
	if c := changeOf(t, r, "FlinkDeployment", f.ns("dev"), "metrics-rollup"); c.Action != Retained || !strings.Contains(c.Message, "not the savepoint flinksync took") {
		t.Fatalf("%+v", c)
	}
	if !f.exists("metrics-rollup") {
		t.Fatal("a snapshot flinksync did not make must not license the delete")
	}
}

// TestPruneTakesANewSavepointWhenTheLastIsStale: a job removed from Git,
// its savepoint completed, added back before the delete and removed again
// later is deleted only after a new savepoint, not the old one.
func TestPruneTakesANewSavepointWhenTheLastIsStale(t *testing.T) {
	f, ctx := savepointFixture(t, "metrics-rollup")
	app := filepath.Join(f.dir, "apps", "metrics-rollup.yaml")
	data, err := os.ReadFile("../../examples/repo-layout/apps/metrics-rollup.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f.pass(ctx, Options{})
	first := snapshotName(f.fd("dev", "metrics-rollup"), 1)
	old := "s3://acme-flink-dev/savepoints/savepoint-old"
	testenv.SetStatus(t, f.cfg, testenv.FlinkStateSnapshotGVR, f.ns("dev"), first, map[string]any{"state": "COMPLETED", "path": old})

	// Added back before the delete: kept and applied, the snapshot stays.
	if err := os.WriteFile(app, data, 0o644); err != nil {
		t.Fatal(err)
	}
	mustOK(t, f.pass(ctx, Options{}))
	f.remove("apps/metrics-rollup.yaml")

	// Removed again two hours later: the old savepoint is stale.
	later := time.Now().Add(2 * time.Hour)
	f.syncer.Now = func() time.Time { return later }
	r := f.pass(ctx, Options{})["dev"]
	c := changeOf(t, r, "FlinkDeployment", f.ns("dev"), "metrics-rollup")
	second := snapshotName(f.fd("dev", "metrics-rollup"), 2)
	if c.Action != Retained || !strings.Contains(c.Message, "waiting for savepoint "+second) || !strings.Contains(c.Message, "earlier removal") {
		t.Fatalf("a stale savepoint must not license the delete; want a new one: %+v", c)
	}
	if !f.exists("metrics-rollup") || len(f.snapshots()) != 2 {
		t.Fatalf("job exists %v, %d snapshots", f.exists("metrics-rollup"), len(f.snapshots()))
	}

	path := "s3://acme-flink-dev/savepoints/savepoint-new"
	testenv.SetStatus(t, f.cfg, testenv.FlinkStateSnapshotGVR, f.ns("dev"), second, map[string]any{
		"state": "COMPLETED", "path": path, "resultTimestamp": later.UTC().Format(time.RFC3339)})
	r = f.pass(ctx, Options{})["dev"]
	c = changeOf(t, r, "FlinkDeployment", f.ns("dev"), "metrics-rollup")
	if c.Action != Pruned || !strings.Contains(c.Message, path) || strings.Contains(c.Message, old) {
		t.Fatalf("pruned after the new savepoint, with its path: %+v", c)
	}
}

func TestSnapshotFreshness(t *testing.T) {
	s := &Syncer{Now: func() time.Time { return time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC) }}
	snap := func(created time.Time, result string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{}}
		u.SetCreationTimestamp(metav1.NewTime(created))
		if result != "" {
			u.Object["status"] = map[string]any{"resultTimestamp": result}
		}
		return u
	}
	for _, c := range []struct {
		name  string
		u     *unstructured.Unstructured
		stale bool
	}{
		{"finished a minute ago", snap(time.Date(2026, 11, 30, 11, 0, 0, 0, time.UTC), "2026-11-30T11:59:00Z"), false},
		{"finished two hours ago", snap(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC), "2026-11-30T10:00:00Z"), true},
		{"slow: asked long ago, finished now", snap(time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC), "2026-11-30T11:58:30.5Z"), false},
		{"no result time: created two hours ago", snap(time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC), ""), true},
		{"unparsable result time: created now", snap(time.Date(2026, 11, 30, 11, 59, 0, 0, time.UTC), "yesterday"), false},
	} {
		if got := s.stale(snapshotDone(c.u)); got != c.stale {
			t.Errorf("%s: stale %v, want %v", c.name, got, c.stale)
		}
	}
}

// TestPruneRelyingOnSavepointOnDeletion: without FlinkStateSnapshot (FKO
// before 1.10), a running stateful job is kept, unless its own
// configuration has FKO take a savepoint as it is deleted.
func TestPruneRelyingOnSavepointOnDeletion(t *testing.T) {
	f := newFixture(t, "dev")
	testenv.UseRealCRDs(t, f.cfg, testenv.RealFKOCRDs) // no FlinkStateSnapshot
	ctx := context.Background()
	mustOK(t, f.pass(ctx, Options{}))
	for _, app := range []string{"metrics-rollup", "orders-enrich"} {
		testenv.SetStatus(t, f.cfg, fdGVR, f.ns("dev"), app, map[string]any{
			"lifecycleState": "STABLE", "jobManagerDeploymentStatus": "READY", "jobStatus": map[string]any{"state": "RUNNING"}})
		f.remove("apps/" + app + ".yaml")
	}
	if mode, _, _ := unstructured.NestedString(f.fd("dev", "orders-enrich").Object, "spec", "job", "upgradeMode"); mode == "stateless" {
		t.Fatalf("orders-enrich must be stateful for this test: %s", mode)
	}
	patch := []byte(`{"spec":{"flinkConfiguration":{"` + SavepointOnDeletion + `":"true"}}}`)
	if _, err := f.dyn.Resource(fdGVR).Namespace(f.ns("dev")).Patch(ctx, "metrics-rollup", types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl"}); err != nil {
		t.Fatal(err)
	}
	r := f.pass(ctx, Options{})["dev"]
	c := changeOf(t, r, "FlinkDeployment", f.ns("dev"), "metrics-rollup")
	if c.Action != Pruned || !strings.Contains(c.Message, "FKO takes a savepoint as it deletes the job") || f.exists("metrics-rollup") {
		t.Fatalf("with savepoint-on-deletion the job may go, saying so: %+v (exists %v)", c, f.exists("metrics-rollup"))
	}
	c = changeOf(t, r, "FlinkDeployment", f.ns("dev"), "orders-enrich")
	if c.Action != Retained || !strings.Contains(c.Message, "does not serve FlinkStateSnapshot") || !f.exists("orders-enrich") {
		t.Fatalf("without it the job stays: %+v", c)
	}
}

// TestPruneOfFlinkSessionJobTakesSnapshot: a session job (flinksync does
// not render one, but an inventory may hold one) gets the same savepoint,
// its FlinkStateSnapshot referring to kind FlinkSessionJob.
func TestPruneOfFlinkSessionJobTakesSnapshot(t *testing.T) {
	f := newSQLFixture(t)
	f.env.Spec.Target = model.TargetFKO
	testenv.UseRealFKOCRDs(t, testenv.Config(t))
	ns := f.env.Spec.Namespace
	sj := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"deploymentName": "session",
		"job": map[string]any{"jarURI": "local:///opt/flink/usrlib/job.jar", "upgradeMode": "last-state", "state": "running", "parallelism": int64(2)}}}}
	sj.SetAPIVersion("flink.apache.org/v1beta1")
	sj.SetKind("FlinkSessionJob")
	sj.SetName("adopted")
	sj.SetNamespace(ns)
	sj.SetLabels(map[string]string{render.LabelManagedBy: render.ManagedByValue, render.LabelEnvironment: "sql", render.LabelName: "adopted"})
	if r := f.sync([]*render.Object{{Unstructured: sj}}, Options{}); !r.OK() {
		t.Fatalf("%s %+v", r.Summary(), failed(r))
	}
	sjGVR := fdGVR.GroupVersion().WithResource("flinksessionjobs")
	testenv.SetStatus(t, testenv.Config(t), sjGVR, ns, "adopted", map[string]any{"jobStatus": map[string]any{"state": "RUNNING"}})

	r := f.sync(nil, Options{AllowEmpty: true})
	c := changeOf(t, r, "FlinkSessionJob", ns, "adopted")
	if c.Action != Retained || !strings.Contains(c.Message, "waiting for savepoint adopted-prune-") {
		t.Fatalf("a running stateful session job waits for its savepoint: %+v", c)
	}
	snaps, err := f.dyn.Resource(testenv.FlinkStateSnapshotGVR).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(snaps.Items) != 1 {
		t.Fatalf("want one snapshot: %v %v", snaps, err)
	}
	snap := snaps.Items[0]
	if ref, _, _ := unstructured.NestedStringMap(snap.Object, "spec", "jobReference"); ref["kind"] != "FlinkSessionJob" || ref["name"] != "adopted" {
		t.Fatalf("jobReference %v", ref)
	}
	path := "s3://bucket/savepoints/savepoint-sj"
	testenv.SetStatus(t, testenv.Config(t), testenv.FlinkStateSnapshotGVR, ns, snap.GetName(), map[string]any{"state": "COMPLETED", "path": path})
	r = f.sync(nil, Options{AllowEmpty: true})
	if c := changeOf(t, r, "FlinkSessionJob", ns, "adopted"); c.Action != Pruned || !strings.Contains(c.Message, "initialSavepointPath: "+path) {
		t.Fatalf("%+v", c)
	}
	if _, err := f.dyn.Resource(sjGVR).Namespace(ns).Get(context.Background(), "adopted", metav1.GetOptions{}); err == nil {
		t.Fatal("the session job was not deleted")
	}
}

// Retry says how to retry on the savepoint's own target: a FKO
// FlinkStateSnapshot, a CFK application's trigger nonce, or the CMF
// Savepoint of a CMF application (cmfsync fills Group cmf.confluent.io,
// the CMF environment as Namespace and the Savepoint's name as Snapshot).
func TestSavepointRetrySaysHowOnItsTarget(t *testing.T) {
	for _, c := range []struct {
		sp   Savepoint
		want string
	}{
		{Savepoint{ObjectID: ObjectID{Group: "flink.apache.org", Kind: "FlinkDeployment", Namespace: "flink-prod", Name: "orders"}, Snapshot: "orders-prune-1"},
			"delete FlinkStateSnapshot orders-prune-1 to take a new savepoint"},
		{Savepoint{ObjectID: ObjectID{Group: cfkGroup, Kind: "FlinkApplication", Namespace: "flink-prod", Name: "orders"}, Nonce: 7},
			"change or remove spec.job.savepointTriggerNonce of FlinkApplication orders to take a new savepoint"},
		{Savepoint{ObjectID: ObjectID{Group: render.CMFGroupVersion.Group, Kind: "FlinkApplication", Namespace: "prod-cmf", Name: "orders"}, Snapshot: "orders-prune-1a2b3c4d"},
			"delete savepoint orders-prune-1a2b3c4d of application orders in CMF environment prod-cmf to take a new savepoint"},
	} {
		if got := c.sp.Retry(); got != c.want {
			t.Errorf("%s: Retry() = %q, want %q", c.sp.Group, got, c.want)
		}
	}
}
