package report

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flinksync/flinksync/internal/buildinfo"
)

func TestBuildInfoMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewMetrics(reg)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := buildinfo.Get()
	for _, mf := range mfs {
		if mf.GetName() != "flinksync_build_info" {
			continue
		}
		m := mf.GetMetric()[0]
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if m.GetGauge().GetValue() != 1 || labels["version"] != want.Version || labels["commit"] != want.Commit || !strings.HasPrefix(labels["goversion"], "go") {
			t.Errorf("flinksync_build_info %v = %v, want version %s commit %s", labels, m.GetGauge().GetValue(), want.Version, want.Commit)
		}
		return
	}
	t.Fatal("NewMetrics registers no flinksync_build_info")
}
