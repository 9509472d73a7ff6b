package report

import (
	gosync "sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/flinksync/flinksync/internal/buildinfo"
	"github.com/flinksync/flinksync/internal/clusters"
	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/sizing"
	"github.com/flinksync/flinksync/internal/sync"
)

// Reconcile results, the values of the result label.
const (
	ResultSuccess = "success"
	ResultFailed  = "failed"
	ResultBlocked = "blocked"
)

// Metrics are the daemon's Prometheus metrics; docs/metrics.md describes
// each one.
type Metrics struct {
	reconcile   *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	drifted     *prometheus.GaugeVec
	dryRuns     *prometheus.CounterVec
	managed     *prometheus.GaugeVec
	findings    *prometheus.GaugeVec
	gitRequests *prometheus.CounterVec
	gitErrors   *prometheus.CounterVec
	sourceUp    prometheus.Gauge
	revision    *prometheus.GaugeVec
	// flinksync_app_health and flinksync_taskmanagers (appseries.go).
	apps *appSeries
	// Alert delivery (AlertQueue).
	alertsSent    *prometheus.CounterVec
	alertFailures *prometheus.CounterVec
	alertsDropped *prometheus.CounterVec
	alertQueue    *prometheus.GaugeVec
	// The daemon's pass deadline and readiness.
	lastPass     prometheus.Gauge
	passTimeouts *prometheus.CounterVec
	abandoned    prometheus.Gauge
	// The jobs' upgrades (upgrades.go).
	upgrades *upgradeMetrics
	// Waits for the client-side rate limit (throttle.go).
	throttle *throttleMetrics
	// Each cluster's reachability, and the cluster each environment was
	// last synced on (an environment that moves loses its old series).
	clusterUp *prometheus.GaugeVec
	mu        gosync.Mutex
	envOn     map[string]string
}

// NewMetrics makes the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reconcile: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flinksync_reconcile_total",
			Help: "Sync passes per environment, by result: success, failed (apply, prune or cluster errors, conflicts) or blocked (load, policy or render errors)."},
			[]string{"cluster", "environment", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "flinksync_reconcile_duration_seconds",
			Help:    "Duration of one sync pass of an environment.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}}, []string{"cluster", "environment"}),
		drifted: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flinksync_drifted_objects",
			Help: "Objects whose live state differs from Git on a field flinksync owns, as found by the last pass."}, []string{"cluster", "environment"}),
		dryRuns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flinksync_dry_run_requests_total",
			Help: "Server-side dry runs sync passes sent to learn whether objects the local comparison found maybe different really differ."}, []string{"cluster", "environment"}),
		managed: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flinksync_managed_objects",
			Help: "Objects flinksync manages in an environment, by kind."}, []string{"cluster", "environment", "kind"}),
		findings: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flinksync_policy_findings",
			Help: "Load and policy findings of the current revision (waived ones not counted), by severity."}, []string{"cluster", "environment", "severity"}),
		gitRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flinksync_git_requests_total",
			Help: "Requests to the Git remote, by type: ls-remote (head check) or fetch."}, []string{"type"}),
		gitErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flinksync_git_errors_total",
			Help: "Failed requests to the Git remote, by type."}, []string{"type"}),
		sourceUp: prometheus.NewGauge(prometheus.GaugeOpts{Name: "flinksync_source_up",
			Help: "1 when the last request to the Git remote succeeded, else 0."}),
		revision: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flinksync_source_revision_info",
			Help: "The Git revision the daemon rendered last (value 1)."}, []string{"revision"}),
		apps: newAppSeries(),
		alertsSent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flinksync_alerts_sent_total",
			Help: "Alert notifications a webhook accepted, by target (the URL's host) and alert."}, []string{"target", "alert"}),
		alertFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flinksync_alert_failures_total",
			Help: "Failed attempts to deliver an alert notification, by target and reason (timeout, network, http_4xx, http_5xx)."},
			[]string{"target", "reason"}),
		alertsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flinksync_alerts_dropped_total",
			Help: "Alert notifications given up, by target and reason (attempts, rejected, queue_full, encode, shutdown)."},
			[]string{"target", "reason"}),
		alertQueue: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flinksync_alert_queue_length",
			Help: "Alert notifications waiting or being delivered, by target."}, []string{"target"}),
		lastPass: prometheus.NewGauge(prometheus.GaugeOpts{Name: "flinksync_last_pass_completed_timestamp_seconds",
			Help: "Unix time at which the leader last completed a pass (a head check, a revision rendered and synced, or a drift pass) within --pass-timeout."}),
		passTimeouts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flinksync_pass_timeouts_total",
			Help: "Passes cut off by --pass-timeout, by stage (source, render, sync)."}, []string{"stage"}),
		abandoned: prometheus.NewGauge(prometheus.GaugeOpts{Name: "flinksync_abandoned_renders",
			Help: "Renders cut off by --pass-timeout that have not returned yet (they cannot be interrupted; each holds CPU and memory until it ends)."}),
		upgrades: newUpgradeMetrics(),
		clusterUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flinksync_cluster_up",
			Help: "1 when the cluster answered the daemon's last probe, else 0 (unreachable, or backing off after failures), by cluster (\"default\" for the default one)."},
			[]string{"cluster"}),
		envOn: map[string]string{},
	}
	reg.MustRegister(m.reconcile, m.duration, m.drifted, m.dryRuns, m.managed, m.findings, m.gitRequests, m.gitErrors,
		m.sourceUp, m.revision, m.apps, m.alertsSent, m.alertFailures, m.alertsDropped, m.alertQueue,
		m.lastPass, m.passTimeouts, m.abandoned, m.clusterUp)
	m.throttle = newThrottleMetrics()
	reg.MustRegister(m.throttle.collectors()...)
	reg.MustRegister(m.upgrades.collectors()...)
	registerBuildInfo(reg, buildinfo.Get())
	// The Go runtime's (go_*: heap, garbage collection, goroutines) and
	// the process's (process_*: resident memory, CPU, open files), as
	// every Go exporter has them.
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// GitRequest counts a request to the Git remote and whether it failed.
func (m *Metrics) GitRequest(kind string, err error) {
	m.gitRequests.WithLabelValues(kind).Inc()
	if err != nil {
		m.gitErrors.WithLabelValues(kind).Inc()
		m.sourceUp.Set(0)
		return
	}
	m.sourceUp.Set(1)
}

