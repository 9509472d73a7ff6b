package sync

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/state"
)

// upgradeModeOf is the live FlinkDeployment's spec.job.upgradeMode.
func (f *fixture) upgradeModeOf(env, name string) string {
	m, _, _ := unstructured.NestedString(f.fd(env, name).Object, "spec", "job", "upgradeMode")
	return m
}

// acknowledge adds a state-loss acknowledgement to environments/prod.yaml
// (the fixture's clock is 2026-11-21).
func (f *fixture) acknowledge(env, job string) {
	f.edit("environments/"+env+".yaml", "  stateGuard:\n    mode: enforce\n",
		"  stateGuard:\n    mode: enforce\n    acknowledge:\n      - {"+job+", reason: replays from Kafka, expires: 2026-11-28}\n")
}

func findingsOf(r *Result, rule string) []string {
	var out []string
	for _, f := range r.Findings {
		if f.Rule == rule {
			s := string(f.Severity) + " " + f.App
			if f.Waived {
				s += " waived"
			}
			out = append(out, s)
		}
	}
	return out
}

func impactOf(r *Result, job string) (state.Impact, bool) {
	for _, i := range r.State {
		if i.Job == job {
			return i, true
		}
	}
	return state.Impact{}, false
}

// A change that loses a stateful job's state, judged against the live job,
// leaves an enforcing environment untouched (nothing written) until Git
// acknowledges it; a warn environment applies it with a warning; the dry
// run says the same without writing.
func TestGuardBlocksStateLossUntilAcknowledged(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	mustOK(t, f.pass(ctx, Options{}))
	f.edit("apps/orders-enrich.yaml", "upgradeMode: savepoint", "upgradeMode: stateless")

	dry := f.pass(ctx, Options{Mode: ModeDryRun})
	if i, ok := impactOf(dry["prod"], "orders-enrich"); !ok || i.Effect != state.Lost || i.StateSize != "20Gi" || !i.LosesState {
		t.Fatalf("dry run: prod's state impact of orders-enrich %+v (found %v), want lost with 20Gi", i, ok)
	}
	if len(dry["prod"].Blocked) == 0 || !strings.HasPrefix(dry["prod"].Blocked[0], "STATE-001: app orders-enrich: stateful: upgrade with upgradeMode stateless, 20Gi of state lost") {
		t.Errorf("dry run must say prod would be blocked: %v", dry["prod"].Blocked)
	}

	before := f.writes.Load()
	r := f.pass(ctx, Options{})
	if got := strings.Join(findingsOf(r["prod"], "STATE-001"), ","); got != "error orders-enrich" || r["prod"].OK() {
		t.Fatalf("prod: STATE-001 findings %q, OK %v; want one error and a blocked pass", got, r["prod"].OK())
	}
	if m := f.upgradeModeOf("prod", "orders-enrich"); m != "savepoint" {
		t.Errorf("prod's job was changed to %s despite the guard", m)
	}
	// dev and staging do not require TLS: warn, and the change is applied.
	for _, env := range []string{"dev", "staging"} {
		if got := strings.Join(findingsOf(r[env], "STATE-001"), ","); got != "warning orders-enrich" || !r[env].OK() {
			t.Errorf("%s: STATE-001 %q, OK %v; want a warning and the pass applied", env, got, r[env].OK())
		}
		if m := f.upgradeModeOf(env, "orders-enrich"); m != "stateless" {
			t.Errorf("%s: upgradeMode %s, want the change applied", env, m)
		}
	}
	if f.writes.Load() == before {
		t.Fatal("no writes at all: the warn environments must have been applied")
	}

	f.acknowledge("prod", "app: orders-enrich")
	r = f.pass(ctx, Options{})
	if got := strings.Join(findingsOf(r["prod"], "STATE-001"), ","); got != "error orders-enrich waived" || !r["prod"].OK() {
		t.Fatalf("acknowledged: STATE-001 %q, OK %v (blocked %v)", got, r["prod"].OK(), r["prod"].Blocked)
	}
	if m := f.upgradeModeOf("prod", "orders-enrich"); m != "stateless" {
		t.Errorf("acknowledged: upgradeMode %s, want stateless", m)
	}
}

