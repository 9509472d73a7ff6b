package report

import (
	gosync "sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flinksync/flinksync/internal/sizing"
	"github.com/flinksync/flinksync/internal/sync"
)

// appSeries are the gauges with a series per application,
// flinksync_app_health and flinksync_taskmanagers. They are kept as each
// environment's last values, a few words per app, and made into metrics
// only when scraped (as kube-state-metrics does): a GaugeVec's series cost
// about 1.4 KB each, 28 MB of the daemon's heap at 10,000 apps, and a
// pass replaced them all. An environment's values are replaced whole, so
// an app that is gone loses its series with the pass after.
type appSeries struct {
	health, taskManagers *prometheus.Desc

	mu   gosync.Mutex
	envs map[string]*envSeries
}

// envSeries are one environment's values and the cluster (display name)
// they were found on.
type envSeries struct {
	cluster      string
	health       []sync.AppHealth
	taskManagers []appCount
}

type appCount struct {
	app string
	n   int
}

func newAppSeries() *appSeries {
	return &appSeries{
		health: prometheus.NewDesc("flinksync_app_health",
			"1 for each application's current health status (Healthy, Progressing, Degraded, Unknown); one series per application.",
			[]string{"cluster", "environment", "app", "status"}, nil),
		taskManagers: prometheus.NewDesc("flinksync_taskmanagers",
			"TaskManagers sizing gives each application in each environment.", []string{"cluster", "environment", "app"}, nil),
		envs: map[string]*envSeries{},
	}
}

// env is environment env's values on cluster, emptied when it was on
// another cluster before. The caller holds a.mu.
func (a *appSeries) env(env, cluster string) *envSeries {
	e := a.envs[env]
	if e == nil || e.cluster != cluster {
		e = &envSeries{cluster: cluster}
		a.envs[env] = e
	}
	return e
}

func (a *appSeries) setHealth(env, cluster string, hs []sync.AppHealth) {
	kept := make([]sync.AppHealth, len(hs))
	for i, h := range hs {
		kept[i] = sync.AppHealth{App: h.App, Health: h.Health} // not the message
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.env(env, cluster).health = kept
}

func (a *appSeries) setTaskManagers(env, cluster string, rs []*sizing.Result) {
	kept := make([]appCount, len(rs))
	for i, r := range rs {
		kept[i] = appCount{app: r.App, n: r.TaskManagers}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.env(env, cluster).taskManagers = kept
}

// moved drops env's values when it is no longer on cluster.
func (a *appSeries) moved(env, cluster string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e := a.envs[env]; e != nil && e.cluster != cluster {
		delete(a.envs, env)
	}
}

// forget drops env's values.
func (a *appSeries) forget(env string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.envs, env)
}

func (a *appSeries) Describe(ch chan<- *prometheus.Desc) {
	ch <- a.health
	ch <- a.taskManagers
}

func (a *appSeries) Collect(ch chan<- prometheus.Metric) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for name, e := range a.envs {
		for _, h := range e.health {
			ch <- prometheus.MustNewConstMetric(a.health, prometheus.GaugeValue, 1, e.cluster, name, h.App, string(h.Health))
		}
		for _, c := range e.taskManagers {
			ch <- prometheus.MustNewConstMetric(a.taskManagers, prometheus.GaugeValue, float64(c.n), e.cluster, name, c.app)
		}
	}
}
