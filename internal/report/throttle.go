package report

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// throttleMetrics count the time requests waited for flinksync's own
// client-side rate limit (sync.Throttled): a pass slowed by --qps shows
// here, not only as a slower pass.
type throttleMetrics struct {
	seconds  *prometheus.CounterVec
	requests *prometheus.CounterVec
}

func newThrottleMetrics() *throttleMetrics {
	return &throttleMetrics{
		seconds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flinksync_client_throttled_seconds_total",
			Help: "Seconds requests to an API server waited for flinksync's client-side rate limit (--qps, --burst), counting waits over 50ms."}, []string{"host"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flinksync_client_throttled_requests_total",
			Help: "Requests to an API server that waited over 50ms for flinksync's client-side rate limit."}, []string{"host"}),
	}
}

func (t *throttleMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{t.seconds, t.requests}
}

// Throttled counts one request to host that waited d for the client-side
// rate limit.
func (m *Metrics) Throttled(host string, d time.Duration) {
	m.throttle.seconds.WithLabelValues(host).Add(d.Seconds())
	m.throttle.requests.WithLabelValues(host).Inc()
}
