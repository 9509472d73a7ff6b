package report

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

func TestThrottledMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.Throttled("10.0.0.1:6443", 300*time.Millisecond)
	m.Throttled("10.0.0.1:6443", 200*time.Millisecond)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "flinksync_client_throttled") {
			if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, want := range []string{`flinksync_client_throttled_seconds_total{host="10.0.0.1:6443"} 0.5`, `flinksync_client_throttled_requests_total{host="10.0.0.1:6443"} 2`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %s:\n%s", want, b.String())
		}
	}
}
