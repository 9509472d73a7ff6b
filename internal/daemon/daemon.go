// Package daemon is `flinksync run`: it follows a Git branch (poll with
// jitter, or at once on a push webhook), runs the pipeline for each new
// revision, syncs every environment, re-checks drift on a timer, and
// reports through metrics, Kubernetes Events, alerts and a status API.
// With leader election only the leader syncs.
//
// It wires the stages (source → pipeline → sync → report); the stages do the
// work.
package daemon

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime/debug"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/flinksync/flinksync/internal/buildinfo"
	"github.com/flinksync/flinksync/internal/clusters"
	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/redact"
	"github.com/flinksync/flinksync/internal/report"
	"github.com/flinksync/flinksync/internal/sizing"
	"github.com/flinksync/flinksync/internal/source"
	"github.com/flinksync/flinksync/internal/sync"
)

// Defaults of the loop.
const (
	DefaultInterval      = time.Minute     // Flux's suggested source interval
	DefaultDriftInterval = 5 * time.Minute // drift re-check per environment
	// Jitter spreads polls of many daemons: up to 5% of the interval (Flux's).
	Jitter = 0.05
	// DefaultPassTimeout bounds one pass (head check, fetch, render and the
	// sync of every environment, or a drift pass); a pass in flight when
	// the daemon is told to stop gets what is left of it to finish. The
	// 1,000-app benchmark's pass takes under a second; the chart's
	// terminationGracePeriodSeconds (330) leaves room for a whole pass.
	DefaultPassTimeout = 5 * time.Minute
	// Backoff after an environment's failed pass: doubling from BackoffBase
	// up to BackoffMax, per environment.
	BackoffBase = 10 * time.Second
	BackoffMax  = 5 * time.Minute
	// MaxWebhookBody bounds a webhook request body.
	MaxWebhookBody = 1 << 20
)

// Config is everything the daemon needs.
type Config struct {
	Remote        *source.Remote
	Interval      time.Duration
	DriftInterval time.Duration
	RestConfig    *rest.Config
	Policy        *model.Policy
	// WebhookSecret authenticates push webhooks; empty disables them.
	WebhookSecret []byte
	Alerts        []report.AlertTarget
	// LeaderElection, when set, makes only the Lease holder sync.
	LeaderElection *LeaderElection
	// Sharding, when set, spreads the environments over the live replicas
	// (shard.go); not with LeaderElection.
	Sharding *Sharding
	Logger   *slog.Logger
	// Registry receives the metrics; nil means a new one.
	Registry *prometheus.Registry
	// BackoffBase and BackoffMax override the defaults (tests).
	BackoffBase, BackoffMax time.Duration
	// PassTimeout is the deadline of one pass; zero means DefaultPassTimeout.
	PassTimeout time.Duration
	// QPS and Burst are each cluster's client-side rate limit (zero: the
	// sync package's defaults).
	QPS   float32
	Burst int
	// HTTP bounds the HTTP server; zero fields take the defaults.
	HTTP HTTPLimits
	// AlertQueue bounds the delivery of alerts; zero fields take the defaults.
	AlertQueue report.QueueOptions
	// ClustersDir, when set, holds the named clusters environments sync
	// to (spec.cluster): <ClustersDir>/<cluster>/kubeconfig, one Secret
	// each, mounted. It is read again before every round, so a cluster
	// added or removed there is picked up without a restart. RestConfig is
	// the default cluster, which also holds the Lease and the Events.
	ClustersDir string
	// Clusters are named clusters given once at start (name → kubeconfig
	// path, the --cluster flags); not with ClustersDir.
	Clusters map[string]string
	// CMFEndpoints are the CMF URLs target: cmf environments sync with
	// instead of their spec.cmf.endpoint (environment → https:// URL, the
	// --cmf-endpoint flags, checked by the CLI); cmf.go applies them.
	CMFEndpoints map[string]string
	// StatusPage configures the web status page (page.go); on by default.
	StatusPage StatusPage

	// pipeline replaces pipeline.Run (tests: a render that never returns).
	pipeline func(fs.FS, pipeline.Options) (*pipeline.Result, error)
}

