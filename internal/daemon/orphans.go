package daemon

import (
	"context"
	gosync "sync"
	"time"

	"github.com/flinksync/flinksync/internal/clusters"
	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/sync"
)

// orphanTimeout bounds the look for orphaned inventories: one list of
// ConfigMaps, or one read per namespace of the repository, per cluster.
const orphanTimeout = time.Minute

// findOrphans looks, after the passes of a new revision, for the
// inventories no environment of the repository syncs any more (removed,
// renamed, moved to another namespace or cluster): it logs a warning for
// each and keeps them for the status. Their objects keep running; the
// daemon never deletes them. Each cluster holds the inventories of its
// own environments and is looked at side by side with the others; a
// cluster that did not answer this round's probe (probed), or does not
// answer one now, is skipped, and keeps the orphans last found there.
func (d *Daemon) findOrphans(ctx context.Context, res *pipeline.Result, probed map[string]error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), orphanTimeout)
	defer cancel()
	var wg gosync.WaitGroup
	for _, name := range d.clusters.Names() {
		envs := map[string]string{}
		for _, e := range res.Repo.Environments {
			if e.Spec.Cluster == name {
				envs[e.Metadata.Name] = e.Spec.Namespace
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err, ok := probed[name]
			if !ok {
				err = d.probeCluster(ctx, name)
			}
			if err != nil {
				return // logged by the probe
			}
			sy, err := d.clusters.Syncer(name)
			if err != nil {
				return // removed meanwhile
			}
			list, err := sy.Orphans(ctx, envs)
			if err != nil {
				d.log.Warn("orphans", "cluster", clusters.DisplayName(name), "error", err.Error())
				return
			}
			for _, o := range list {
				d.log.Warn("orphan", "cluster", clusters.DisplayName(name), "environment", o.Environment, "namespace", o.Namespace, "message", o.Message)
			}
			d.mu.Lock()
			d.orphans[name] = list
			d.mu.Unlock()
		}()
	}
	wg.Wait()
}

// OrphanStatus is an orphaned inventory and the cluster it is on.
type OrphanStatus struct {
	Cluster string `json:"cluster"` // "default" for the default cluster
	sync.Orphan
}