// Pruning a job whose live upgradeMode takes no savepoint loses its
// declared state (the live object's state-size annotation): blocked in
// an enforcing environment; the job stays.
func TestGuardBlocksPruneOfStatelessModeStatefulJob(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.edit("apps/metrics-rollup.yaml", "upgradeMode: savepoint", "upgradeMode: stateless")
	mustOK(t, f.pass(ctx, Options{}))
	f.remove("apps/metrics-rollup.yaml")
	r := f.pass(ctx, Options{})["prod"]
	i, _ := impactOf(r, "metrics-rollup")
	if i.Effect != state.Deleted || !i.LosesState || r.OK() {
		t.Fatalf("prune of a stateless-mode job with 2Gi of state: impact %+v, OK %v; want deleted, losing state, blocked", i, r.OK())
	}
	if !f.existsIn("prod", "metrics-rollup") {
		t.Fatal("the job was pruned despite the guard")
	}
	if c := r.Count(Pruned); c != 0 {
		t.Errorf("%d objects pruned in a blocked pass", c)
	}
}

// A statement whose SQL changes is replaced by a new object (another name):
// the old one's state is lost. On CFK prod-eu (TLS required) that blocks
// until acknowledged.
func TestGuardBlocksStatementReplacement(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	mustOK(t, f.pass(ctx, Options{}))
	sqlPath := filepath.Join(f.dir, "sql", "orders-attributed.sql")
	sql, err := os.ReadFile(sqlPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sqlPath, append(sql, []byte("\n-- a new comment changes the statement\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	r := f.pass(ctx, Options{})["prod-eu"]
	i, _ := impactOf(r, "orders-attributed")
	if i.Effect != state.Lost || !i.Statement || !i.LosesState || !strings.Contains(i.Message, "replaced") || r.OK() {
		t.Fatalf("statement replacement: impact %+v, OK %v, blocked %v", i, r.OK(), r.Blocked)
	}
	f.edit("environments/prod-eu.yaml", "spec:\n", "spec:\n  stateGuard:\n    acknowledge:\n      - {statement: orders-attributed, reason: new join, expires: 2026-11-28}\n")
	r = f.pass(ctx, Options{})["prod-eu"]
	if !r.OK() || r.Count(Created) == 0 || r.Count(Pruned) == 0 {
		t.Fatalf("acknowledged replacement: OK %v, %s, blocked %v", r.OK(), r.Summary(), r.Blocked)
	}
}

func (f *fixture) existsIn(env, name string) bool {
	_, err := f.dyn.Resource(fdGVR).Namespace(f.ns(env)).Get(context.Background(), name, metav1.GetOptions{})
	return err == nil
}

// Progress counts every write of the pass, from 0 to the total.
func TestProgressCountsWrites(t *testing.T) {
	f := newFixture(t)
	var calls []string
	var mu gosync.Mutex
	r := f.pass(context.Background(), Options{Progress: func(done, total int) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, fmt.Sprintf("%d/%d", done, total))
	}})["dev"]
	_ = r
	if len(calls) == 0 || !strings.HasPrefix(calls[0], "0/") {
		t.Fatalf("progress calls %v", calls)
	}
	seen := map[string]bool{}
	for _, c := range calls {
		seen[c] = true
	}
	// Every environment of the example reports its own 0..total run; the
	// last of each is total/total.
	var finals int
	for _, c := range calls {
		var d, n int
		fmt.Sscanf(c, "%d/%d", &d, &n)
		if d == n {
			finals++
		}
		if d > n {
			t.Errorf("progress %s past its total", c)
		}
	}
	if finals != 4 {
		t.Errorf("want each of the 4 environments to reach total/total once, got %d: %v", finals, calls)
	}
}
