package daemon

import (
	"context"
	"time"

	"github.com/flinksync/flinksync/internal/pipeline"
)

// orphanTimeout bounds the look for orphaned inventories: one list of
// ConfigMaps, or one read per namespace of the repository.
const orphanTimeout = time.Minute

// findOrphans looks, after the passes of a new revision, for the
// inventories no environment of the repository syncs any more (removed,
// renamed or moved): it logs a warning for each and keeps them for the
// status. Their objects keep running; the daemon never deletes them.
func (d *Daemon) findOrphans(ctx context.Context, res *pipeline.Result) {
	envs := map[string]string{}
	for _, e := range res.Repo.Environments {
		envs[e.Metadata.Name] = e.Spec.Namespace
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), orphanTimeout)
	defer cancel()
	list, err := d.syncer.Orphans(ctx, envs)
	if err != nil {
		d.log.Warn("orphans", "error", err.Error())
		return
	}
	for _, o := range list {
		d.log.Warn("orphan", "environment", o.Environment, "namespace", o.Namespace, "message", o.Message)
	}
	d.mu.Lock()
	d.orphans = list
	d.mu.Unlock()
}
