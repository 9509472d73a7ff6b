package sync

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

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
		{"another kind", &unstructured.Unstructured{Object: map[string]any{"apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkSessionJob",
			"spec": map[string]any{"job": map[string]any{"upgradeMode": "savepoint"}}, "status": map[string]any{"jobStatus": map[string]any{"state": "RUNNING"}}}}, false},
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
	if got := snapshotName(u); got != "orders-prune-1a2b3c4d" {
		t.Errorf("snapshotName %q", got)
	}
	u.SetName(strings.Repeat("a", 250))
	if got := snapshotName(u); len(got) > 253 || !strings.HasSuffix(got, "-prune-1a2b3c4d") {
		t.Errorf("a long name must stay a valid object name: %d chars", len(got))
	}
}

func TestPruneTrustsNoForeignSnapshotOfTheSameName(t *testing.T) {
	f, ctx := savepointFixture(t, "metrics-rollup")
	name := snapshotName(f.fd("dev", "metrics-rollup"))
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
