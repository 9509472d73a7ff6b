package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/flinksync/flinksync/internal/clusters"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/redact"
	"github.com/flinksync/flinksync/internal/source"
	"github.com/flinksync/flinksync/internal/state"
	"github.com/flinksync/flinksync/internal/sync"
)

// clusterFlags are the flags of the commands that talk to a cluster.
type clusterFlags struct {
	repo, env, kubeconfig, policy, output string
	clusters                              []string
	cmfEndpoints                          []string
	limits                                clientLimits
	read                                  readFlags
}

func (f *clusterFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.repo, "repo", "", "repository root folder (a Git checkout gives the revision annotation)")
	cmd.Flags().StringVar(&f.env, "env", "", "only this environment")
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file of the default cluster (default: $KUBECONFIG, ~/.kube/config, then in-cluster)")
	registerClusterFlag(cmd, &f.clusters)
	registerCMFEndpointFlag(cmd, &f.cmfEndpoints) // cmf.go
	f.limits.register(cmd)
	cmd.Flags().StringVar(&f.policy, "policy", "", "the daemon's own policy file")
	cmd.Flags().StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	f.read.register(cmd.Flags())
}

// kubeConfig loads the client config: --kubeconfig, then KUBECONFIG and
// ~/.kube/config, then the in-cluster service account.
func kubeConfig(path string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules.ExplicitPath = path
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err == nil {
		return cfg, nil
	}
	if path == "" && os.Getenv("KUBECONFIG") == "" {
		if in, inErr := rest.InClusterConfig(); inErr == nil {
			return in, nil
		}
	}
	return nil, fmt.Errorf("kubeconfig: %w", err)
}

// registerClusterFlag adds --cluster NAME=KUBECONFIG (repeatable).
func registerClusterFlag(cmd *cobra.Command, to *[]string) {
	cmd.Flags().StringArrayVar(to, "cluster", nil, "NAME=KUBECONFIG: the credentials of the cluster environments name in spec.cluster (repeatable)")
}