// LeaderElection configures the Lease.
type LeaderElection struct {
	Namespace, Name, Identity                 string
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// Daemon is a running flinksync.
type Daemon struct {
	cfg      Config
	log      *slog.Logger
	clusters *clusters.Set
	metrics  *report.Metrics
	registry *prometheus.Registry
	alerter  *report.Alerter
	alerts   *report.AlertQueue
	events   *report.Events
	kube     kubernetes.Interface
	shard    *shard // nil without sharding

	trigger chan struct{}
	leader  atomic.Bool
	started atomic.Bool
	// heartbeat is when the leader's loop last came back from a step
	// (Unix nanoseconds), for /readyz.
	heartbeat atomic.Int64

	// throttleLogged is when each API server's throttling was last logged.
	throttleMu     gosync.Mutex
	throttleLogged map[string]time.Time

	mu       gosync.Mutex
	revision string           // the revision of current
	current  *pipeline.Result // the last revision rendered
	sourceOK bool
	srcErr   string
	lastPoll time.Time
	envs     map[string]*envState
	orphans  map[string][]sync.Orphan // inventories no environment syncs, by cluster (orphans.go)
	// probes is each cluster's last probe (clusters.go).
	probes map[string]probe
	// dirErrs are the clusters directory's last problems, logged when they
	// change.
	dirErrs []string
	// stuck is the remote's head whose render was cut off by the pass
	// deadline, until the head moves or renders.
	stuck string
	// abandoned are the renders cut off that still run, by revision;
	// each channel closes when its render returns.
	abandoned map[string]chan struct{}
	// page is the status page's events and memory (page.go).
	page pageState
}

// envState is what the daemon knows of one environment.
type envState struct {
	name      string
	cluster   string // spec.cluster of its last pass
	last      *sync.Result
	lastPass  time.Time
	applied   string // the revision last applied without errors
	failures  int
	nextTry   time.Time
	nextDrift time.Time
	findings  []*diag.Finding
	sizing    []*sizing.Result
	missing   bool // no longer in the repository
	cut       bool // its last pass was cut off by the pass deadline
}

// New prepares a daemon.
func New(cfg Config) (*Daemon, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.DriftInterval <= 0 {
		cfg.DriftInterval = DefaultDriftInterval
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = BackoffBase
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = BackoffMax
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	// No secret reaches the log: the remote's URL userinfo, Git errors.
	cfg.Logger = slog.New(redact.LogHandler(cfg.Logger.Handler()))
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.PassTimeout <= 0 {
		cfg.PassTimeout = DefaultPassTimeout
	}
	if cfg.pipeline == nil {
		cfg.pipeline = pipeline.Run
	}
	if cfg.RestConfig != nil && cfg.RestConfig.Timeout <= 0 {
		// Every request to the API server ends with the pass at the
		// latest, even one made without the pass's context (discovery).
		cfg.RestConfig = rest.CopyConfig(cfg.RestConfig)
		cfg.RestConfig.Timeout = cfg.PassTimeout
	}
	set, err := newClusterSet(cfg)
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg.RestConfig)
	if err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, log: cfg.Logger, clusters: set, kube: kube, registry: cfg.Registry,
		metrics: report.NewMetrics(cfg.Registry), trigger: make(chan struct{}, 1), envs: map[string]*envState{},
		abandoned: map[string]chan struct{}{}, orphans: map[string][]sync.Orphan{}, probes: map[string]probe{}}
	if cfg.Sharding != nil {
		if cfg.LeaderElection != nil {
			return nil, errors.New("sharding and leader election: choose one (with sharding every replica syncs its share)")
		}
		if d.shard, err = newShard(*cfg.Sharding, kube.CoordinationV1().Leases(cfg.Sharding.Namespace), cfg.Registry); err != nil {
			return nil, err
		}
		d.shard.onWake = d.Trigger // another replica's webhook
	}
	d.alerts = report.NewAlertQueue(cfg.Alerts, cfg.AlertQueue, d.metrics, cfg.Logger)
	sync.OnThrottle(d.throttled)
	sync.OnWatchRefused(d.watchRefused)
	d.alerter = &report.Alerter{Targets: cfg.Alerts, Metrics: d.metrics, Queue: d.alerts, TTL: alertTTL(cfg)}
	if cfg.Remote != nil {
		prev := cfg.Remote.OnRequest
		cfg.Remote.OnRequest = func(kind string) {
			d.metrics.GitCall(kind)
			if prev != nil {
				prev(kind)
			}
		}
	}
	return d, nil
}