// GitCall counts a request before its outcome is known.
func (m *Metrics) GitCall(kind string) { m.gitRequests.WithLabelValues(kind).Inc() }

// GitFailed records a failed request to the remote.
func (m *Metrics) GitFailed(kind string) {
	m.gitErrors.WithLabelValues(kind).Inc()
	m.sourceUp.Set(0)
}

// GitOK records that the remote answered.
func (m *Metrics) GitOK() { m.sourceUp.Set(1) }

// Revision sets the revision the daemon rendered last.
func (m *Metrics) Revision(rev string) {
	m.revision.Reset()
	m.revision.WithLabelValues(rev).Set(1)
}

// Findings sets the finding counts of one environment on cluster (its
// display name).
func (m *Metrics) Findings(env, cluster string, fs []*diag.Finding) {
	var errs, warns float64
	for _, f := range fs {
		if f.Waived || (f.Environment != "" && f.Environment != env) {
			continue
		}
		if f.Severity == diag.Error {
			errs++
		} else {
			warns++
		}
	}
	m.on(env, cluster)
	m.findings.WithLabelValues(cluster, env, string(diag.Error)).Set(errs)
	m.findings.WithLabelValues(cluster, env, string(diag.Warning)).Set(warns)
}

// TaskManagers sets the sized TaskManager counts of environment env's
// apps, rs: an app not in rs has no series.
func (m *Metrics) TaskManagers(env, cluster string, rs []*sizing.Result) {
	m.on(env, cluster)
	m.apps.setTaskManagers(env, cluster, rs)
}

// on notes that env is on cluster: when it was on another one before, its
// gauges there are dropped, so that no environment is counted twice.
func (m *Metrics) on(env, cluster string) {
	m.mu.Lock()
	prev, ok := m.envOn[env]
	m.envOn[env] = cluster
	m.mu.Unlock()
	if !ok || prev == cluster {
		return
	}
	old := prometheus.Labels{"cluster": prev, "environment": env}
	for _, g := range []*prometheus.GaugeVec{m.drifted, m.managed, m.findings} {
		g.DeletePartialMatch(old)
	}
	m.apps.moved(env, cluster)
}

// ClusterUp sets whether cluster (its display name) answered its probe.
func (m *Metrics) ClusterUp(cluster string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.clusterUp.WithLabelValues(cluster).Set(v)
}

// ClusterRemoved drops the series of a cluster the daemon no longer has.
func (m *Metrics) ClusterRemoved(cluster string) {
	m.clusterUp.DeleteLabelValues(cluster)
}

// Pass records one sync pass of an environment.
func (m *Metrics) Pass(r *sync.Result) {
	result := ResultSuccess
	switch {
	case len(r.Blocked) > 0:
		result = ResultBlocked
	case !r.OK():
		result = ResultFailed
	}
	c := clusters.DisplayName(r.Cluster)
	m.on(r.Environment, c)
	m.reconcile.WithLabelValues(c, r.Environment, result).Inc()
	m.duration.WithLabelValues(c, r.Environment).Observe(r.Duration.Seconds())
	m.dryRuns.WithLabelValues(c, r.Environment).Add(float64(r.DryRuns))
	if len(r.Blocked) > 0 {
		return // nothing was read from the cluster
	}
	objs := map[string]bool{}
	for _, d := range r.Drift {
		objs[d.ID()] = true
	}
	m.drifted.WithLabelValues(c, r.Environment).Set(float64(len(objs)))
	m.upgrades.pass(r)
	kinds := map[string]int{}
	for _, c := range r.Changes {
		switch c.Action {
		case sync.Pruned, sync.Failed:
		default:
			kinds[c.Kind]++
		}
	}
	m.managed.DeletePartialMatch(prometheus.Labels{"environment": r.Environment})
	for k, n := range kinds {
		m.managed.WithLabelValues(c, r.Environment, k).Set(float64(n))
	}
	// One series per application, its current status at 1 (as Argo CD's
	// argocd_app_info): a 0 for each other status was three series more
	// per app, 30,000 at 10,000 apps, which neither the alert
	// (status="Degraded" > 0) nor a dashboard needs.
	m.apps.setHealth(r.Environment, c, r.Health)
}

// AlertSent counts one attempt to deliver an alert to target without the
// queue (one try, no retry).
func (m *Metrics) AlertSent(target, alert string, err error) {
	if err != nil {
		m.alertFailures.WithLabelValues(target, failureReason(err)).Inc()
		return
	}
	m.alertsSent.WithLabelValues(target, alert).Inc()
}

// PassCompleted records the time a pass completed within its deadline.
func (m *Metrics) PassCompleted(at time.Time) { m.lastPass.Set(float64(at.UnixNano()) / 1e9) }

// PassTimedOut counts a pass cut off by its deadline in stage.
func (m *Metrics) PassTimedOut(stage string) { m.passTimeouts.WithLabelValues(stage).Inc() }

// AbandonedRenders sets the number of renders cut off that still run.
func (m *Metrics) AbandonedRenders(n int) { m.abandoned.Set(float64(n)) }

// sortedKeys is used by the alert formats.
