package main

import (
	"context"

	"github.com/flinksync/flinksync/internal/clusters"
	"github.com/flinksync/flinksync/internal/cmf"
	"github.com/flinksync/flinksync/internal/cmf/cmfsync"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/sync"
)

// envSyncer is what syncs env: for target cmf, CMF's REST API (cmfSyncer);
// else env's cluster's syncer (syncerFor). w follows the pass's upgrades
// for apply --wait: the same syncer.
func (p *prepared) envSyncer(ctx context.Context, env *model.Environment) (sy sync.EnvSyncer, w upgradeWaiter, err error) {
	if env.Spec.Target == model.TargetCMF {
		c, err := cmfSyncer(ctx, env, func() (*sync.Syncer, error) { return p.syncerFor(ctx, env) })
		if err != nil {
			return nil, nil, err
		}
		return c, c, nil
	}
	k8s, err := p.syncerFor(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	return k8s, k8s, nil
}

// cmfSyncer is the syncer of a target: cmf environment, authenticated
// with the credentials spec.cmf names: files, or Secrets read in the
// environment's namespace on its cluster, which cluster gives (asked only
// when a Secret is named).
func cmfSyncer(ctx context.Context, env *model.Environment, cluster func() (*sync.Syncer, error)) (*cmfsync.Syncer, error) {
	var secrets cmf.SecretReader
	if cmfSecrets(env) {
		k, err := cluster()
		if err != nil {
			return nil, err
		}
		secrets = k.ReadSecret
	}
	return cmfsync.New(ctx, env, cmf.Sources{Secrets: secrets})
}

// cmfSecrets reports whether a cmf environment's credentials are in
// Kubernetes Secrets, so that its cluster is needed.
func cmfSecrets(env *model.Environment) bool {
	return env.Spec.Target == model.TargetCMF && env.Spec.CMF.UsesSecrets()
}

// liveDiffer compares an environment with where it lives, for plan
// --live: CMF for target cmf, else its cluster.
type liveDiffer struct{ set *clusters.Set }

func (d liveDiffer) Diff(ctx context.Context, env *model.Environment, out *render.Environment) ([]sync.ObjectDiff, error) {
	if env.Spec.Target != model.TargetCMF {
		return d.set.Diff(ctx, env, out)
	}
	c, err := cmfSyncer(ctx, env, func() (*sync.Syncer, error) { return d.set.For(env) })
	if err != nil {
		return nil, err
	}
	return c.Diff(ctx, env, out)
}