// clusterSet connects to the clusters the environments envs name: the
// default one through kubeconfig (--kubeconfig, KUBECONFIG, in-cluster)
// when one of them names none, and each --cluster NAME=KUBECONFIG. A bad
// flag or unreadable kubeconfig is an error (exit 2); an environment whose
// cluster was not given fails alone when it is synced (clusters.Set.For).
//
// With envs nil (plan --live, before the environments are known) the
// default cluster is optional: connected when it can be, else its
// environments' comparisons fail alone.
func clusterSet(kubeconfig string, flags []string, envs []*model.Environment, lim clientLimits) (*clusters.Set, error) {
	set := clusters.New(clusters.Options{QPS: lim.qps, Burst: lim.burst})
	needDefault := envs == nil
	for _, e := range envs {
		// A cmf environment needs its cluster only for Secrets (cmf.go).
		needDefault = needDefault || (e.Spec.Cluster == clusters.Default && (e.Spec.Target != model.TargetCMF || cmfSecrets(e)))
	}
	if needDefault {
		cfg, err := kubeConfig(kubeconfig)
		switch {
		case err == nil:
			if err := set.Add(clusters.Default, cfg, "default", ""); err != nil {
				return nil, err
			}
		case envs != nil || kubeconfig != "":
			return nil, err
		}
	}
	for _, v := range flags {
		name, path, err := clusters.ParseFlag(v)
		if err != nil {
			return nil, err
		}
		cfg, _, err := clusters.LoadKubeconfig(path)
		if err != nil {
			return nil, fmt.Errorf("--cluster %s: %w", name, err)
		}
		if err := set.Add(name, cfg, path, ""); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// prepared is a repository run through the pipeline, with the clients of
// its environments' clusters.
type prepared struct {
	res  *pipeline.Result
	set  *clusters.Set
	envs []*model.Environment
	// probed is each cluster's probe outcome in this command; warm
	// delivers the probes started before the pipeline ran.
	probed map[string]error
	warm   map[string]chan error
	// cmf are --cmf-endpoint's (cmf.go).
	cmf cmfEndpoints
}

// syncerFor is env's cluster's syncer, or why there is none: the cluster
// was not given, or it did not answer a short probe (once per command), so
// that a dead cluster fails its own environments quickly, by name, and the
// others go on.
func (p *prepared) syncerFor(ctx context.Context, env *model.Environment) (*sync.Syncer, error) {
	sy, err := p.set.For(env)
	if err != nil {
		return nil, err
	}
	c := env.Spec.Cluster
	if p.probed == nil {
		p.probed = map[string]error{}
	}
	if _, done := p.probed[c]; !done {
		if ch, started := p.warm[c]; started {
			p.probed[c] = <-ch
		} else {
			p.probed[c] = p.set.Reachable(ctx, c)
		}
	}
	if err := p.probed[c]; err != nil {
		return nil, err
	}
	return sy, nil
}

func (f *clusterFlags) prepare() (*prepared, error) {
	if f.repo == "" {
		return nil, fmt.Errorf("--repo is required")
	}
	if f.output != "text" && f.output != "json" {
		return nil, fmt.Errorf("--output %q: want text or json", f.output)
	}
	endpoints, err := parseCMFEndpoints(f.cmfEndpoints)
	if err != nil {
		return nil, err
	}
	// Connect to the clusters while the pipeline runs: the probe and the
	// API discovery are round trips that would otherwise come after it.
	early, earlyErr := clusterSet(f.kubeconfig, f.clusters, nil, f.limits)
	warm := map[string]chan error{}
	if earlyErr == nil {
		for _, name := range early.Names() {
			ch := make(chan error, 1)
			warm[name] = ch
			go func() { ch <- early.Warm(context.Background(), name) }()
		}
	}
	// The revision, and whether the work tree is dirty (a walk of every
	// file), while the repository loads.
	type revision struct {
		rev   string
		dirty bool
		err   error
	}
	revCh := make(chan revision, 1)
	go func() {
		var r revision
		r.rev, r.dirty, r.err = source.Revision(f.repo)
		revCh <- r
	}()
	var rev revision
	revisionOf := func() string {
		rev = <-revCh
		if rev.dirty {
			return rev.rev + "-dirty"
		}
		return rev.rev
	}
	// Each environment's LISTs start as soon as the repository is loaded,
	// while it renders (sync.Syncer.Prefetch).
	prefetch := func(repo *model.Repository) {
		if earlyErr != nil {
			return
		}
		for _, e := range repo.Environments {
			if f.env != "" && e.Metadata.Name != f.env {
				continue
			}
			if sy, err := early.For(e); err == nil {
				sy.Prefetch(context.Background(), e)
			}
		}
	}
	res, err := runPipelineWith(f.repo, f.policy, f.read.limits(), pipeline.Options{Loaded: prefetch, RevisionOf: revisionOf})
	if err != nil {
		return nil, err
	}
	if rev.err != nil {
		return nil, rev.err
	}
	if err := endpoints.check(res.Repo); err != nil {
		return nil, err
	}
	envs := res.Repo.Environments
	if f.env != "" {
		e := res.Repo.Environment(f.env)
		if e == nil {
			return nil, fmt.Errorf("--env %q: no such environment (have %s)", f.env, strings.Join(res.Environments(), ", "))
		}
		envs = []*model.Environment{e}
	}
	if earlyErr != nil {
		return nil, earlyErr
	}
	if _, err := early.Syncer(clusters.Default); err != nil {
		// No default cluster: say why, as before, if an environment needs it.
		if _, err := clusterSet(f.kubeconfig, f.clusters, envs, f.limits); err != nil {
			return nil, err
		}
	}
	return &prepared{res: res, set: early, envs: envs, warm: warm, cmf: endpoints}, nil
}

// withCluster wraps a cluster command: it runs the pipeline, connects to
// the cluster (exit 2 when either fails) and hands over a context that
// SIGINT or SIGTERM cancels. Time spent waiting for the client-side rate
// limit is told on stderr at the end, so a slow run is never silently so.
func (f *clusterFlags) withCluster(run func(ctx context.Context, cmd *cobra.Command, p *prepared) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		var waited atomic.Int64
		sync.OnThrottle(func(_ string, d time.Duration) { waited.Add(int64(d)) })
		defer func() {
			if w := time.Duration(waited.Load()); w > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: requests waited %s in all for the client-side rate limit (--qps, --burst); raise them if the API server has room\n", w.Round(time.Millisecond))
			}
		}()
		p, err := f.prepare()
		if err != nil {
			return cantRun(err)
		}
		ctx, cancel := signalContext()
		defer cancel()
		return run(ctx, cmd, p)
	}
}