// Handler serves /metrics, /healthz, /readyz, /api/v1/status and the
// webhooks.
func (d *Daemon) Handler() http.Handler { return d.routes() }

// Trigger asks for a pass at once; triggers that arrive while one is
// pending coalesce into it.
func (d *Daemon) Trigger() {
	select {
	case d.trigger <- struct{}{}:
	default:
	}
}

// Run syncs until ctx is cancelled. A pass in flight finishes first, and
// the alerts it raised get up to AlertDrain to go out.
func (d *Daemon) Run(ctx context.Context) error {
	d.log.Info("starting", "version", buildinfo.Get().String())
	// Passes read the live objects from watches (sync/watch.go), not a
	// LIST each: a steady pass over 10,000 apps reads next to nothing.
	if err := d.clusters.WatchLive(ctx); err != nil {
		return err
	}
	d.events = report.NewEvents(d.kube)
	defer d.events.Stop()
	defer d.deliverAlerts(ctx)()
	if d.shard != nil {
		d.runSharded(ctx)
		return nil
	}
	le := d.cfg.LeaderElection
	if le == nil {
		d.loop(ctx)
		return nil
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metaFor(le.Namespace, le.Name),
		Client:     d.kube.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: le.Identity},
	}
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock, ReleaseOnCancel: true,
		LeaseDuration: orDefault(le.LeaseDuration, 15*time.Second),
		RenewDeadline: orDefault(le.RenewDeadline, 10*time.Second),
		RetryPeriod:   orDefault(le.RetryPeriod, 2*time.Second),
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				d.log.Info("leading", "identity", le.Identity)
				d.loop(ctx)
			},
			OnStoppedLeading: func() {
				d.log.Info("stopped leading", "identity", le.Identity)
				d.leader.Store(false)
			},
		},
	})
	if err != nil {
		return err
	}
	d.started.Store(true)
	elector.Run(ctx)
	return nil
}

// IsLeader reports whether this daemon syncs.
func (d *Daemon) IsLeader() bool { return d.leader.Load() }

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// loop is the leader's work: a pass per new revision and drift passes.
func (d *Daemon) loop(ctx context.Context) {
	d.heartbeat.Store(time.Now().UnixNano()) // readiness counts from here
	d.leader.Store(true)
	d.started.Store(true)
	d.beat(d.reconcile(ctx))
	poll := time.NewTimer(d.jittered())
	defer poll.Stop()
	tick := time.NewTicker(min(time.Second, d.cfg.DriftInterval/4+time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.trigger:
			d.beat(d.reconcile(ctx))
		case <-poll.C:
			d.beat(d.reconcile(ctx))
			poll.Reset(d.jittered())
		case <-tick.C:
			d.beat(d.due(ctx))
		}
	}
}

func (d *Daemon) jittered() time.Duration {
	return d.cfg.Interval + time.Duration(rand.Float64()*Jitter*float64(d.cfg.Interval))
}

