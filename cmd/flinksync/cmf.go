package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

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
		c, err := cmfSyncer(ctx, p.cmf.apply(env), func() (*sync.Syncer, error) { return p.syncerFor(ctx, env) })
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
type liveDiffer struct {
	set *clusters.Set
	// endpoints are --cmf-endpoint's.
	endpoints cmfEndpoints
}

func (d liveDiffer) Diff(ctx context.Context, env *model.Environment, out *render.Environment) ([]sync.ObjectDiff, error) {
	if env.Spec.Target != model.TargetCMF {
		return d.set.Diff(ctx, env, out)
	}
	c, err := cmfSyncer(ctx, d.endpoints.apply(env), func() (*sync.Syncer, error) { return d.set.For(env) })
	if err != nil {
		return nil, err
	}
	return c.Diff(ctx, env, out)
}

// cmfEndpoints are --cmf-endpoint ENV=URL, by environment: the CMF a
// target: cmf environment is synced with instead of its spec.cmf.endpoint.
// One repository may be applied at several sites whose CMF answers at
// different addresses, and the demo and the tests point the example's cmf
// environment at a CMF stand-in on a local port without editing it. The
// flag changes where flinksync connects, not how: the URL must be https://
// (flinksync never sends CMF credentials in clear, whatever policy
// waives), and the credentials are still those spec.cmf names. run gives
// them to the daemon (daemon.Config.CMFEndpoints), which applies them itself.
type cmfEndpoints map[string]string

// registerCMFEndpointFlag adds --cmf-endpoint ENV=URL (repeatable).
func registerCMFEndpointFlag(cmd *cobra.Command, to *[]string) {
	cmd.Flags().StringArrayVar(to, "cmf-endpoint", nil,
		"ENV=URL: sync target: cmf environment ENV with the CMF at URL (https://) instead of its spec.cmf.endpoint, e.g. a site's own CMF or a test stand-in (repeatable)")
}

// parseCMFEndpoints reads --cmf-endpoint's values.
func parseCMFEndpoints(flags []string) (cmfEndpoints, error) {
	out := cmfEndpoints{}
	for _, v := range flags {
		name, raw, ok := strings.Cut(v, "=")
		if !ok || name == "" || raw == "" {
			return nil, fmt.Errorf("--cmf-endpoint %q: want ENV=URL", v)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("--cmf-endpoint %s given twice", name)
		}
		if u, err := url.Parse(raw); err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("--cmf-endpoint %s: %q is not an https:// URL with a host", name, raw)
		}
		out[name] = raw
	}
	return out, nil
}

// check refuses an endpoint for an environment repo does not have, or
// whose target is not cmf: a misspelt name would otherwise leave the
// environment syncing with the CMF of its spec.
func (c cmfEndpoints) check(repo *model.Repository) error {
	for name := range c {
		e := repo.Environment(name)
		switch {
		case e == nil:
			return fmt.Errorf("--cmf-endpoint %s: no such environment", name)
		case e.Spec.Target != model.TargetCMF:
			return fmt.Errorf("--cmf-endpoint %s: environment %s has target %s, not cmf", name, name, e.Spec.Target)
		}
	}
	return nil
}

// apply is env with the endpoint --cmf-endpoint gives it (a copy: the
// repository's model is left as Git has it), or env.
func (c cmfEndpoints) apply(env *model.Environment) *model.Environment {
	to, ok := c[env.Metadata.Name]
	if !ok || env.Spec.CMF == nil {
		return env
	}
	e, spec := *env, *env.Spec.CMF
	spec.Endpoint = to
	e.Spec.CMF = &spec
	return &e
}
