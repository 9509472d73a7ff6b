package cmfsync_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flinksync/flinksync/internal/cmf"
	"github.com/flinksync/flinksync/internal/cmf/cmfsync"
	"github.com/flinksync/flinksync/internal/cmf/cmftest"
	"github.com/flinksync/flinksync/internal/state"
	"github.com/flinksync/flinksync/internal/sync"
)

// edit replaces old with new in a file of the test repository.
func (f *fixture) edit(rel, old, new string) {
	f.t.Helper()
	text, err := os.ReadFile(filepath.Join(f.dir, rel))
	if err != nil {
		f.t.Fatal(err)
	}
	if !strings.Contains(string(text), old) {
		f.t.Fatalf("%s has no %q", rel, old)
	}
	if err := f.write(rel, strings.Replace(string(text), old, new, 1)); err != nil {
		f.t.Fatal(err)
	}
}

// environment adds lines to the environment's spec (before spec.cmf).
func (f *fixture) environment(lines string) {
	f.t.Helper()
	f.edit("environments/prod-cmf.yaml", "  cmf:\n", lines+"  cmf:\n")
}

func (f *fixture) syncer() *cmfsync.Syncer {
	f.t.Helper()
	env, _, _ := f.render()
	sy, err := cmfsync.New(context.Background(), env, cmf.Sources{FilesDir: f.s.FilesDir})
	if err != nil {
		f.t.Fatal(err)
	}
	return sy
}

func impactOf(r *sync.Result, job string) *state.Impact {
	for i := range r.State {
		if r.State[i].Job == job {
			return &r.State[i]
		}
	}
	return nil
}

const ordersPath = "/environments/prod-cmf/applications/orders-enrich"

func upgradeMode(f *fixture) any {
	return f.s.Get(ordersPath)["spec"].(map[string]any)["job"].(map[string]any)["upgradeMode"]
}

// TestGuardBlocksStateLossOnCMF: under enforce, turning a stateful CMF
// application to upgradeMode stateless blocks the pass before it writes
// anything; an acknowledgement lets it through, marked waived; under warn
// it goes ahead with a warning.
func TestGuardBlocksStateLossOnCMF(t *testing.T) {
	f := newFixture(t, cmftest.MTLS)
	f.environment("  stateGuard: {mode: enforce}\n")
	mustOK(t, f.pass(sync.ModeApply))

	f.edit("apps/orders-enrich.yaml", "upgradeMode: savepoint", "upgradeMode: stateless")
	writes := f.s.Writes()
	for _, mode := range []sync.Mode{sync.ModeDryRun, sync.ModeApply} {
		r := f.pass(mode)
		i := impactOf(r, "orders-enrich")
		if len(r.Blocked) != 1 || !strings.Contains(r.Blocked[0], "STATE-001: app orders-enrich: stateful: upgrade with upgradeMode stateless, 10Gi of state lost") ||
			i == nil || !i.LosesState || len(r.Changes) != 0 {
			t.Fatalf("not blocked (mode %d): %v %+v %s", mode, r.Blocked, r.State, r.Summary())
		}
	}
	if f.s.Writes() != writes || upgradeMode(f) != "savepoint" {
		t.Fatalf("a blocked pass wrote %d time(s); upgradeMode in CMF: %v", f.s.Writes()-writes, upgradeMode(f))
	}

	expires := time.Now().UTC().AddDate(0, 0, 7).Format("2006-01-02")
	f.edit("environments/prod-cmf.yaml", "  stateGuard: {mode: enforce}\n",
		"  stateGuard:\n    mode: enforce\n    acknowledge:\n      - {app: orders-enrich, reason: replays the topic, expires: "+expires+"}\n")
	r := f.pass(sync.ModeApply)
	mustOK(t, r)
	if len(r.Findings) != 1 || r.Findings[0].Rule != "STATE-001" || !r.Findings[0].Waived || upgradeMode(f) != "stateless" {
		t.Fatalf("acknowledged: %+v, upgradeMode in CMF %v", r.Findings, upgradeMode(f))
	}

	f.edit("environments/prod-cmf.yaml", "    mode: enforce\n    acknowledge:\n      - {app: orders-enrich, reason: replays the topic, expires: "+expires+"}\n", "    mode: warn\n")
	f.edit("apps/orders-enrich.yaml", "upgradeMode: stateless", "upgradeMode: last-state")
	mustOK(t, f.pass(sync.ModeApply)) // keeps state: no finding
	f.edit("apps/orders-enrich.yaml", "upgradeMode: last-state", "upgradeMode: stateless")
	r = f.pass(sync.ModeApply)
	mustOK(t, r)
	if len(r.Findings) != 1 || r.Findings[0].Severity != "warning" || upgradeMode(f) != "stateless" {
		t.Fatalf("warn: %+v, upgradeMode in CMF %v", r.Findings, upgradeMode(f))
	}
}

