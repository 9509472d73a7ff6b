package report

import "github.com/prometheus/client_golang/prometheus"

// Forget drops every series of environment env, on whichever cluster, from
// the metrics: a replica that no longer syncs env (sharding gave it to
// another) would otherwise export its last figures until it restarts, and
// a sum over the replicas would count env twice, the new owner's live
// figures and these stale ones. The series that are not per environment
// (Git, alerts, clusters) stay.
func (m *Metrics) Forget(env string) {
	m.mu.Lock()
	delete(m.envOn, env)
	m.mu.Unlock()
	labels := prometheus.Labels{"environment": env}
	for _, v := range m.perEnvironment() {
		v.DeletePartialMatch(labels)
	}
	m.apps.forget(env)
}

// perEnvironment are the metrics with an environment label.
func (m *Metrics) perEnvironment() []interface {
	DeletePartialMatch(prometheus.Labels) int
} {
	return []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{m.reconcile, m.duration, m.drifted, m.dryRuns, m.managed, m.findings,
		m.upgrades.total, m.upgrades.inProgress}
}

// Forget drops the alerts of environment env that fire, sending nothing: the
// replica that syncs env now (sharding) observes it afresh and raises what
// still fires, and resolves it when fixed. A resolved notice from here would
// be wrong twice: the problem is not known to be gone, and Alertmanager
// would clear the alert the new owner has just raised with the same labels.
// Without a new owner sending them, firing alerts with a TTL expire in
// Alertmanager by themselves.
func (a *Alerter) Forget(env string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, al := range a.active {
		if al.Environment == env {
			delete(a.active, k)
		}
	}
}
