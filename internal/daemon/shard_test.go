package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/flinksync/flinksync/internal/source"
	"github.com/flinksync/flinksync/internal/testenv"
)

// Short Leases, as in the leader election test.
var testSharding = Sharding{Namespace: "default", LeaseDuration: 2 * time.Second,
	RenewDeadline: 1500 * time.Millisecond, RetryPeriod: 300 * time.Millisecond}

func TestRendezvousMovesOnlyTheLeaversEnvironments(t *testing.T) {
	var envs []string
	for i := range 200 {
		envs = append(envs, fmt.Sprintf("env-%d", i))
	}
	all := []string{"a", "b", "c", "d"}
	count := map[string]int{}
	for _, e := range envs {
		count[owner(e, all)]++
	}
	for _, m := range all {
		// 50 each on average; rendezvous hashing spreads evenly.
		if count[m] < 30 || count[m] > 70 {
			t.Errorf("member %s owns %d of 200 environments: %v", m, count[m], count)
		}
	}
	without := []string{"a", "b", "d"}
	for _, e := range envs {
		before, after := owner(e, all), owner(e, without)
		if before != "c" && before != after {
			t.Errorf("%s moved from %s to %s when c left", e, before, after)
		}
		if after == "c" {
			t.Errorf("%s still on c", e)
		}
	}
}

// TestEnvironmentLeaseIsExclusive: on the real API server, one replica's
// environment Lease keeps another from syncing that environment until it
// is given back, or, when its holder died without giving it back, until
// it has not been renewed for a lease duration.
func TestEnvironmentLeaseIsExclusive(t *testing.T) {
	cfg := testenv.Config(t)
	kube := kubernetes.NewForConfigOrDie(cfg)
	prefix := fmt.Sprintf("lock-d%d", fixtureN.Add(1))
	mk := func(id string) *shard {
		c := testSharding
		c.Prefix, c.Identity = prefix, id
		s, err := newShard(c, kube.CoordinationV1().Leases(c.Namespace), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := mk("a"), mk("b")
	ctx := context.Background()
	release, err := a.lock(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	// a renews while it holds it: still held after more than a duration.
	time.Sleep(testSharding.LeaseDuration + 500*time.Millisecond)
	if _, err := b.lock(ctx, "prod"); !errors.Is(err, errHeld) {
		t.Fatalf("b took prod while a held it: %v", err)
	}
	release()
	relB, err := b.lock(ctx, "prod")
	if err != nil {
		t.Fatalf("b cannot take prod a gave back: %v", err)
	}
	// b dies holding it: nothing renews it any more.
	b.leases = kubernetes.NewForConfigOrDie(dead(cfg)).CoordinationV1().Leases("default")
	relB() // fails: b is dead
	start := time.Now()
	if _, err := a.lock(ctx, "prod"); !errors.Is(err, errHeld) {
		t.Fatalf("a took prod while b's Lease was fresh: %v", err)
	}
	eventually(t, 3*testSharding.LeaseDuration, "a takes prod over from dead b", func() bool {
		_, err := a.lock(ctx, "prod")
		return err == nil
	})
	if took := time.Since(start); took < testSharding.LeaseDuration-testSharding.RetryPeriod {
		t.Errorf("a took prod %s after b died, before b's Lease (%s) could expire", took, testSharding.LeaseDuration)
	}
}

// dead is cfg whose every request fails, as from a crashed replica.
func dead(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Wrap(func(http.RoundTripper) http.RoundTripper {
		return rtFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("dead") })
	})
	return c
}

// writeLog records which replica wrote which object.
type writeLog struct {
	mu     gosync.Mutex
	writes map[string]map[string]bool // request path → replicas
}

func (w *writeLog) reset() {
	w.mu.Lock()
	w.writes = map[string]map[string]bool{}
	w.mu.Unlock()
}

// byNamespace is, for each namespace written, the replicas that wrote in it.
func (w *writeLog) byNamespace() map[string]map[string]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]map[string]bool{}
	for path, who := range w.writes {
		_, rest, ok := strings.Cut(path, "/namespaces/")
		if !ok {
			continue
		}
		ns, _, _ := strings.Cut(rest, "/")
		if out[ns] == nil {
			out[ns] = map[string]bool{}
		}
		for id := range who {
			out[ns][id] = true
		}
	}
	return out
}