// TestGuardBlocksStatementReplacementAndPruneOnCMF: under enforce, a
// changed statement with declared state (replaced: CMF does not change
// its SQL), the same correction of SQL changed in CMF, and the prune of a
// stateful application with upgradeMode stateless (no savepoint) each
// block the pass.
func TestGuardBlocksStatementReplacementAndPruneOnCMF(t *testing.T) {
	f := newFixture(t, cmftest.MTLS)
	f.environment("  stateGuard: {mode: enforce}\n")
	f.edit("statements/checkout-pageviews.yaml", "    complexity: simple\n", "    complexity: simple\n    stateSize: 5Gi\n")
	f.edit("apps/audit-archiver.yaml", "    recordsPerSecond: 2000\n", "    recordsPerSecond: 2000\n    stateSize: 1Gi\n")
	mustOK(t, f.pass(sync.ModeApply))
	writes := f.s.Writes()

	// SQL changed in CMF: correcting it replaces the statement.
	name := f.statementNames()["checkout-pageviews"]
	path := "/environments/prod-cmf/statements/" + name
	original := f.s.Get(path)
	live := f.s.Get(path)
	live["spec"].(map[string]any)["statement"] = "INSERT INTO x SELECT 1;"
	f.s.Set(path, live)
	r := f.pass(sync.ModeApply)
	if i := impactOf(r, "checkout-pageviews"); len(r.Blocked) != 1 || i == nil || !i.LosesState || i.Effect != state.Lost || f.s.Writes() != writes {
		t.Fatalf("drifted SQL: %v %+v, %d write(s)", r.Blocked, r.State, f.s.Writes()-writes)
	}
	f.s.Set(path, original)

	// Git changes the SQL and removes the app.
	f.edit("statements/checkout-pageviews.yaml", "'/checkout/%'", "'/cart/%'")
	if err := os.Remove(filepath.Join(f.dir, "apps/audit-archiver.yaml")); err != nil {
		t.Fatal(err)
	}
	r = f.pass(sync.ModeApply)
	if len(r.Blocked) != 2 || !strings.Contains(strings.Join(r.Blocked, "\n"), "app audit-archiver: stateful: deleted with no savepoint (upgradeMode stateless), with 1Gi of running state") ||
		!strings.Contains(strings.Join(r.Blocked, "\n"), "statement checkout-pageviews: replaced (its SQL, pool or catalog changed)") {
		t.Fatalf("blocked: %q", r.Blocked)
	}
	if f.s.Writes() != writes || f.s.Get("/environments/prod-cmf/applications/audit-archiver") == nil || f.s.Get(path) == nil {
		t.Fatalf("a blocked pass wrote %d time(s)", f.s.Writes()-writes)
	}
}

func changeOf(r *sync.Result, kind, name string) sync.Change {
	for _, c := range r.Changes {
		if c.Kind == kind && c.Name == name {
			return c
		}
	}
	return sync.Change{}
}

