package sync

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/testenv"
)

// fkoStatus is the status FKO writes for a job, of generation gen.
func fkoStatus(gen int64, lifecycle, job string) map[string]any {
	return map[string]any{"lifecycleState": lifecycle, "jobManagerDeploymentStatus": "READY",
		"jobStatus": map[string]any{"state": job}, "observedGeneration": gen}
}

func upgradeOf(r *Result, job string) (Upgrade, bool) {
	for _, u := range r.Upgrades {
		if u.Job == job && u.Kind == "FlinkDeployment" {
			return u, true
		}
	}
	return Upgrade{}, false
}

func (f *fixture) mark(env, name string) UpgradeMark {
	f.t.Helper()
	inv, err := f.syncer.readInventory(context.Background(), f.ns(env))
	if err != nil {
		f.t.Fatal(err)
	}
	return inv[Entry{ObjectID: IDOf(f.fd(env, name))}.Key()].Upgrade
}

// An upgrade is followed across passes on the real FKO CRDs, the test
// playing the operator: the first deploy settles when FKO reports the job
// STABLE and RUNNING on generation 1; a new image starts an upgrade that
// stays in progress while FKO's status is of the old generation, survives
// a new Syncer (a daemon restart) through the inventory, and ends rolled
// back when FKO reports ROLLED_BACK on the new generation, reported once.
func TestUpgradeFollowedToHealthyThenRolledBack(t *testing.T) {
	f := newFixture(t)
	testenv.UseRealFKOCRDs(t, f.cfg)
	ctx := context.Background()
	ns := f.ns("dev")

	r := f.pass(ctx, Options{})["dev"]
	mustOK(t, map[string]*Result{"dev": r})
	u, ok := upgradeOf(r, "orders-enrich")
	if !ok || u.State != UpgradeStarted || !u.FirstDeploy || u.Generation != 1 {
		t.Fatalf("creating a job starts its first deploy: %+v (all: %+v)", u, r.Upgrades)
	}
	if m := f.mark("dev", "orders-enrich"); m.Generation != 1 || m.Started == "" {
		t.Fatalf("the inventory must record the upgrade: %+v", m)
	}

	testenv.SetStatus(t, f.cfg, fdGVR, ns, "orders-enrich", fkoStatus(1, "STABLE", "RUNNING"))
	r = f.pass(ctx, Options{})["dev"]
	if u, _ := upgradeOf(r, "orders-enrich"); u.State != UpgradeSucceeded || u.Generation != 1 {
		t.Fatalf("STABLE and RUNNING on generation 1 settles the first deploy: %+v", u)
	}
	if m := f.mark("dev", "orders-enrich"); m.pending() {
		t.Fatalf("a settled upgrade leaves the inventory: %+v", m)
	}
	if u, ok := upgradeOf(f.pass(ctx, Options{})["dev"], "orders-enrich"); ok {
		t.Fatalf("a settled upgrade is reported once: %+v", u)
	}

	f.edit("apps/orders-enrich.yaml", "orders-enrich:1.4.2", "orders-enrich:1.4.3")
	r = f.pass(ctx, Options{})["dev"]
	mustOK(t, map[string]*Result{"dev": r})
	u, ok = upgradeOf(r, "orders-enrich")
	if !ok || u.State != UpgradeStarted || u.FirstDeploy || u.Generation != 2 {
		t.Fatalf("a new image starts an upgrade to generation 2: %+v", u)
	}

	// A restarted daemon knows of it from the inventory alone; FKO's
	// status still speaks of generation 1, STABLE as it is.
	restarted, err := New(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.syncer = restarted
	r = f.pass(ctx, Options{})["dev"]
	u, _ = upgradeOf(r, "orders-enrich")
	if u.State != UpgradeInProgress || !strings.Contains(u.Message, "not yet acted on generation 2") {
		t.Fatalf("a STABLE status of the old generation says nothing of the upgrade: %+v", u)
	}

	st := fkoStatus(2, "ROLLED_BACK", "RUNNING")
	st["reconciliationStatus"] = map[string]any{"state": "ROLLED_BACK"}
	st["error"] = `{"type":"org.apache.flink.kubernetes.operator.exception.DeploymentFailedException","message":"JobManager deployment failed: ImagePullBackOff"}`
	testenv.SetStatus(t, f.cfg, fdGVR, ns, "orders-enrich", st)
	r = f.pass(ctx, Options{})["dev"]
	u, _ = upgradeOf(r, "orders-enrich")
	if u.State != UpgradeRolledBack || !strings.Contains(u.Message, "rolled back") || !strings.Contains(u.Message, "ImagePullBackOff") {
		t.Fatalf("ROLLED_BACK on generation 2 settles the upgrade as rolled back, with FKO's error: %+v", u)
	}
	if !strings.Contains(u.String(), "rolled back") {
		t.Errorf("String: %s", u)
	}
	if m := f.mark("dev", "orders-enrich"); m.pending() {
		t.Fatalf("a rolled-back upgrade leaves the inventory: %+v", m)
	}
	if u, ok := upgradeOf(f.pass(ctx, Options{})["dev"], "orders-enrich"); ok {
		t.Fatalf("a rolled-back upgrade is reported once: %+v", u)
	}
}

// An upgrade the operator neither completes nor fails times out
// UpgradeTimeout after the write (the Syncer's clock moved on), and a
// degraded job fails its upgrade.
func TestUpgradeTimesOutOrFails(t *testing.T) {
	f := newFixture(t)
	testenv.UseRealFKOCRDs(t, f.cfg)
	ctx := context.Background()
	ns := f.ns("dev")
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	f.syncer.Now = func() time.Time { return now }

	mustOK(t, f.pass(ctx, Options{}))
	for _, app := range []string{"orders-enrich", "clickstream-filter"} {
		testenv.SetStatus(t, f.cfg, fdGVR, ns, app, map[string]any{"lifecycleState": "DEPLOYED", "jobManagerDeploymentStatus": "DEPLOYING", "observedGeneration": int64(1)})
	}
	now = now.Add(UpgradeTimeout - time.Second)
	r := f.pass(ctx, Options{})["dev"]
	if u, _ := upgradeOf(r, "orders-enrich"); u.State != UpgradeInProgress || u.Duration != UpgradeTimeout-time.Second {
		t.Fatalf("within the timeout the upgrade is in progress: %+v", u)
	}
	testenv.SetStatus(t, f.cfg, fdGVR, ns, "clickstream-filter", fkoStatus(1, "FAILED", "FAILED"))
	now = now.Add(time.Second)
	r = f.pass(ctx, Options{})["dev"]
	u, _ := upgradeOf(r, "orders-enrich")
	if u.State != UpgradeTimedOut || !strings.Contains(u.Message, "did not become healthy in 10m0s") || !strings.Contains(u.Message, "DEPLOYING") {
		t.Fatalf("an upgrade in progress for UpgradeTimeout has timed out: %+v", u)
	}
	if u, _ := upgradeOf(r, "clickstream-filter"); u.State != UpgradeFailed || !strings.Contains(u.Message, "lifecycle FAILED") {
		t.Fatalf("a FAILED job fails its upgrade: %+v", u)
	}
	if m := f.mark("dev", "orders-enrich"); m.pending() {
		t.Fatalf("a timed-out upgrade leaves the inventory: %+v", m)
	}
}

// A change to a job's metadata alone (a label) starts no upgrade: the
// operator does not touch the job.
func TestMetadataChangeStartsNoUpgrade(t *testing.T) {
	f := newFixture(t)
	testenv.UseRealFKOCRDs(t, f.cfg)
	ctx := context.Background()
	mustOK(t, f.pass(ctx, Options{}))
	testenv.SetStatus(t, f.cfg, fdGVR, f.ns("dev"), "orders-enrich", fkoStatus(1, "STABLE", "RUNNING"))
	f.pass(ctx, Options{})
	f.edit("apps/orders-enrich.yaml", "team: checkout", "team: checkout-platform")
	r := f.pass(ctx, Options{})["dev"]
	if c := changeOf(t, r, "FlinkDeployment", f.ns("dev"), "orders-enrich"); c.Action != Configured {
		t.Fatalf("the label change must be applied: %+v", c)
	}
	if u, ok := upgradeOf(r, "orders-enrich"); ok {
		t.Fatalf("a metadata-only change is no upgrade: %+v", u)
	}
}

// WaitUpgrades follows the upgrades of a pass until the operator settles
// them, and stops at its context's end with the rest in progress.
func TestWaitUpgradesFollowsToTheEnd(t *testing.T) {
	f := newFixture(t)
	testenv.UseRealFKOCRDs(t, f.cfg)
	ctx := context.Background()
	ns := f.ns("dev")
	r := f.pass(ctx, Options{})["dev"]
	go func() {
		time.Sleep(300 * time.Millisecond)
		testenv.SetStatus(t, f.cfg, fdGVR, ns, "orders-enrich", fkoStatus(1, "STABLE", "RUNNING"))
	}()
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var settled []string
	out := f.syncer.WaitUpgrades(wctx, r, 100*time.Millisecond, func(u Upgrade) { settled = append(settled, u.Job) })
	got := map[string]UpgradeState{}
	for _, u := range out {
		if u.Kind == "FlinkDeployment" {
			got[u.Job] = u.State
		}
	}
	if got["orders-enrich"] != UpgradeSucceeded || got["clickstream-filter"] != UpgradeInProgress {
		t.Fatalf("want orders-enrich succeeded and clickstream-filter still in progress: %v", got)
	}
	if strings.Join(settled, ",") != "orders-enrich" {
		t.Errorf("done was told of %v", settled)
	}
	if m := f.mark("dev", "orders-enrich"); m.pending() {
		t.Errorf("an upgrade seen to end leaves the inventory: %+v", m)
	}
	if m := f.mark("dev", "clickstream-filter"); !m.pending() {
		t.Error("an upgrade still in progress stays in the inventory")
	}
	if u, ok := upgradeOf(f.pass(ctx, Options{})["dev"], "orders-enrich"); ok {
		t.Errorf("the next pass must not report the upgrade again: %+v", u)
	}
}

func obj(t *testing.T, js string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON([]byte(js)); err != nil {
		t.Fatal(err)
	}
	return u
}

// settle on literal objects: the generation gate (observedGeneration, or
// FKO's lastReconciledSpec), health, rollback and the timeout.
func TestSettle(t *testing.T) {
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	mark := UpgradeMark{Generation: 3, Started: start.Format(time.RFC3339)}
	const fd = `{"apiVersion":"flink.apache.org/v1beta1","kind":"FlinkDeployment","metadata":{"name":"a","generation":3},"spec":{"job":{"state":"running"}},"status":%s}`
	for _, c := range []struct {
		name, status string
		after        time.Duration
		want         UpgradeState
	}{
		{"healthy on the generation", `{"observedGeneration":3,"lifecycleState":"STABLE","jobManagerDeploymentStatus":"READY","jobStatus":{"state":"RUNNING"}}`, time.Minute, UpgradeSucceeded},
		{"healthy on an older generation", `{"observedGeneration":2,"lifecycleState":"STABLE","jobManagerDeploymentStatus":"READY","jobStatus":{"state":"RUNNING"}}`, time.Minute, UpgradeInProgress},
		{"older generation in lastReconciledSpec", `{"lifecycleState":"STABLE","jobManagerDeploymentStatus":"READY","jobStatus":{"state":"RUNNING"},"reconciliationStatus":{"lastReconciledSpec":"{\"spec\":{},\"resource_metadata\":{\"metadata\":{\"generation\":2}}}"}}`, time.Minute, UpgradeInProgress},
		{"generation in lastReconciledSpec", `{"lifecycleState":"STABLE","jobManagerDeploymentStatus":"READY","jobStatus":{"state":"RUNNING"},"reconciliationStatus":{"lastReconciledSpec":"{\"spec\":{},\"resource_metadata\":{\"metadata\":{\"generation\":3}}}"}}`, time.Minute, UpgradeSucceeded},
		{"rolling back", `{"observedGeneration":3,"lifecycleState":"ROLLING_BACK","jobManagerDeploymentStatus":"DEPLOYING"}`, time.Minute, UpgradeRolledBack},
		{"failed", `{"observedGeneration":3,"lifecycleState":"FAILED","jobStatus":{"state":"FAILED"},"error":"boom"}`, time.Minute, UpgradeFailed},
		{"stale rollback", `{"observedGeneration":2,"lifecycleState":"ROLLED_BACK","reconciliationStatus":{"state":"ROLLED_BACK"}}`, time.Minute, UpgradeInProgress},
		{"deploying", `{"observedGeneration":3,"lifecycleState":"DEPLOYED","jobManagerDeploymentStatus":"DEPLOYING"}`, time.Minute, UpgradeInProgress},
		{"deploying too long", `{"observedGeneration":3,"lifecycleState":"DEPLOYED","jobManagerDeploymentStatus":"DEPLOYING"}`, UpgradeTimeout, UpgradeTimedOut},
		{"failed late is failed", `{"observedGeneration":3,"lifecycleState":"FAILED"}`, 2 * UpgradeTimeout, UpgradeFailed},
	} {
		t.Run(c.name, func(t *testing.T) {
			live := obj(t, strings.Replace(fd, "%s", c.status, 1))
			u := settle(Upgrade{Job: "a"}, mark, live, live, start.Add(c.after))
			if u.State != c.want || u.Generation != 3 || u.Duration != c.after {
				t.Fatalf("got %s (generation %d, %s): %s", u.State, u.Generation, u.Duration, u.Message)
			}
		})
	}
}

// An inventory entry keeps its upgrade mark through JSON, and one written
// before marks existed reads as none.
func TestInventoryEntryUpgradeMark(t *testing.T) {
	e := Entry{ObjectID: ObjectID{Group: "flink.apache.org", Kind: "FlinkDeployment", Namespace: "n", Name: "a"}, Hash: "h",
		Upgrade: UpgradeMark{Generation: 4, Started: "2026-11-30T12:00:00Z"}}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var back Entry
	if err := json.Unmarshal(b, &back); err != nil || back != e {
		t.Fatalf("round trip: %s -> %+v (%v)", b, back, err)
	}
	e.Upgrade = UpgradeMark{}
	if b, _ := json.Marshal(e); strings.Contains(string(b), "upgrade") {
		t.Errorf("no mark, no field: %s", b)
	}
	var old Entry
	if err := json.Unmarshal([]byte(`{"group":"flink.apache.org","kind":"FlinkDeployment","namespace":"n","name":"a","hash":"h"}`), &old); err != nil || old != e {
		t.Fatalf("an old entry: %+v (%v)", old, err)
	}
	if !(Inventory{"k": e}).equal(Inventory{"k": back}) {
		t.Error("equal must ignore upgrade marks")
	}
}
