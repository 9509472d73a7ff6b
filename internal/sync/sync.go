// Package sync makes a cluster match the rendered objects of one
// environment at a time, safely: server-side apply with field manager
// "flinksync" and only for objects that differ from the live ones; an
// inventory kept in the cluster so pruning deletes exactly what flinksync
// applied before and Git no longer declares; drift detection per field; and
// health from the Flink operators' status.
//
// Ownership is explicit (owner.go): a pass writes over an existing object,
// and prune deletes one, only when the live object is flinksync's object of
// this environment (its labels and the ApplySet mark flinksync writes), or
// when a cluster user opted in with the annotation flinksync.dev/adopt.
// Prune trusts no inventory entry: it deletes only namespaced objects in
// the environment's namespace. Orphans finds the inventories no environment
// syncs any more (an environment removed, renamed or moved).
//
// A pass reads the live objects with one LIST per kind (the CLI, which
// starts them while the repository renders: Prefetch, prefetch.go), or
// from watches the Syncer keeps (WatchLive, the daemon; watch.go), where
// an object is taken as the watch holds it only while an earlier pass's
// verdict vouches for that version; a watch the API server refuses is
// told once (OnWatchRefused) and its kind LISTed.
//
// An environment the pipeline marked blocked is never touched. Sync reads
// the model and the rendered objects; it knows nothing of Git or policy.
// Every pass returns a Result value, which the CLI prints and the daemon
// turns into metrics, events and alerts.
package sync

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/state"
)

// FieldManager is the server-side apply field manager of every write.
const FieldManager = "flinksync"

// Client QPS and burst. A pass lists once per kind and writes only what
// changed, so these bound cold applies and large prunes: 1,000 deletes
// take 1 s at 1,000 QPS. The API server's own priority and fairness (APF)
// is what protects it; a waiting request is reported (Throttled), and
// --qps/--burst lower them (Flux uses 50/300, kubectl 50/300).
const (
	DefaultQPS   = 1000
	DefaultBurst = 2000
)

// Syncer talks to one cluster.
type Syncer struct {
	dyn dynamic.Interface
	// meta reads objects' metadata only (inventories' labels).
	meta metadata.Interface
	// rest reads LISTs for listRaw.
	rest   rest.Interface
	mapper meta.ResettableRESTMapper
	// Workers is how many objects of one apply stage are written (or
	// pruned) at once: 32 brings a cold apply of 1,000 apps within 1.12×
	// of the API server's own ceiling, where 8 took 1.3× (BenchmarkApply1000).
	Workers int
	// Now is the clock (for tests).
	Now func() time.Time
	// ReplaceTimeout bounds the wait for a replaced object's old version to
	// be gone (0: DefaultReplaceTimeout).
	ReplaceTimeout time.Duration
	// verdicts remembers which objects the server found unchanged.
	verdicts verdicts
	// prepared keeps the objects of each environment's last pass as it
	// applied them (prepared.go).
	prepared preparedCache
	// cfg is the cluster's config (WatchLive makes its watches' client).
	cfg *rest.Config
	// watch keeps the live objects current for the daemon (watch.go); nil
	// in the CLI.
	watch *liveWatch
	// prefetch holds the LISTs Prefetch started (prefetch.go).
	prefetch prefetches
}

// New makes a Syncer for cfg. A zero QPS in cfg is raised to DefaultQPS.
func New(cfg *rest.Config) (*Syncer, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = DefaultQPS, DefaultBurst
	}
	withLimiter(cfg)
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	rc, err := restFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes REST client: %w", err)
	}
	mc, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes metadata client: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes discovery: %w", err)
	}
	return &Syncer{
		dyn:     dyn,
		meta:    mc,
		rest:    rc,
		mapper:  restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)),
		Workers: 32,
		Now:     time.Now,
		cfg:     cfg,
	}, nil
}

// Warm reads the cluster's API discovery now (the first REST mapping
// does), so that a pass need not wait for it later.
func (s *Syncer) Warm() {
	_, _ = s.mapper.RESTMapping(schema.GroupKind{Group: "flink.apache.org", Kind: "FlinkDeployment"})
}

// CountWrites wraps cfg so that every request other than GET, LIST and WATCH
// (and dry runs) is counted in n: the measure of "no write when nothing
// changed".
func CountWrites(cfg *rest.Config, n *atomic.Int64) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if req.Method != http.MethodGet && req.URL.Query().Get("dryRun") == "" {
				n.Add(1)
			}
			return rt.RoundTrip(req)
		})
	})
	return cfg
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Mode is what a pass may do.
type Mode int

const (
	// ModeApply applies, prunes and corrects drift as the environment says.
	ModeApply Mode = iota
	// ModeDryRun computes everything and sends server-side dry runs, but
	// changes nothing.
	ModeDryRun
	// ModeObserve only reads: diff and drift.
	ModeObserve
)

// Options control a pass over one environment.
type Options struct {
	Mode Mode
	// AllowEmpty lets a pass prune an environment down to zero objects.
	AllowEmpty bool
	// Blocked, when not empty, says why the environment must not be
	// touched (load, policy or render errors); the pass only reports it.
	Blocked []string
	// Progress, when set, is told how many of the pass's writes are done
	// (0 of total before the first), from the goroutines that write.
	Progress func(done, total int)
	// Guard is the environment's state guard (pipeline.Result.Guards):
	// a pass that would throw a stateful job's state away without an
	// acknowledgement is blocked before it writes anything (guard.go).
	// Nil checks nothing.
	Guard *state.Guard
}

