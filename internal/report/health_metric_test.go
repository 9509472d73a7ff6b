package report

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flinksync/flinksync/internal/sync"
)

// flinksync_app_health has one series per application, its current status
// at 1: a status change replaces the series, and the others never exist
// (at 10,000 apps, four series each were 40,000).
func TestAppHealthIsOneSeriesPerApp(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	series := func() []string {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, mf := range mfs {
			if mf.GetName() != "flinksync_app_health" {
				continue
			}
			for _, s := range mf.Metric {
				l := map[string]string{}
				for _, p := range s.Label {
					l[p.GetName()] = p.GetValue()
				}
				out = append(out, l["environment"]+"/"+l["app"]+" "+l["status"]+" "+map[bool]string{true: "1", false: "0"}[s.GetGauge().GetValue() == 1])
			}
		}
		slices.Sort(out)
		return out
	}
	pass := func(orders, billing sync.Health) {
		m.Pass(&sync.Result{Environment: "prod", Health: []sync.AppHealth{{App: "orders", Health: orders}, {App: "billing", Health: billing}}})
	}
	pass(sync.Degraded, sync.Healthy)
	if got, want := series(), []string{"prod/billing Healthy 1", "prod/orders Degraded 1"}; !slices.Equal(got, want) {
		t.Errorf("series %q, want %q", got, want)
	}
	pass(sync.Healthy, sync.Healthy)
	if got, want := series(), []string{"prod/billing Healthy 1", "prod/orders Healthy 1"}; !slices.Equal(got, want) {
		t.Errorf("after orders recovered: series %q, want %q", got, want)
	}
}
