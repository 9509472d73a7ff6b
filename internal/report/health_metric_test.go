package report

import (
	"slices"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flinksync/flinksync/internal/sizing"
	"github.com/flinksync/flinksync/internal/sync"
)

// appSeriesOf are the series of the per-app metric name in reg, as
// "cluster/environment/app status value" (status only for health), sorted.
func appSeriesOf(t *testing.T, reg *prometheus.Registry, name string) []string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.Metric {
			l := map[string]string{}
			for _, p := range s.Label {
				l[p.GetName()] = p.GetValue()
			}
			id := l["cluster"] + "/" + l["environment"] + "/" + l["app"]
			if st, ok := l["status"]; ok {
				id += " " + st
			}
			out = append(out, id+" "+strconv.FormatFloat(s.GetGauge().GetValue(), 'g', -1, 64))
		}
	}
	slices.Sort(out)
	return out
}

// flinksync_app_health has one series per application, its current status
// at 1: a status change replaces the series, and the others never exist
// (at 10,000 apps, four series each were 40,000). An app that is gone, or
// an environment that moved to another cluster, leaves no series behind.
func TestAppHealthIsOneSeriesPerApp(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	pass := func(cluster string, hs ...sync.AppHealth) {
		m.Pass(&sync.Result{Environment: "prod", Cluster: cluster, Health: hs})
	}
	orders := func(h sync.Health) sync.AppHealth { return sync.AppHealth{App: "orders", Health: h} }
	billing := sync.AppHealth{App: "billing", Health: sync.Healthy}
	check := func(when string, want ...string) {
		t.Helper()
		if got := appSeriesOf(t, reg, "flinksync_app_health"); !slices.Equal(got, want) {
			t.Errorf("%s: series %q, want %q", when, got, want)
		}
	}
	pass("", orders(sync.Degraded), billing)
	check("first pass", "default/prod/billing Healthy 1", "default/prod/orders Degraded 1")
	pass("", orders(sync.Healthy), billing)
	check("after orders recovered", "default/prod/billing Healthy 1", "default/prod/orders Healthy 1")
	pass("", orders(sync.Healthy))
	check("after billing was removed", "default/prod/orders Healthy 1")
	pass("b", orders(sync.Progressing))
	check("after prod moved to cluster b", "b/prod/orders Progressing 1")
}

// flinksync_taskmanagers has one series per sized app of an environment,
// the apps of its last sizing only.
func TestTaskManagersAreTheLastSizing(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	check := func(when string, want ...string) {
		t.Helper()
		if got := appSeriesOf(t, reg, "flinksync_taskmanagers"); !slices.Equal(got, want) {
			t.Errorf("%s: series %q, want %q", when, got, want)
		}
	}
	m.TaskManagers("prod", "default", []*sizing.Result{{App: "orders", TaskManagers: 3}, {App: "billing", TaskManagers: 1}})
	m.TaskManagers("test", "default", []*sizing.Result{{App: "orders", TaskManagers: 1}})
	check("sized", "default/prod/billing 1", "default/prod/orders 3", "default/test/orders 1")
	m.TaskManagers("prod", "default", []*sizing.Result{{App: "orders", TaskManagers: 4}})
	check("billing removed, orders resized", "default/prod/orders 4", "default/test/orders 1")
	m.TaskManagers("prod", "b", []*sizing.Result{{App: "orders", TaskManagers: 4}})
	check("prod moved to b", "b/prod/orders 4", "default/test/orders 1")
}
