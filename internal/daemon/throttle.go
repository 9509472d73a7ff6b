package daemon

import (
	"time"
)

// throttled counts a request that waited for the client-side rate limit
// and logs it, at most once a minute per API server.
func (d *Daemon) throttled(host string, wait time.Duration) {
	d.metrics.Throttled(host, wait)
	d.throttleMu.Lock()
	defer d.throttleMu.Unlock()
	if d.throttleLogged == nil {
		d.throttleLogged = map[string]time.Time{}
	}
	if time.Since(d.throttleLogged[host]) < time.Minute {
		return
	}
	d.throttleLogged[host] = time.Now()
	d.log.Warn("client-side rate limit: requests wait for --qps/--burst; raise them if the API server has room (its priority and fairness protects it)",
		"host", host, "wait", wait.String())
}

// watchRefused logs a watch the API server refused: passes over that kind
// and namespace LIST instead, which costs the API server more on every
// pass, until the identity is granted watch (it is tried again every 10
// minutes).
func (d *Daemon) watchRefused(resource, namespace string, err error) {
	d.log.Warn("watch refused: passes LIST "+resource+" instead; grant the daemon's identity get, list and watch on it (the chart's RBAC does)",
		"resource", resource, "namespace", namespace, "error", err.Error())
}