// reconcile checks the remote head and, when it moved, fetches, renders
// and syncs every environment, all within one pass deadline. With the
// remote unreachable, or the head's render cut off, the last rendered
// revision stays in force.
func (d *Daemon) reconcile(ctx context.Context) outcome {
	if ctx.Err() != nil {
		return idle
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.PassTimeout)
	defer cancel()
	head, err := d.cfg.Remote.Head(ctx)
	d.mu.Lock()
	d.lastPoll = time.Now()
	d.mu.Unlock()
	if err != nil {
		d.sourceFailed("ls-remote", err)
		d.cutIf(ctx, stageSource)
		return idle
	}
	d.metrics.GitOK()
	d.mu.Lock()
	same := head == d.revision && d.current != nil
	_, rendering := d.abandoned[head]
	switch {
	case rendering:
		d.stuck = head
	case head != d.stuck:
		d.stuck = ""
	}
	if same {
		d.sourceOK, d.srcErr = true, ""
	}
	d.mu.Unlock()
	if same || rendering {
		// Retry environments whose backoff ran out; a head whose render
		// was cut off and still runs is not rendered twice.
		if o := d.due(ctx); !rendering {
			return o
		}
		return cut
	}
	fsys, rev, err := d.cfg.Remote.Fetch(ctx)
	if err != nil {
		d.sourceFailed("fetch", err)
		d.cutIf(ctx, stageSource)
		return idle
	}
	o := d.render(ctx, fsys, rev)
	if o != cut { // a render cut off may still be reading
		d.cfg.Remote.Release()
	}
	return o
}

// compact trims what the daemon holds of a render until the next commit:
// the sizing's figures, not their explanations (`flinksync size` prints
// them), which were 20 MB at 10,000 apps; the repository's documents
// without their field lines and effective forms (model.Repository.Compact,
// 13 MB more), which only the pipeline's stages read; and the rendered
// objects packed into fresh memory with each string once
// (render.Environment.Compact): made among the render's garbage, their
// scattered allocations kept the heap's pages in use after it was
// collected (at 10,000 apps, 240 MB of pages in use held 100 MB of
// objects).
func compact(res *pipeline.Result) {
	res.Repo.Compact()
	for _, e := range res.Rendered {
		e.Compact()
	}
	if res.Sizing != nil {
		for _, r := range res.Sizing.Results {
			r.Explanation = nil
		}
	}
}

func (d *Daemon) sourceFailed(kind string, err error) {
	d.metrics.GitFailed(kind)
	d.log.Error("git", "op", kind, "error", err.Error())
	d.mu.Lock()
	d.sourceOK, d.srcErr = false, err.Error()
	d.mu.Unlock()
}

// render runs the pipeline for a new revision and syncs every environment.
func (d *Daemon) render(ctx context.Context, fsys fs.FS, rev string) outcome {
	res, err, ok := d.runPipeline(ctx, fsys, rev)
	if !ok {
		return cut
	}
	if err != nil {
		d.sourceFailed("read", err)
		return idle
	}
	d.metrics.Revision(rev)
	compact(res)
	d.mu.Lock()
	d.sourceOK, d.srcErr = true, ""
	d.revision, d.current, d.stuck = rev, res, ""
	seen := map[string]bool{}
	for _, name := range res.Environments() {
		seen[name] = true
		st := d.envs[name]
		if st == nil {
			st = &envState{name: name}
			d.envs[name] = st
		}
		st.missing = false
		st.findings = envFindings(res.Findings, name, res)
		st.sizing = envSizing(res.Sizing, name)
		st.nextTry = time.Time{} // a new revision is worth a try at once
	}
	for name, st := range d.envs {
		if !seen[name] {
			// Its file left Git: an empty render, which never prunes on
			// its own; its objects stay until removed on purpose.
			st.missing = true
		}
	}
	d.mu.Unlock()
	d.log.Info("revision", "revision", rev, "environments", len(seen), "findings", len(res.Findings))
	passed, probed := d.syncAll(ctx, res.Environments(), "revision")
	d.findOrphans(ctx, res, probed)
	return passed
}

