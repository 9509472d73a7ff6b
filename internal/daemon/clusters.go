package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	gosync "sync"
	"time"

	"github.com/flinksync/flinksync/internal/clusters"
	"github.com/flinksync/flinksync/internal/redact"
)

// newClusterSet is the daemon's clusters: the default one (RestConfig),
// and the named ones of cfg.Clusters, or of cfg.ClustersDir (read at once
// and again before every round). Each cluster's requests are bounded by
// the request timeout of the clusters package or the pass deadline,
// whichever is shorter; the default cluster's by the pass deadline, as
// before there were several.
func newClusterSet(cfg Config) (*clusters.Set, error) {
	if cfg.ClustersDir != "" && len(cfg.Clusters) > 0 {
		return nil, errors.New("named clusters come either from a clusters directory or from --cluster flags, not both")
	}
	set := clusters.New(clusters.Options{Timeout: min(cfg.PassTimeout, clusters.DefaultTimeout), QPS: cfg.QPS, Burst: cfg.Burst})
	if err := set.Add(clusters.Default, cfg.RestConfig, "default", ""); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(cfg.Clusters))
	for n := range cfg.Clusters {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		rc, fp, err := clusters.LoadKubeconfig(cfg.Clusters[name])
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", name, err)
		}
		if err := set.Add(name, rc, cfg.Clusters[name], fp); err != nil {
			return nil, err
		}
	}
	if cfg.ClustersDir != "" {
		// A cluster whose kubeconfig does not load fails its own
		// environments; the daemon starts anyway (refreshClusters logs it).
		_, _, _ = set.SyncDir(cfg.ClustersDir)
	}
	return set, nil
}

// refreshClusters reads the clusters directory again: clusters added are
// synced from this round on, the environments of clusters removed fail
// as naming an unknown cluster, a rotated kubeconfig gets a new client.
func (d *Daemon) refreshClusters() {
	if d.cfg.ClustersDir == "" {
		return
	}
	added, removed, errs := d.clusters.SyncDir(d.cfg.ClustersDir)
	for _, n := range added {
		d.log.Info("cluster added", "cluster", n, "clustersDir", d.cfg.ClustersDir)
	}
	for _, n := range removed {
		d.log.Warn("cluster removed: its environments fail until it is back", "cluster", n, "clustersDir", d.cfg.ClustersDir)
		d.metrics.ClusterRemoved(n)
	}
	msgs := make([]string, 0, len(errs))
	for _, err := range errs {
		msgs = append(msgs, redact.Text(err.Error()))
	}
	d.mu.Lock()
	for _, n := range removed {
		delete(d.probes, n)
		delete(d.orphans, n)
	}
	changed := !slices.Equal(msgs, d.dirErrs)
	d.dirErrs = msgs
	d.mu.Unlock()
	if changed {
		// Once per change, not once per round.
		for _, m := range msgs {
			d.log.Error("clusters directory", "error", m)
		}
	}
}

// probe is a cluster's last reachability probe.
type probe struct {
	at  time.Time
	err error
}

// probeClusters probes the named clusters side by side (clusters.Set
// Reachable: within the probe timeout, or no request at all while a
// cluster backs off) and returns each one's outcome.
func (d *Daemon) probeClusters(ctx context.Context, names map[string]bool) map[string]error {
	ctx, cancel := d.untilDeadline(ctx)
	defer cancel()
	out := make(map[string]error, len(names))
	var mu gosync.Mutex
	var wg gosync.WaitGroup
	for name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := d.probeCluster(ctx, name)
			mu.Lock()
			out[name] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// probeCluster probes one cluster, sets flinksync_cluster_up and logs a
// change of state.
func (d *Daemon) probeCluster(ctx context.Context, name string) error {
	err := d.clusters.Reachable(ctx, name)
	if errors.Is(err, clusters.ErrUnknownCluster) {
		return err // not a cluster of the Set: no metric, no state
	}
	d.metrics.ClusterUp(clusters.DisplayName(name), err == nil)
	d.mu.Lock()
	prev, seen := d.probes[name]
	d.probes[name] = probe{at: time.Now(), err: err}
	d.mu.Unlock()
	switch {
	case err != nil && (!seen || prev.err == nil):
		d.log.Error("cluster unreachable: its environments fail until it answers", "cluster", clusters.DisplayName(name), "error", err.Error())
	case err == nil && seen && prev.err != nil:
		d.log.Info("cluster reachable again", "cluster", clusters.DisplayName(name))
	}
	return err
}

// clusterHung reports whether cluster name's last failure was a timeout:
// it accepts connections and does not answer, rather than refusing them.
func (d *Daemon) clusterHung(name string) bool {
	st, ok := d.clusters.State(name)
	if !ok || st.LastError == nil {
		return false
	}
	var ne net.Error
	return errors.Is(st.LastError, context.DeadlineExceeded) || (errors.As(st.LastError, &ne) && ne.Timeout())
}

// ClusterStatus is one cluster as the daemon last saw it.
type ClusterStatus struct {
	Name string `json:"name"` // "default" for the default cluster
	// Source is where its credentials come from: a kubeconfig's path, or
	// "default" (--kubeconfig, KUBECONFIG or in-cluster).
	Source string `json:"source"`
	// Reachable is the outcome of its last probe (false before the first).
	Reachable bool      `json:"reachable"`
	LastProbe time.Time `json:"lastProbe"`
	// BackingOffUntil is when it is tried again after Failures probes in a
	// row failed; its environments fail at once until then.
	BackingOffUntil time.Time `json:"backingOffUntil"`
	Failures        int       `json:"consecutiveFailures"`
	LastError       string    `json:"lastError,omitempty"` // masked
	Environments    []string  `json:"environments"`
}

// clusterStatus is the status of every cluster of the Set. d.mu is held.
func (d *Daemon) clusterStatus() []ClusterStatus {
	byCluster := map[string][]string{}
	if d.current != nil {
		for _, e := range d.current.Repo.Environments {
			byCluster[e.Spec.Cluster] = append(byCluster[e.Spec.Cluster], e.Metadata.Name)
		}
	}
	out := []ClusterStatus{}
	for _, name := range d.clusters.Names() {
		st, ok := d.clusters.State(name)
		if !ok {
			continue
		}
		c := ClusterStatus{Name: clusters.DisplayName(name), Source: redact.Text(st.Source), Failures: st.Failures,
			BackingOffUntil: st.BackingOffUntil, Environments: byCluster[name]}
		if c.Environments == nil {
			c.Environments = []string{}
		}
		sort.Strings(c.Environments)
		if p, ok := d.probes[name]; ok {
			c.Reachable, c.LastProbe = p.err == nil, p.at
		}
		if st.LastError != nil {
			c.LastError = redact.Text(st.LastError.Error())
		}
		out = append(out, c)
	}
	return out
}