// clientLimits are --qps and --burst: the client-side rate limit of each
// cluster's client (0: the sync package's defaults).
type clientLimits struct {
	qps   float32
	burst int
}

func (l *clientLimits) register(cmd *cobra.Command) {
	cmd.Flags().Float32Var(&l.qps, "qps", 0, fmt.Sprintf("requests per second to each cluster's API server (default %d; waits over 50ms are reported)", sync.DefaultQPS))
	cmd.Flags().IntVar(&l.burst, "burst", 0, fmt.Sprintf("burst of requests to each cluster's API server (default %d)", sync.DefaultBurst))
}

// signalContext is cancelled by SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func newApplyCommand() *cobra.Command {
	var f clusterFlags
	var dryRun, allowEmpty bool
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "apply --repo DIR [--env E] [--dry-run] [--wait DURATION]",
		Short: "One pass: apply what differs, prune what Git removed, report drift and health",
		Long: `apply runs the pipeline and syncs each environment: server-side apply (field
manager flinksync) of the objects that differ from the cluster, in dependency
order; prune of what this environment applied before and Git no longer
declares; drift correction or report as the environment's sync.drift says.
An environment with errors (see validate) is not touched at all.

A spec change written to a job (or its creation) starts an upgrade, which
the operator carries out after apply returns: each later pass (or the
daemon) reports whether it ended healthy, failed, was rolled back by FKO
or did not become healthy within 10m. --wait DURATION follows the
upgrades of this run to their end, at most that long, a line per job.

Exit codes: 0 every environment synced (and, with --wait, every upgrade
succeeded), 1 some environment failed or was blocked, or with --wait an
upgrade failed, was rolled back or had not ended in time, 2 could not run.`,
		Args: cobra.NoArgs,
		RunE: f.withCluster(func(ctx context.Context, cmd *cobra.Command, p *prepared) error {
			mode := sync.ModeApply
			if dryRun {
				mode = sync.ModeDryRun
			}
			var results []*sync.Result
			var passes []pass // for --wait
			prog := newProgress(cmd.ErrOrStderr(), "apply", f.output)
			ok := true
			for _, env := range p.envs {
				name := env.Metadata.Name
				var r *sync.Result
				sy, k8s, err := p.envSyncer(ctx, env)
				if err != nil {
					r = &sync.Result{Environment: name, Namespace: env.Spec.Namespace, Cluster: env.Spec.Cluster, Errors: []string{err.Error()}}
				} else {
					r = sy.Sync(ctx, env, p.res.Rendered[name], sync.Options{Mode: mode, AllowEmpty: allowEmpty, Blocked: p.res.Blocked[name], Guard: p.res.Guard(name),
						Progress: prog.of(name, "objects written")})
					prog.done()
				}
				r.Revision = p.res.Revision()
				results = append(results, r)
				passes = append(passes, pass{r: r, s: k8s})
				ok = ok && r.OK()
			}
			orphans := orphanInventories(ctx, p)
			if wait > 0 && !dryRun && f.output == "json" {
				ok = waitUpgrades(ctx, nil, wait, passes) && ok
			}
			if err := writeResults(cmd.OutOrStdout(), f.output, results, orphans); err != nil {
				return cantRun(err)
			}
			if wait > 0 && !dryRun && f.output != "json" {
				ok = waitUpgrades(ctx, cmd.OutOrStdout(), wait, passes) && ok
			}
			if !ok {
				return found()
			}
			return nil
		}),
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "server-side dry run: report what would change, change nothing")
	cmd.Flags().BoolVar(&allowEmpty, "allow-empty", false, "allow pruning an environment down to zero objects")
	cmd.Flags().DurationVar(&wait, "wait", 0, "after the pass, follow the jobs' upgrades until each is healthy, failed or rolled back, at most this long (0: don't wait)")
	return cmd
}