// due syncs the environments whose drift check or backoff is due.
func (d *Daemon) due(ctx context.Context) outcome {
	now := time.Now()
	var names []string
	d.mu.Lock()
	for name, st := range d.envs {
		if st.missing || d.current == nil {
			continue
		}
		if (st.failures > 0 && !now.Before(st.nextTry)) || (st.failures == 0 && !now.Before(st.nextDrift)) {
			names = append(names, name)
		}
	}
	d.mu.Unlock()
	if len(names) == 0 {
		return idle
	}
	o, _ := d.syncAll(ctx, names, "drift")
	return o
}

// syncAll syncs the named environments side by side: one slow or failing
// environment never holds the others back. First it reads the clusters
// directory again and probes, once, each cluster a due environment is on:
// the environments of a cluster that does not answer, or backs off after
// failing, fail at once, by name, and nobody waits on it longer than the
// probe timeout. The pass is cut when any environment's sync ran into the
// deadline. probed is each probed cluster's outcome.
func (d *Daemon) syncAll(ctx context.Context, names []string, why string) (o outcome, probed map[string]error) {
	if _, ok := ctx.Deadline(); !ok {
		// A drift pass: its probes and syncs share one deadline.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.cfg.PassTimeout)
		defer cancel()
	}
	d.refreshClusters()
	jobs := d.dueJobs(names)
	on := map[string]bool{}
	for _, j := range jobs {
		on[j.env.Spec.Cluster] = true
	}
	probed = d.probeClusters(ctx, on)
	var wg gosync.WaitGroup
	var wasCut atomic.Bool
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, ok := d.lockEnv(ctx, j)
			if !ok {
				return
			}
			defer release()
			if d.syncEnv(ctx, j, why, probed[j.env.Spec.Cluster]) == cut {
				wasCut.Store(true)
			}
		}()
	}
	wg.Wait()
	// A pass allocates a lot at once (render, the cluster's lists), then
	// the daemon idles until the next commit or drift check: give the
	// memory back to the system rather than hold it.
	debug.FreeOSMemory()
	if wasCut.Load() {
		return cut, probed
	}
	return done, probed
}

// job is one environment's pass to run.
type job struct {
	st  *envState
	env *model.Environment
	res *pipeline.Result
}

// dueJobs are the named environments whose backoff does not say wait.
func (d *Daemon) dueJobs(names []string) []job {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	res := d.current
	if res == nil {
		return nil
	}
	var jobs []job
	for _, name := range names {
		st := d.envs[name]
		if st == nil || now.Before(st.nextTry) || (d.shard != nil && !d.shard.owns(name)) {
			continue
		}
		if env := res.Repo.Environment(name); env != nil {
			jobs = append(jobs, job{st: st, env: env, res: res})
		}
	}
	return jobs
}