// TestPruneOfRunningCMFApplicationWaitsForSavepoint: removing a running
// application with upgradeMode savepoint from Git takes a CMF savepoint
// of it; the application is deleted only once the savepoint is COMPLETED,
// after it was detached (so that CMF keeps it), with the path in the
// pruned line. A dry run takes none.
func TestPruneOfRunningCMFApplicationWaitsForSavepoint(t *testing.T) {
	f := newFixture(t, cmftest.MTLS)
	mustOK(t, f.pass(sync.ModeApply))
	if err := os.Remove(filepath.Join(f.dir, "apps/orders-enrich.yaml")); err != nil {
		t.Fatal(err)
	}
	savepoints := ordersPath + "/savepoints/"

	writes := f.s.Writes()
	r := f.pass(sync.ModeDryRun)
	c := changeOf(r, "FlinkApplication", "orders-enrich")
	if c.Action != sync.Retained || !strings.Contains(c.Message, "would take savepoint orders-enrich-prune-") || f.s.Writes() != writes || len(f.s.Paths(savepoints)) != 0 {
		t.Fatalf("dry run: %+v, %d write(s)", c, f.s.Writes()-writes)
	}

	for pass := 1; pass <= 2; pass++ {
		r = f.pass(sync.ModeApply)
		c = changeOf(r, "FlinkApplication", "orders-enrich")
		if c.Action != sync.Retained || !strings.Contains(c.Message, "waiting for savepoint orders-enrich-prune-") || len(r.Savepoints) != 1 ||
			f.s.Get(ordersPath) == nil || len(f.s.Paths(savepoints)) != 1 {
			t.Fatalf("pass %d: %+v %+v %v", pass, c, r.Savepoints, f.s.Paths(savepoints))
		}
	}
	if i := impactOf(r, "orders-enrich"); i == nil || i.Effect != state.Deleted || i.LosesState {
		t.Fatalf("state: %+v", r.State)
	}
	sp := f.s.Paths(savepoints)[0]
	name := filepath.Base(sp)
	if l := f.s.Get(sp)["metadata"].(map[string]any)["labels"].(map[string]any); l["flinksync.dev/savepoint-of"] != "orders-enrich" || l["flinksync.dev/environment"] != envName {
		t.Fatalf("savepoint labels: %v", l)
	}

	f.s.SetSavepoint(sp, "COMPLETED", "s3://acme/prod-cmf/savepoints/savepoint-7f3a")
	r = f.pass(sync.ModeApply)
	mustOK(t, r)
	c = changeOf(r, "FlinkApplication", "orders-enrich")
	if c.Action != sync.Pruned || !strings.Contains(c.Message, "after savepoint "+name+": s3://acme/prod-cmf/savepoints/savepoint-7f3a") ||
		len(r.Savepoints) != 1 || r.Savepoints[0].Path != "s3://acme/prod-cmf/savepoints/savepoint-7f3a" {
		t.Fatalf("after the savepoint: %+v %+v", c, r.Savepoints)
	}
	if f.s.Get(ordersPath) != nil || f.s.Get("/detached-savepoints/"+name) == nil {
		t.Fatalf("the application is still in CMF, or its savepoint was not kept: %v", f.s.Paths("/"))
	}
}

// pruningOrders applies the example to CMF, removes orders-enrich from the
// repository and applies again, which takes the savepoint prune waits for:
// it returns the fixture and that savepoint's path in CMF, still pending.
func pruningOrders(t *testing.T) (*fixture, string) {
	t.Helper()
	f := newFixture(t, cmftest.MTLS)
	mustOK(t, f.pass(sync.ModeApply))
	if err := os.Remove(filepath.Join(f.dir, "apps/orders-enrich.yaml")); err != nil {
		t.Fatal(err)
	}
	f.pass(sync.ModeApply)
	sps := f.s.Paths(ordersPath + "/savepoints/")
	if len(sps) != 1 {
		t.Fatalf("savepoints: %v", sps)
	}
	return f, sps[0]
}

// TestPruneKeepsCMFApplicationWhenSavepointFails: a FAILED savepoint keeps
// the application running; the change fails with the operator's error.
func TestPruneKeepsCMFApplicationWhenSavepointFails(t *testing.T) {
	f, savepoint := pruningOrders(t)
	f.s.SetSavepoint(savepoint, "FAILED", "checkpoint storage unreachable")
	r := f.pass(sync.ModeApply)
	c := changeOf(r, "FlinkApplication", "orders-enrich")
	if r.OK() || c.Action != sync.Failed || !strings.Contains(c.Message, "FAILED (checkpoint storage unreachable)") || f.s.Get(ordersPath) == nil ||
		len(r.Savepoints) != 1 || !r.Savepoints[0].Failed() {
		t.Fatalf("failed savepoint: %+v %+v", c, r.Savepoints)
	}
	// What the change and the SavepointFailed alert say to do is what
	// takes a new one: the next pass asks CMF again under the same name.
	name := savepoint[strings.LastIndex(savepoint, "/")+1:]
	retry := "delete savepoint " + name + " of application orders-enrich in CMF environment prod-cmf to take a new savepoint"
	if got := r.Savepoints[0].Retry(); got != retry || !strings.Contains(c.Message, retry) {
		t.Fatalf("retry: %q, change %q; want %q in both", got, c.Message, retry)
	}
	ref := cmf.Ref{Kind: cmf.KindSavepoint, Environment: "prod-cmf", Application: "orders-enrich", Name: name}
	if err := f.syncer().Client.Delete(context.Background(), ref); err != nil {
		t.Fatal(err)
	}
	r = f.pass(sync.ModeApply)
	if sp := f.s.Get(savepoint); sp == nil || len(r.Savepoints) != 1 || r.Savepoints[0].Failed() || f.s.Get(ordersPath) == nil {
		t.Fatalf("after deleting the failed savepoint: %v %+v", sp, r.Savepoints)
	}
	// A stateless application goes at once.
	if err := os.Remove(filepath.Join(f.dir, "apps/audit-archiver.yaml")); err != nil {
		t.Fatal(err)
	}
	r = f.pass(sync.ModeApply)
	if c := changeOf(r, "FlinkApplication", "audit-archiver"); c.Action != sync.Pruned || len(f.s.Paths("/environments/prod-cmf/applications/audit-archiver")) != 0 {
		t.Fatalf("stateless app: %+v", c)
	}
}

