package report

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/flinksync/flinksync/internal/clusters"
	"github.com/flinksync/flinksync/internal/sync"
)

// upgradeResults are the values of flinksync_upgrades_total's result
// label: how an upgrade ended (sync.UpgradeState).
var upgradeResults = []sync.UpgradeState{sync.UpgradeSucceeded, sync.UpgradeFailed, sync.UpgradeRolledBack, sync.UpgradeTimedOut}

// upgradeMetrics count the jobs' upgrades (sync.Upgrade): how each ended,
// and how many are under way.
type upgradeMetrics struct {
	total      *prometheus.CounterVec
	inProgress *prometheus.GaugeVec
}

func newUpgradeMetrics() *upgradeMetrics {
	return &upgradeMetrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flinksync_upgrades_total",
			Help: "Upgrades of jobs (a spec change flinksync applied, or a first deploy) that ended, by result: succeeded (healthy on the new spec), failed, rolled_back (FKO rolled back to the last stable spec) or timed_out (not healthy within 10m)."},
			[]string{"cluster", "environment", "result"}),
		inProgress: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flinksync_upgrades_in_progress",
			Help: "Upgrades of jobs flinksync applied that have not yet ended, as found by the last pass."}, []string{"cluster", "environment"}),
	}
}

func (m *upgradeMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.total, m.inProgress}
}

// pass counts the upgrades that ended in r and sets those in progress. A
// pass that learnt nothing of the cluster (it failed before it read the
// jobs) leaves the gauge as it was.
func (m *upgradeMetrics) pass(r *sync.Result) {
	c := clusters.DisplayName(r.Cluster)
	for _, s := range upgradeResults {
		m.total.WithLabelValues(c, r.Environment, string(s)) // a series from the first pass, for rate() and increase()
	}
	open := 0
	for _, u := range r.Upgrades {
		if u.State.Settled() {
			m.total.WithLabelValues(c, r.Environment, string(u.State)).Inc()
		} else {
			open++
		}
	}
	if len(r.Health) == 0 && len(r.Errors) > 0 {
		return
	}
	m.inProgress.WithLabelValues(c, r.Environment).Set(float64(open))
}

// AlertUpgradeFailed: an upgrade flinksync applied failed, was rolled
// back by FKO, or did not become healthy within sync.UpgradeTimeout. It
// fires once per job and resolves when a later upgrade of the job
// succeeds or the job is Healthy again (or gone from Git).
const AlertUpgradeFailed = "UpgradeFailed"

// upgradeAlerts adds an UpgradeFailed alert for each upgrade that ended
// badly in r.
func upgradeAlerts(r *sync.Result, add func(Alert)) {
	for _, u := range r.Upgrades {
		if !u.State.Failed() {
			continue
		}
		what := "upgrade failed"
		switch u.State {
		case sync.UpgradeRolledBack:
			what = "upgrade failed and FKO rolled it back to the last stable spec"
		case sync.UpgradeTimedOut:
			what = "upgrade did not become healthy in " + sync.UpgradeTimeout.String()
		}
		add(Alert{Kind: AlertUpgradeFailed, App: u.Job,
			Summary: fmt.Sprintf("%s in %s: %s (%s generation %d)", u.Job, r.Environment, what, u.ID(), u.Generation),
			Details: []string{u.Message}})
	}
}

// keepUpgradeAlert reports whether an UpgradeFailed alert of job app stays
// firing after pass r: until an upgrade of it succeeds, or it is Healthy,
// or Git no longer has it (listed is false).
func keepUpgradeAlert(r *sync.Result, app string, h sync.Health, listed bool) bool {
	for _, u := range r.Upgrades {
		if u.Job == app && u.State == sync.UpgradeSucceeded {
			return false
		}
	}
	return listed && h != sync.Healthy
}

// Event reasons of the jobs' upgrades, on the inventory ConfigMap as the
// others.
const (
	ReasonUpgradeSucceeded = "UpgradeSucceeded"
	ReasonUpgradeFailed    = "UpgradeFailed"
)

// upgradeEvents records an Event for each upgrade that ended in r: Normal
// when it succeeded, Warning when it failed, was rolled back or timed out.
// r is masked already.
func upgradeEvents(rec record.EventRecorder, ref *corev1.ObjectReference, r *sync.Result) {
	for _, u := range r.Upgrades {
		switch {
		case u.State == sync.UpgradeSucceeded:
			rec.Event(ref, corev1.EventTypeNormal, ReasonUpgradeSucceeded, clip(u.String()))
		case u.State.Failed():
			rec.Event(ref, corev1.EventTypeWarning, ReasonUpgradeFailed, clip(u.String()))
		}
	}
}