// syncEnv runs one pass over one environment on its cluster; clusterErr
// is why its cluster cannot be used this round (unreachable, backing
// off), which fails the pass without a request. An environment naming a
// cluster the daemon does not have fails alone, saying how to add it.
// The pass is not cut short when ctx is cancelled (SIGTERM lets the apply
// in flight finish); it is bounded by the pass deadline.
func (d *Daemon) syncEnv(ctx context.Context, j job, why string, clusterErr error) outcome {
	st, env, res := j.st, j.env, j.res
	name := env.Metadata.Name
	pctx, cancel := d.untilDeadline(ctx)
	defer cancel()
	opts := sync.Options{Blocked: res.Blocked[name], Guard: res.Guard(name)}
	start := time.Now()
	sy, err := d.envSyncer(pctx, env, clusterErr) // cmf.go: CMF for target cmf
	var r *sync.Result
	if err != nil {
		r = &sync.Result{Environment: name, Namespace: env.Spec.Namespace, Cluster: env.Spec.Cluster, Blocked: opts.Blocked,
			Errors: []string{err.Error()}, Duration: time.Since(start)}
	} else {
		r = sy.Sync(pctx, env, res.Rendered[name], opts)
	}
	o := d.cutIf(pctx, stageSync)
	r.Revision = res.Revision()
	cluster := clusters.DisplayName(env.Spec.Cluster)
	d.metrics.Pass(r)
	d.metrics.Findings(name, cluster, append(envFindings(res.Findings, name, res), r.Findings...))
	d.metrics.TaskManagers(name, cluster, envSizing(res.Sizing, name))
	if d.events != nil && env.Spec.Cluster == clusters.Default {
		// Events stay on the default cluster, with the Lease: an Event
		// there about an environment of another cluster would name objects
		// (and often a namespace) that are not there.
		d.events.Pass(r)
	}
	d.alerter.Observe(pctx, r)
	d.notePass(r, why)
	now := time.Now()
	d.mu.Lock()
	// A cluster that hangs (its probe ran out of time) counts as a pass
	// cut off for readiness, as when the sync itself ran into the deadline,
	// although its backoff now fails the pass at once.
	hung := clusterErr != nil && d.clusterHung(env.Spec.Cluster)
	st.last, st.lastPass, st.cut, st.cluster = r, now, o == cut || hung, env.Spec.Cluster
	st.findings = append(envFindings(res.Findings, name, res), r.Findings...)
	st.nextDrift = now.Add(d.cfg.DriftInterval)
	if r.OK() {
		st.failures, st.nextTry = 0, time.Time{}
		st.applied = r.Revision
	} else {
		st.failures++
		st.nextTry = now.Add(backoff(st.failures, d.cfg.BackoffBase, d.cfg.BackoffMax))
	}
	d.mu.Unlock()
	level := slog.LevelInfo
	if !r.OK() {
		level = slog.LevelWarn
	}
	d.log.Log(ctx, level, "sync", "environment", name, "cluster", cluster, "why", why, "revision", r.Revision, "summary", r.Summary(), "duration", r.Duration.String())
	return o
}

// backoff is the wait after the n-th failure in a row.
func backoff(n int, base, maxWait time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < maxWait; i++ {
		d *= 2
	}
	return min(d, maxWait)
}

func envFindings(fs []*diag.Finding, env string, res *pipeline.Result) []*diag.Finding {
	var out []*diag.Finding
	for _, f := range fs {
		switch {
		case f.Environment == env:
		case f.Environment == "" && f.App != "" && res.Repo.App(f.App) != nil:
			in := false
			for _, e := range res.Repo.App(f.App).Spec.Environments {
				in = in || e == env
			}
			if !in {
				continue
			}
		case f.Environment == "":
		default:
			continue
		}
		out = append(out, f)
	}
	return out
}

func envSizing(p *sizing.Plan, env string) []*sizing.Result {
	if p == nil {
		return nil
	}
	var out []*sizing.Result
	for _, r := range p.Results {
		if r.Environment == env {
			out = append(out, r)
		}
	}
	return out
}

// ErrNoRemote is returned when the daemon has no Git remote.
var ErrNoRemote = errors.New("no Git remote configured")

// alertTTL is how long Alertmanager keeps a firing alert the daemon has not
// re-sent: four times the longest gap between two passes of one environment
// (a drift check, or a failing environment's longest back-off, plus the
// pass itself), as Prometheus re-sends with endsAt four resend delays ahead.
// Every pass re-sends what still fires, so the alert lives while the
// problem does, and resolves by itself that long after the daemon stops.
func alertTTL(cfg Config) time.Duration {
	gap := max(cfg.DriftInterval, cfg.BackoffMax) + cfg.PassTimeout
	return 4 * gap
}
