package daemon

import (
	"context"
	"fmt"

	"github.com/flinksync/flinksync/internal/cmf"
	"github.com/flinksync/flinksync/internal/cmf/cmfsync"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/sync"
)

// envSyncer is what syncs env this round: for target cmf, CMF's REST API
// (at the URL Config.CMFEndpoints gives env, else its spec.cmf.endpoint)
// with the credentials spec.cmf names (files, or Secrets read on env's
// cluster); else env's cluster's syncer. clusterErr is why env's cluster
// cannot be used this round: it fails a cmf environment only when its
// credentials are in Secrets there.
func (d *Daemon) envSyncer(ctx context.Context, env *model.Environment, clusterErr error) (sync.EnvSyncer, error) {
	name := env.Metadata.Name
	to, override := d.cfg.CMFEndpoints[name]
	if override && (env.Spec.Target != model.TargetCMF || env.Spec.CMF == nil) {
		// The flag was checked against no repository (the daemon starts
		// before it has one): an environment whose target changed fails
		// rather than syncing as if the override were not there.
		return nil, fmt.Errorf("--cmf-endpoint %s: environment %s has target %s, not cmf", name, name, env.Spec.Target)
	}
	k8s, err := d.clusters.For(env)
	if err == nil {
		err = clusterErr
	}
	if env.Spec.Target != model.TargetCMF {
		if err != nil {
			return nil, err
		}
		return k8s, nil
	}
	var secrets cmf.SecretReader
	if env.Spec.CMF.UsesSecrets() {
		if err != nil {
			return nil, err
		}
		secrets = k8s.ReadSecret
	}
	if override {
		// A copy: the revision's model stays as Git has it (the status
		// page and plan read it).
		e, spec := *env, *env.Spec.CMF
		spec.Endpoint = to
		e.Spec.CMF = &spec
		env = &e
	}
	return cmfsync.New(ctx, env, cmf.Sources{Secrets: secrets})
}
