package daemon

import (
	"context"

	"github.com/flinksync/flinksync/internal/cmf"
	"github.com/flinksync/flinksync/internal/cmf/cmfsync"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/sync"
)

// envSyncer is what syncs env this round: for target cmf, CMF's REST API
// with the credentials spec.cmf names (files, or Secrets read on env's
// cluster); else env's cluster's syncer. clusterErr is why env's cluster
// cannot be used this round: it fails a cmf environment only when its
// credentials are in Secrets there.
func (d *Daemon) envSyncer(ctx context.Context, env *model.Environment, clusterErr error) (sync.EnvSyncer, error) {
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
	return cmfsync.New(ctx, env, cmf.Sources{Secrets: secrets})
}
