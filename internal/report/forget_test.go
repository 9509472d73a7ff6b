package report

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/sizing"
	"github.com/flinksync/flinksync/internal/sync"
)

// A forgotten environment exports no series, on any cluster it was seen
// on; the other environments keep theirs.
func TestForgetDropsEverySeriesOfTheEnvironment(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	pass := func(env, cluster string) {
		id := sync.ObjectID{Kind: "FlinkDeployment", Name: "orders"}
		m.Pass(&sync.Result{Environment: env, Cluster: cluster, Duration: time.Second, DryRuns: 1,
			Changes:  []sync.Change{{ObjectID: id, Action: sync.Created}},
			Drift:    []sync.Drift{{Environment: env, ObjectID: id, Field: "spec.job.parallelism"}},
			Health:   []sync.AppHealth{{App: "orders", Health: sync.Progressing}},
			Upgrades: []sync.Upgrade{{ObjectID: id, Job: "orders", State: sync.UpgradeInProgress}}})
		m.Findings(env, cluster, []*diag.Finding{{Severity: diag.Warning}})
		m.TaskManagers(env, cluster, []*sizing.Result{{App: "orders", TaskManagers: 2}})
	}
	pass("prod", "")
	pass("prod", "b") // moved to cluster b: its series on default go, b's come
	pass("test", "")
	series := func(env string) map[string]int {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, mf := range mfs {
			for _, s := range mf.Metric {
				for _, l := range s.Label {
					if l.GetName() == "environment" && l.GetValue() == env {
						out[mf.GetName()]++
					}
				}
			}
		}
		return out
	}
	before := series("prod")
	for _, name := range []string{"flinksync_reconcile_total", "flinksync_reconcile_duration_seconds", "flinksync_drifted_objects",
		"flinksync_dry_run_requests_total", "flinksync_managed_objects", "flinksync_policy_findings", "flinksync_app_health",
		"flinksync_taskmanagers", "flinksync_upgrades_total", "flinksync_upgrades_in_progress"} {
		if before[name] == 0 {
			t.Errorf("no series of %s for prod before Forget: the test does not cover it", name)
		}
	}
	keep := series("test")
	m.Forget("prod")
	if left := series("prod"); len(left) > 0 {
		t.Errorf("series of prod after Forget: %v", left)
	}
	if got := series("test"); len(got) != len(keep) {
		t.Errorf("series of test after Forget(prod): %v, want %v", got, keep)
	}
	// Synced again (the environment came back to this replica), it starts
	// afresh, on its cluster.
	pass("prod", "b")
	if got := value(m.reconcile.WithLabelValues("b", "prod", ResultSuccess)); got != 1 {
		t.Errorf("flinksync_reconcile_total of prod after it came back = %v, want 1", got)
	}
}

// A forgotten environment's alerts are no longer active, and are not
// resolved: the replica that syncs it now owns them.
func TestAlerterForgetSendsNothing(t *testing.T) {
	a := &Alerter{Metrics: NewMetrics(prometheus.NewRegistry())}
	drifted := func(env string) *sync.Result {
		return &sync.Result{Environment: env, Drift: []sync.Drift{{Environment: env, ObjectID: sync.ObjectID{Kind: "FlinkDeployment", Name: "orders"}, Field: "spec.job.parallelism"}},
			Health: []sync.AppHealth{{App: "orders", Health: sync.Healthy}}}
	}
	a.Observe(context.Background(), drifted("prod"))
	a.Observe(context.Background(), drifted("test"))
	a.Forget("prod")
	active := a.Active()
	if len(active) != 1 || active[0].Environment != "test" {
		t.Fatalf("active after Forget(prod): %+v", active)
	}
	// prod synced clean here later: nothing of the forgotten alert to resolve.
	if sent := a.Observe(context.Background(), &sync.Result{Environment: "prod", Health: []sync.AppHealth{{App: "orders", Health: sync.Healthy}}}); len(sent) != 0 {
		t.Errorf("sent after Forget: %+v", sent)
	}
}