// TestUpgradesOnCMFAreFollowed: the first deploys CMF runs at once are
// reported succeeded in the pass; a changed spec whose new instance does
// not run yet is recorded on the application and settled by later passes
// (failed, with the operator's error), then forgotten; apply --wait's
// WaitUpgrades follows one to success.
func TestUpgradesOnCMFAreFollowed(t *testing.T) {
	f := newFixture(t, cmftest.MTLS)
	r := f.pass(sync.ModeApply)
	mustOK(t, r)
	if len(r.Upgrades) != 2 || r.Upgrades[1].Job != "orders-enrich" || r.Upgrades[1].State != sync.UpgradeSucceeded || !r.Upgrades[1].FirstDeploy ||
		r.Upgrades[1].Generation != 1 {
		t.Fatalf("first deploys: %+v", r.Upgrades)
	}
	writes := f.s.Writes()
	if r = f.pass(sync.ModeApply); len(r.Upgrades) != 0 || f.s.Writes() != writes {
		t.Fatalf("second pass: %+v, %d write(s)", r.Upgrades, f.s.Writes()-writes)
	}

	f.s.HoldJobs(true)
	f.edit("apps/orders-enrich.yaml", "entryClass: com.example.OrdersEnrich", "entryClass: com.example.OrdersEnrich2")
	r = f.pass(sync.ModeApply)
	mustOK(t, r)
	if len(r.Upgrades) != 1 || r.Upgrades[0].State != sync.UpgradeStarted || r.Upgrades[0].Generation != 2 || r.Upgrades[0].FirstDeploy {
		t.Fatalf("upgrade: %+v", r.Upgrades)
	}
	ann := func() any {
		a, _ := f.s.Get(ordersPath)["metadata"].(map[string]any)["annotations"].(map[string]any)
		return a[cmfsync.AnnUpgrade]
	}
	if ann() == nil {
		t.Fatal("the upgrade is not recorded in CMF")
	}
	writes = f.s.Writes()
	if r = f.pass(sync.ModeApply); len(r.Upgrades) != 1 || r.Upgrades[0].State != sync.UpgradeInProgress || f.s.Writes() != writes {
		t.Fatalf("in progress: %+v, %d write(s)", r.Upgrades, f.s.Writes()-writes)
	}
	// A correction of metadata only starts no upgrade and keeps the record.
	live := f.s.Get(ordersPath)
	live["metadata"].(map[string]any)["annotations"].(map[string]any)["flinksync.dev/state-size"] = "1Gi"
	f.s.Set(ordersPath, live)
	r = f.pass(sync.ModeApply)
	if actions(r)["FlinkApplication/orders-enrich"] != sync.Configured || len(r.Upgrades) != 1 || r.Upgrades[0].State != sync.UpgradeInProgress || ann() == nil {
		t.Fatalf("metadata correction: %v %+v, mark %v", actions(r), r.Upgrades, ann())
	}
	f.s.SetJob(ordersPath, "FAILED", "java.lang.OutOfMemoryError: Java heap space")
	r = f.pass(sync.ModeApply)
	if len(r.Upgrades) != 1 || r.Upgrades[0].State != sync.UpgradeFailed || !strings.Contains(r.Upgrades[0].Message, "OutOfMemoryError") || ann() != nil {
		t.Fatalf("failed: %+v, mark %v", r.Upgrades, ann())
	}
	if r = f.pass(sync.ModeApply); len(r.Upgrades) != 0 {
		t.Fatalf("reported twice: %+v", r.Upgrades)
	}

	f.edit("apps/orders-enrich.yaml", "entryClass: com.example.OrdersEnrich2", "entryClass: com.example.OrdersEnrich3")
	r = f.pass(sync.ModeApply)
	if len(r.Upgrades) != 1 || r.Upgrades[0].State != sync.UpgradeStarted || r.Upgrades[0].Generation != 3 {
		t.Fatalf("upgrade: %+v", r.Upgrades)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		f.s.SetJob(ordersPath, "RUNNING", "")
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var done []sync.Upgrade
	got := f.syncer().WaitUpgrades(ctx, r, 20*time.Millisecond, func(u sync.Upgrade) { done = append(done, u) })
	if len(got) != 1 || got[0].State != sync.UpgradeSucceeded || len(done) != 1 || ann() != nil {
		t.Fatalf("wait: %+v, mark %v", got, ann())
	}
}

// TestIgnoreRulesOnCMF: a field an environment's ignore rule or a
// statement's spec.ignore names is neither drift nor written back.
func TestIgnoreRulesOnCMF(t *testing.T) {
	f := newFixture(t, cmftest.MTLS)
	f.environment("  sync:\n    ignore:\n      - {kind: FlinkApplication, paths: [/spec/job/parallelism]}\n")
	f.edit("statements/checkout-pageviews.yaml", "  pool: sql\n", "  pool: sql\n  ignore:\n    - paths: [/spec/flinkConfiguration/pipeline.name]\n")
	mustOK(t, f.pass(sync.ModeApply))

	live := f.s.Get(ordersPath)
	live["spec"].(map[string]any)["job"].(map[string]any)["parallelism"] = 99
	f.s.Set(ordersPath, live)
	path := "/environments/prod-cmf/statements/" + f.statementNames()["checkout-pageviews"]
	st := f.s.Get(path)
	st["spec"].(map[string]any)["flinkConfiguration"].(map[string]any)["pipeline.name"] = "mine"
	f.s.Set(path, st)

	if r := f.pass(sync.ModeObserve); len(r.Drift) != 0 {
		t.Fatalf("ignored fields are drift: %+v", r.Drift)
	}
	writes := f.s.Writes()
	r := f.pass(sync.ModeApply)
	mustOK(t, r)
	if f.s.Writes() != writes || r.Count(sync.Unchanged) != len(r.Changes) {
		t.Fatalf("ignored fields written back: %s", r.Summary())
	}
	if p := f.s.Get(ordersPath)["spec"].(map[string]any)["job"].(map[string]any)["parallelism"]; p != float64(99) {
		t.Fatalf("parallelism in CMF: %v", p)
	}
	// A field the rules do not name is still drift.
	live = f.s.Get(ordersPath)
	live["spec"].(map[string]any)["job"].(map[string]any)["entryClass"] = "x"
	f.s.Set(ordersPath, live)
	if r := f.pass(sync.ModeObserve); len(r.Drift) != 1 || r.Drift[0].Field != "spec.job.entryClass" {
		t.Fatalf("drift: %+v", r.Drift)
	}
}

// TestPruneTakesANewCMFSavepointWhenTheLastIsStale: a savepoint that
// finished more than sync.SavepointFreshness ago (taken for an earlier
// removal) does not license the delete; prune takes the next one.
func TestPruneTakesANewCMFSavepointWhenTheLastIsStale(t *testing.T) {
	f, savepoint := pruningOrders(t)
	f.s.SetSavepoint(savepoint, "COMPLETED", "s3://acme/old")
	env, out, _ := f.render()
	sy := f.syncer()
	sy.Now = func() time.Time { return time.Now().Add(sync.SavepointFreshness + time.Minute) }
	r := sy.Sync(context.Background(), env, out, sync.Options{Mode: sync.ModeApply, Guard: f.guard})
	c := changeOf(r, "FlinkApplication", "orders-enrich")
	if c.Action != sync.Retained || !strings.Contains(c.Message, "-2 (state none yet): created it") || !strings.Contains(c.Message, "more than 1h0m0s ago") ||
		f.s.Get(ordersPath) == nil || len(f.s.Paths(ordersPath+"/savepoints/")) != 2 {
		t.Fatalf("stale savepoint: %+v %v", c, f.s.Paths(ordersPath+"/savepoints/"))
	}
}