// twice are the objects written by more than one replica.
func (w *writeLog) twice() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for path, who := range w.writes {
		if len(who) > 1 {
			out = append(out, fmt.Sprintf("%s by %v", path, keys(who)))
		}
	}
	sort.Strings(out)
	return out
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// replica is one in-process daemon of a sharded set.
type replica struct {
	id     string
	d      *Daemon
	dead   atomic.Bool
	cancel context.CancelFunc
	done   chan struct{}
}

// config is cfg recording the replica's writes other than Leases and
// Events, and failing every request once the replica is dead.
func (r *replica) config(cfg *rest.Config, log *writeLog) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return rtFunc(func(req *http.Request) (*http.Response, error) {
			if r.dead.Load() {
				return nil, errors.New("replica " + r.id + " crashed")
			}
			p := req.URL.Path
			if req.Method != http.MethodGet && req.URL.Query().Get("dryRun") == "" && !strings.Contains(p, "/leases") && !strings.Contains(p, "/events") {
				log.mu.Lock()
				if log.writes[p] == nil {
					log.writes[p] = map[string]bool{}
				}
				log.writes[p][r.id] = true
				log.mu.Unlock()
			}
			return rt.RoundTrip(req)
		})
	})
	return c
}

// shardRepo is the example repository with two more environments (six),
// audit-archiver in all of them. The example's cmf environment is left
// out: replicas share environments by name whatever their target, and
// these tests count the Kubernetes objects each replica writes.
func shardRepo(t *testing.T) string {
	dir := t.TempDir()
	testenv.CopyTree(t, "../../examples/repo-layout", dir, func(rel string, data []byte) []byte {
		data = []byte(strings.ReplaceAll(string(data), ", "+exampleCMFEnv+"]", "]"))
		if rel == auditFile {
			return []byte(strings.Replace(string(data), "environments: [dev, staging, prod, prod-eu]", "environments: [dev, staging, prod, prod-eu, qa, sandbox]", 1))
		}
		return data
	})
	if err := os.Remove(filepath.Join(dir, "environments", exampleCMFEnv+".yaml")); err != nil {
		t.Fatal(err)
	}
	dev, err := os.ReadFile(filepath.Join(dir, "environments/dev.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"qa", "sandbox"} {
		e := strings.NewReplacer("name: dev\n", "name: "+name+"\n", "flink-dev", "flink-"+name).Replace(string(dev))
		if err := os.WriteFile(filepath.Join(dir, "environments", name+".yaml"), []byte(e), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// startShardReplica runs replica id of the sharded daemons whose Leases
// are named after "shard"+suffix, with sharding's timings: it follows
// git's main branch every 300 ms on the control plane cfg (extra, when
// set, changes the Config first) until the test ends.
func startShardReplica(t *testing.T, cfg *rest.Config, git *gitServer, suffix, id string, sharding Sharding, extra func(*Config)) *Daemon {
	t.Helper()
	sharding.Prefix, sharding.Identity = "shard"+suffix, id
	c := Config{
		Remote:   &source.Remote{URL: git.url(), Ref: "main", CacheDir: t.TempDir(), Timeout: 5 * time.Second},
		Interval: 300 * time.Millisecond, DriftInterval: time.Hour,
		RestConfig: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Sharding: &sharding,
	}
	if extra != nil {
		extra(&c)
	}
	d, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return d
}

// TestThreeShardsSplitTheEnvironmentsAndTakeOverFromADeadOne: three
// replicas over six environments on the real API server. Each environment
// is synced by exactly one replica, the one its status says owns it; a
// replica that crashes (its requests fail, its Leases are not given back)
// has its environments taken over by the others within about a lease
// duration; no object is written by two replicas in one round.
func TestThreeShardsSplitTheEnvironmentsAndTakeOverFromADeadOne(t *testing.T) {
	cfg := testenv.Config(t)
	suffix := fmt.Sprintf("-d%d", fixtureN.Add(1))
	git := newGitServer(t, shardRepo(t), testenv.UniqueNamespaces(t, cfg, suffix))
	dyn, _ := dynamic.NewForConfig(cfg)
	f := &fixture{t: t, cfg: cfg, git: git, suffix: suffix, dyn: dyn}
	envs := []string{"dev", "prod", "prod-eu", "qa", "sandbox", "staging"}
	var log writeLog
	log.reset()
	var replicas []*replica
	for _, id := range []string{"a", "b", "c"} {
		r := &replica{id: id, done: make(chan struct{})}
		sh := testSharding
		sh.Prefix, sh.Identity = "shard"+suffix, id
		d, err := New(Config{
			Remote:   &source.Remote{URL: git.url(), Ref: "main", CacheDir: t.TempDir(), Timeout: 5 * time.Second},
			Interval: 300 * time.Millisecond, DriftInterval: time.Hour,
			RestConfig: r.config(cfg, &log),
			Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
			Sharding:   &sh,
		})
		if err != nil {
			t.Fatal(err)
		}
		r.d = d
		ctx, cancel := context.WithCancel(context.Background())
		r.cancel = cancel
		go func() { defer close(r.done); _ = d.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-r.done })
		replicas = append(replicas, r)
	}

	// owners is who owns each environment by the replicas' own status,
	// when the live ones agree on the members and split the environments
	// between them, each exactly once.
	owners := func(live []*replica) (map[string]string, bool) {
		out := map[string]string{}
		for _, r := range live {
			s := r.d.Snapshot().Shard
			if s == nil || len(s.Members) != len(live) {
				return nil, false
			}
			for _, e := range s.Owned {
				if _, dup := out[e]; dup {
					return nil, false
				}
				out[e] = r.id
			}
		}
		return out, len(out) == len(envs)
	}
	byID := map[string]*replica{}
	for _, r := range replicas {
		byID[r.id] = r
	}
	// appliedBy: every environment applied by its owner at rev, with
	// audit-archiver at n TaskManagers (any when n < 0; prod-eu is a CFK
	// environment, without FlinkDeployments).
	appliedBy := func(live []*replica, rev string, n int64) func() bool {
		return func() bool {
			own, ok := owners(live)
			if !ok {
				return false
			}
			for _, e := range envs {
				var st EnvironmentStatus
				for _, x := range byID[own[e]].d.Snapshot().Environments {
					if x.Name == e {
						st = x
					}
				}
				if st.AppliedRevision != rev || (n >= 0 && e != "prod-eu" && f.replicas(e, "audit-archiver") != n) {
					return false
				}
			}
			return true
		}
	}
	// oneWriterEach checks the round's writes: each environment's objects
	// written by its owner alone.
	oneWriterEach := func(own map[string]string, round string) {
		t.Helper()
		if twice := log.twice(); len(twice) > 0 {
			t.Errorf("%s: objects written by two replicas: %v", round, twice)
		}
		by := log.byNamespace()
		for _, e := range envs {
			who := keys(by[f.ns(e)])
			if len(who) != 1 || who[0] != own[e] {
				t.Errorf("%s: environment %s (owner %s) written by %v", round, e, own[e], who)
			}
		}
	}

	eventually(t, 60*time.Second, "three members splitting six environments, all applied", appliedBy(replicas, f.head(), -1))
	time.Sleep(2 * testSharding.RetryPeriod) // the last refreshes settle

	// Round 1: a commit that changes every environment.
	log.reset()
	rev := git.commit(auditFile, "taskManagers: 2", "taskManagers: 4")
	eventually(t, 30*time.Second, "round 1 applied by the owners", appliedBy(replicas, rev, 4))
	own, _ := owners(replicas)
	oneWriterEach(own, "round 1")
	for _, r := range replicas {
		if got := metricValue(r.d.registry, "flinksync_shard_members", nil); got != 3 {
			t.Errorf("%s: flinksync_shard_members = %v, want 3", r.id, got)
		}
	}
	var sum float64
	for _, r := range replicas {
		sum += metricValue(r.d.registry, "flinksync_shard_environments", map[string]string{"identity": r.id})
	}
	if sum != float64(len(envs)) {
		t.Errorf("flinksync_shard_environments sums to %v over the replicas, want %d", sum, len(envs))
	}
	t.Logf("owners: %v", own)

	// Crash the replica owning the most environments: its requests fail
	// from now on, so its Leases are neither renewed nor given back.
	victim := replicas[0]
	for _, r := range replicas {
		if len(r.d.Snapshot().Shard.Owned) > len(victim.d.Snapshot().Shard.Owned) {
			victim = r
		}
	}
	var theirs []string
	for e, id := range own {
		if id == victim.id {
			theirs = append(theirs, e)
		}
	}
	sort.Strings(theirs)
	victim.dead.Store(true)
	killed := time.Now()
	victim.cancel()
	<-victim.done
	var live []*replica
	for _, r := range replicas {
		if r != victim {
			live = append(live, r)
		}
	}

	// Round 2: a commit while one replica is dead.
	log.reset()
	rev = git.commit(auditFile, "taskManagers: 4", "taskManagers: 6")
	eventually(t, 30*time.Second, "the dead replica's environments taken over", func() bool {
		for _, e := range theirs {
			if e != "prod-eu" && f.replicas(e, "audit-archiver") != 6 {
				return false
			}
		}
		return true
	})
	took := time.Since(killed)
	t.Logf("%s's environments %v taken over %s after it died (lease duration %s)", victim.id, theirs, took.Round(10*time.Millisecond), testSharding.LeaseDuration)
	// Its Lease goes unrenewed for a duration, the others see it at their
	// next refresh, and sync at once.
	if limit := testSharding.LeaseDuration + 2*testSharding.RetryPeriod + 2*time.Second; took > limit {
		t.Errorf("takeover took %s, more than %s", took, limit)
	}
	eventually(t, 30*time.Second, "round 2 applied by the two left", appliedBy(live, rev, 6))
	own2, _ := owners(live)
	oneWriterEach(own2, "round 2")
	for e, id := range own {
		if id != victim.id && own2[e] != id {
			t.Errorf("%s moved from %s to %s although its owner lives", e, id, own2[e])
		}
	}
	for _, r := range live {
		if got := metricValue(r.d.registry, "flinksync_shard_members", nil); got != 2 {
			t.Errorf("%s: flinksync_shard_members = %v, want 2", r.id, got)
		}
	}
}

// A replica that loses environments to a replica joining stops exporting
// their series (flinksync_reconcile_total and the other per-environment
// metrics), which the new owner exports; it keeps those it still owns.
func TestShardLosingAnEnvironmentForgetsItsMetrics(t *testing.T) {
	cfg := testenv.Config(t)
	suffix := fmt.Sprintf("-d%d", fixtureN.Add(1))
	git := newGitServer(t, shardRepo(t), testenv.UniqueNamespaces(t, cfg, suffix))
	envs := []string{"dev", "prod", "prod-eu", "qa", "sandbox", "staging"}
	start := func(id string) *Daemon { return startShardReplica(t, cfg, git, suffix, id, testSharding, nil) }
	// exports: whether d exports flinksync_reconcile_total of env; series:
	// the metrics of which d exports a series of env.
	exports := func(d *Daemon, env string) bool {
		return metricValue(d.registry, "flinksync_reconcile_total", map[string]string{"environment": env}) > 0
	}
	series := func(d *Daemon, env string) []string {
		mfs, _ := d.registry.Gather()
		var out []string
		for _, mf := range mfs {
			for _, m := range mf.Metric {
				if matches(m, map[string]string{"environment": env}) {
					out = append(out, mf.GetName())
					break
				}
			}
		}
		return out
	}
	a := start("a")
	eventually(t, 60*time.Second, "replica a alone syncing every environment", func() bool {
		for _, e := range envs {
			if !exports(a, e) {
				return false
			}
		}
		return true
	})
	b := start("b")
	// Both agree on two members and split the environments; b has synced
	// its share.
	var lost []string
	eventually(t, 60*time.Second, "b taking its share and syncing it", func() bool {
		sa, sb := a.Snapshot().Shard, b.Snapshot().Shard
		if len(sa.Members) != 2 || len(sb.Members) != 2 || len(sa.Owned)+len(sb.Owned) != len(envs) || len(sb.Owned) == 0 {
			return false
		}
		for _, e := range sb.Owned {
			if !exports(b, e) {
				return false
			}
		}
		lost = sb.Owned
		return true
	})
	t.Logf("b took %v from a", lost)
	// a forgets at the refresh that moved them, or when the sync in flight
	// ends: give it a retry period more.
	time.Sleep(2 * testSharding.RetryPeriod)
	for _, e := range lost {
		if s := series(a, e); len(s) > 0 {
			t.Errorf("a still exports %s of environment %s, which b owns", s, e)
		}
	}
	for _, e := range a.Snapshot().Shard.Owned {
		if !exports(a, e) {
			t.Errorf("a lost the series of environment %s, which it still owns", e)
		}
	}
}