// orphanInventories warns of the inventories no environment of the
// repository syncs any more (removed, renamed or moved): their objects keep
// running unmanaged until removed on purpose.
func orphanInventories(ctx context.Context, p *prepared) []string {
	var out []string
	for _, name := range p.set.Names() {
		// Each cluster holds the inventories of its own environments.
		envs := map[string]string{}
		for _, e := range p.res.Repo.Environments {
			if e.Spec.Cluster == name {
				envs[e.Metadata.Name] = e.Spec.Namespace
			}
		}
		sy, _ := p.set.Syncer(name)
		orphans, err := sy.Orphans(ctx, envs)
		if err != nil {
			out = append(out, fmt.Sprintf("could not look for the inventories of removed or moved environments on cluster %s: %v", clusters.DisplayName(name), err))
			continue
		}
		for _, o := range orphans {
			out = append(out, o.Message)
		}
	}
	sort.Strings(out)
	return out
}

// writeResults prints the results of apply, secrets masked.
func writeResults(w io.Writer, format string, results []*sync.Result, notes []string) error {
	masked := make([]*sync.Result, len(results))
	for i, r := range results {
		masked[i] = sync.Masked(r)
	}
	results = masked
	if format == "json" {
		return writeJSON(w, struct {
			Environments []*sync.Result `json:"environments"`
			Notes        []string       `json:"notes,omitempty"`
		}{results, notes})
	}
	for _, r := range results {
		prefix := ""
		if r.DryRun {
			prefix = "(dry run) "
		}
		where := "namespace " + r.Namespace
		if r.Cluster != clusters.Default {
			where = "cluster " + r.Cluster + ", " + where
		}
		fmt.Fprintf(w, "environment %s (%s): %s%s\n", r.Environment, where, prefix, r.Summary())
		for _, b := range r.Blocked {
			fmt.Fprintf(w, "  blocked: %s\n", b)
		}
		for _, e := range r.Errors {
			fmt.Fprintf(w, "  error: %s\n", e)
		}
		for _, f := range r.Findings {
			if f.Waived {
				fmt.Fprintf(w, "  waived %s %s: %s (%s)\n", f.Severity, f.Rule, f.Message, f.WaivedBy)
				continue
			}
			fmt.Fprintf(w, "  %s %s: %s\n", f.Severity, f.Rule, f.Message)
		}
		for _, i := range r.State {
			if i.Effect != state.Untouched {
				fmt.Fprintf(w, "  state      %s\n", i)
			}
		}
		for _, c := range r.Changes {
			if c.Action == sync.Unchanged {
				continue
			}
			fmt.Fprintf(w, "  %-10s %s", c.Action, c.ID())
			if c.Message != "" {
				fmt.Fprintf(w, ": %s", c.Message)
			}
			fmt.Fprintln(w)
			for _, d := range c.Diffs {
				fmt.Fprintf(w, "             %s: %s → %s\n", d.Field, d.Live, d.Desired)
			}
		}
		for _, d := range r.Drift {
			fmt.Fprintf(w, "  drift      %s %s: live %s, Git %s\n", d.ID(), d.Field, d.Live, d.Desired)
		}
		var unknown []string
		for _, h := range r.Health {
			switch h.Health {
			case sync.Healthy:
			case sync.Unknown:
				unknown = append(unknown, h.App)
			default:
				fmt.Fprintf(w, "  health     %s: %s (%s)\n", h.App, h.Health, h.Message)
			}
		}
		if len(unknown) > 0 {
			fmt.Fprintf(w, "  health     Unknown, no operator status yet: %s\n", strings.Join(unknown, ", "))
		}
		writeUpgrades(w, r) // upgrades.go
	}
	for _, n := range notes {
		fmt.Fprintf(w, "warning: %s\n", n)
	}
	return nil
}