// Action is what a pass did, or would do, to one object.
type Action string

// The actions.
const (
	Created    Action = "created"
	Configured Action = "configured"
	// Replaced: an immutable field changed, so the live object was deleted
	// and the new one created (see ImmutableFields).
	Replaced  Action = "replaced"
	Unchanged Action = "unchanged"
	Drifted   Action = "drifted" // differs from Git and left alone (drift: warn)
	Pruned    Action = "pruned"
	Retained  Action = "retained" // not pruned: prune off, empty render, or not ours
	Conflict  Action = "conflict" // not written: another manager's fields, or not flinksync's object
	Failed    Action = "failed"
	Skipped   Action = "skipped" // not written: an earlier apply stage failed, or the pass was interrupted
)

// Change is one object and what happened to it.
type Change struct {
	ObjectID
	Action Action `json:"action"`
	// Message explains conflicts, failures and retained objects.
	Message string `json:"message,omitempty"`
	// Diffs are the fields that differ (for configured and drifted objects).
	Diffs []FieldDiff `json:"diffs,omitempty"`
}

// Drift is one field that differs between Git and the cluster.
type Drift struct {
	Environment string `json:"environment"`
	ObjectID
	Field   string `json:"field"`
	Desired string `json:"desired"`
	Live    string `json:"live"`
}

// Health is the state of an application as its operator reports it.
type Health string

// The health states.
const (
	Healthy     Health = "Healthy"
	Progressing Health = "Progressing"
	Degraded    Health = "Degraded"
	Unknown     Health = "Unknown"
)

// AppHealth is the health of one application, SQL statement or compute
// pool, with the operator's words.
type AppHealth struct {
	// App names the application or statement, or the pool as "pool/<name>".
	App string `json:"app"`
	// Kind is HealthStatement or HealthPool; empty for an application.
	Kind    string `json:"kind,omitempty"`
	Health  Health `json:"health"`
	Message string `json:"message,omitempty"`
}

// Result is what a pass did to one environment.
type Result struct {
	Environment string `json:"environment"`
	Namespace   string `json:"namespace"`
	// Cluster is the environment's spec.cluster ("" for the default one).
	Cluster  string      `json:"cluster,omitempty"`
	Revision string      `json:"revision,omitempty"`
	DryRun   bool        `json:"dryRun,omitempty"`
	Blocked  []string    `json:"blocked,omitempty"`
	Changes  []Change    `json:"changes"`
	Drift    []Drift     `json:"drift"`
	Health   []AppHealth `json:"health"`
	Errors   []string    `json:"errors,omitempty"`
	// Savepoints are those prune took, or waits for, before deleting a
	// running stateful job (see Savepoint).
	Savepoints []Savepoint `json:"savepoints,omitempty"`
	// Findings are policy findings only a live cluster can give (TLS-007:
	// the certificate secret expires soon; STATE-001 and STATE-002: what
	// the pass would do to a job's state, against the live job).
	Findings []*diag.Finding `json:"findings,omitempty"`
	// State is what the pass does, or would do, to each job's state: the
	// jobs it changes, replaces or prunes (guard.go).
	State []state.Impact `json:"state,omitempty"`
	// Upgrades are the jobs' upgrades the pass started, followed or
	// settled: healthy on the new spec, failed, rolled back or timed out
	// (upgrade.go).
	Upgrades []Upgrade `json:"upgrades,omitempty"`
	// DryRuns is how many server-side dry runs the pass sent to learn
	// whether objects the local comparison found maybe different really
	// differ (flinksync_dry_run_requests_total); 0 on a steady cluster.
	DryRuns  int           `json:"dryRuns"`
	Duration time.Duration `json:"duration"`
}

// Count returns how many objects had action a.
func (r *Result) Count(a Action) int {
	n := 0
	for _, c := range r.Changes {
		if c.Action == a {
			n++
		}
	}
	return n
}

// OK reports whether the pass neither failed nor was blocked, and wrote
// every object it meant to.
func (r *Result) OK() bool {
	return len(r.Blocked) == 0 && len(r.Errors) == 0 && r.Count(Conflict) == 0 && r.Count(Failed) == 0 && r.Count(Skipped) == 0
}

// Summary is a one-line account of the pass.
func (r *Result) Summary() string {
	if len(r.Blocked) > 0 {
		return fmt.Sprintf("blocked (%d problem(s)); nothing applied or pruned", len(r.Blocked))
	}
	replaced := ""
	if n := r.Count(Replaced); n > 0 {
		replaced = fmt.Sprintf(", %d replaced", n)
	}
	s := fmt.Sprintf("%d created, %d configured%s, %d unchanged, %d pruned, %d drifted field(s), %d conflict(s), %d error(s)",
		r.Count(Created), r.Count(Configured), replaced, r.Count(Unchanged), r.Count(Pruned), len(r.Drift),
		r.Count(Conflict), len(r.Errors)+r.Count(Failed))
	if n := r.Count(Skipped); n > 0 {
		s += fmt.Sprintf(", %d not applied after a failure", n)
	}
	if r.DryRuns > 0 {
		s += fmt.Sprintf(", %d server-side dry run(s) to compare", r.DryRuns)
	}
	return s
}

// ctxErr is a context's error, or nil.
func ctxErr(ctx context.Context) error { return ctx.Err() }