func newDiffCommand() *cobra.Command {
	var f clusterFlags
	cmd := &cobra.Command{
		Use:   "diff --repo DIR [--env E]",
		Short: "Show, as unified diffs, how the cluster differs from the repository (secret values masked)",
		Long: `diff compares each environment's rendered objects with the cluster and prints
a unified diff for every object apply would create, change or prune. Only
the fields flinksync manages are shown; secret values are masked. Nothing
is changed.

Exit codes: 0 no differences, 1 differences, 2 error (including an
environment that cannot be rendered).`,
		Args: cobra.NoArgs,
		RunE: f.withCluster(func(ctx context.Context, cmd *cobra.Command, p *prepared) error {
			type envDiff struct {
				Environment string            `json:"environment"`
				Objects     []sync.ObjectDiff `json:"objects"`
				Error       string            `json:"error,omitempty"`
			}
			var all []envDiff
			differs, broken := false, false
			for _, env := range p.envs {
				name := env.Metadata.Name
				d := envDiff{Environment: name, Objects: []sync.ObjectDiff{}}
				if why := p.res.Blocked[name]; len(why) > 0 {
					d.Error = redact.Text("blocked: " + strings.Join(why, "; "))
					broken = true
				} else if sy, _, err := p.envSyncer(ctx, env); err != nil {
					d.Error = redact.Text(err.Error())
					broken = true
				} else if objs, err := sy.Diff(ctx, env, p.res.Rendered[name]); err != nil {
					d.Error = redact.Text(err.Error())
					broken = true
				} else {
					d.Objects = objs
					differs = differs || len(objs) > 0
				}
				all = append(all, d)
			}
			w := cmd.OutOrStdout()
			if f.output == "json" {
				if err := writeJSON(w, all); err != nil {
					return cantRun(err)
				}
			} else {
				for _, d := range all {
					if d.Error != "" {
						fmt.Fprintf(cmd.ErrOrStderr(), "environment %s: %s\n", d.Environment, d.Error)
						continue
					}
					for _, o := range d.Objects {
						fmt.Fprintf(w, "# %s %s (environment %s)\n%s", o.Action, o.ID(), d.Environment, o.Unified)
					}
				}
			}
			switch {
			case broken:
				return &exitError{code: exitCantRun}
			case differs:
				return found()
			}
			return nil
		}),
	}
	f.register(cmd)
	return cmd
}

func newDriftCommand() *cobra.Command {
	var f clusterFlags
	cmd := &cobra.Command{
		Use:   "drift --repo DIR [--env E] [--output text|json]",
		Short: "Report every field the cluster changed behind Git's back; changes nothing",
		Long: `drift compares the live objects of each environment with what flinksync
applied from Git and lists every field that differs: environment, object,
field path, desired and live value. It changes nothing, whatever the
environment's sync.drift mode.

Exit codes: 0 no drift, 1 drift, 2 error.`,
		Args: cobra.NoArgs,
		RunE: f.withCluster(func(ctx context.Context, cmd *cobra.Command, p *prepared) error {
			drift := []sync.Drift{}
			broken := false
			for _, env := range p.envs {
				name := env.Metadata.Name
				sy, _, err := p.envSyncer(ctx, env)
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "environment %s: %s\n", name, err)
					broken = true
					continue
				}
				r := sync.Masked(sy.Sync(ctx, env, p.res.Rendered[name], sync.Options{Mode: sync.ModeObserve, Blocked: p.res.Blocked[name]}))
				for _, e := range append(append([]string{}, r.Blocked...), r.Errors...) {
					fmt.Fprintf(cmd.ErrOrStderr(), "environment %s: %s\n", name, e)
					broken = true
				}
				drift = append(drift, r.Drift...)
			}
			for _, n := range orphanInventories(ctx, p) {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", n)
			}
			w := cmd.OutOrStdout()
			if f.output == "json" {
				if err := writeJSON(w, drift); err != nil {
					return cantRun(err)
				}
			} else {
				for _, d := range drift {
					fmt.Fprintf(w, "%s %s %s: Git %s, live %s\n", d.Environment, d.ID(), d.Field, d.Desired, d.Live)
				}
				fmt.Fprintf(w, "%d drifted field(s)\n", len(drift))
			}
			switch {
			case broken:
				return &exitError{code: exitCantRun}
			case len(drift) > 0:
				return found()
			}
			return nil
		}),
	}
	f.register(cmd)
	return cmd
}

// writeJSON writes v as indented JSON, the form of every --output json.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
