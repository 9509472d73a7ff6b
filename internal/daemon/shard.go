package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	gosync "sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
)

// Sharding spreads the environments over the live replicas; every replica
// syncs its own share. The coordination is Kubernetes Leases on the
// default cluster and nothing else, no consensus of our own:
//
//   - each replica holds a membership Lease, <Prefix>-member-<Identity>,
//     renewed every RetryPeriod; the members are the Leases of that prefix
//     seen renewed within their duration;
//   - an environment belongs to the member that rendezvous
//     (highest-random-weight) hashing of its name picks among the live
//     members, so a member joining or leaving moves only the environments
//     it takes or had, and every replica computes the same owner from the
//     same list;
//   - around each environment's sync the replica holds a Lease of that
//     environment, <Prefix>-env-<environment>, renewed while the sync runs
//     and released after it: while members disagree on the list (for up to
//     a RetryPeriod after a change) the environment Lease keeps two
//     replicas from syncing one environment at once; a replica that finds
//     another's unexpired environment Lease skips the environment and tries
//     again at the next tick.
//
// A replica that dies stops renewing: its membership Lease is seen
// unrenewed for a LeaseDuration and its environments go to the others,
// which sync them at once. A replica that cannot renew its own Lease for
// RenewDeadline (shorter than LeaseDuration) owns nothing until it can, so
// it has stopped before the others take over.
type Sharding struct {
	// Namespace holds the Leases, on the default cluster.
	Namespace string
	// Prefix names the Leases: <Prefix>-member-<Identity> and
	// <Prefix>-env-<environment>. Replicas with one prefix share the
	// environments.
	Prefix string
	// Identity names this replica (the pod's name): unique among the
	// replicas, a DNS subdomain once prefixed.
	Identity                                  string
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// Defaults of Sharding, those of Kubernetes controllers' leader election.
const (
	DefaultShardLeaseDuration = 15 * time.Second
	DefaultShardRenewDeadline = 10 * time.Second
	DefaultShardRetryPeriod   = 2 * time.Second
)

// shard is this replica's view of the members and its Leases.
type shard struct {
	cfg    Sharding
	leases coordclient.LeaseInterface

	members    prometheus.Gauge
	owned      *prometheus.GaugeVec
	skips      prometheus.Counter
	leaseFails *prometheus.CounterVec
	// onWake is called when another replica accepted a webhook (the
	// daemon's Trigger); it must not block.
	onWake func()

	mu shardState
}

// shardState is the mutable part of shard, under its own mutex. Lock order:
// Daemon.mu before shard.mu, never the other way.
type shardState struct {
	gosync.Mutex
	live    []string  // sorted identities of the live members, this one included while its Lease is fresh
	renewed time.Time // the last successful renewal of this replica's membership Lease (local clock)
	// seen is, per Lease name, the last version seen and when it was
	// first seen (local clock): a Lease is fresh while its version changed
	// within its duration, measured on this replica's clock, as client-go's
	// leader election does, so clocks need not agree.
	seen map[string]observed
	mine map[string]bool // the environments owned at the last refresh
	// webhook is when this replica last accepted a push webhook, written
	// on its membership Lease (AnnWebhook) at its next renewal; webhooks
	// is, per other member's Lease, the value last seen there.
	webhook  time.Time
	webhooks map[string]string
}

// AnnWebhook, on a replica's membership Lease, is when it last accepted a
// push webhook. A webhook reaches one replica (the Service picks one);
// the others see the annotation change at their next refresh (every
// RetryPeriod) and look at the remote's head at once, so a push reaches
// every shard's environments within about two retry periods instead of
// a poll interval.
const AnnWebhook = "flinksync.dev/webhook"

// sawWebhook records that this replica accepted a push webhook at t.
func (s *shard) sawWebhook(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.webhook = t
}

type observed struct {
	version string
	at      time.Time
}

func newShard(cfg Sharding, leases coordclient.LeaseInterface, reg prometheus.Registerer) (*shard, error) {
	cfg.LeaseDuration = orDefault(cfg.LeaseDuration, DefaultShardLeaseDuration)
	cfg.RenewDeadline = orDefault(cfg.RenewDeadline, DefaultShardRenewDeadline)
	cfg.RetryPeriod = orDefault(cfg.RetryPeriod, DefaultShardRetryPeriod)
	switch {
	case cfg.Namespace == "" || cfg.Prefix == "" || cfg.Identity == "":
		return nil, fmt.Errorf("sharding: namespace (%q), lease prefix (%q) and identity (%q) are all required", cfg.Namespace, cfg.Prefix, cfg.Identity)
	case cfg.RenewDeadline >= cfg.LeaseDuration:
		return nil, fmt.Errorf("sharding: the renew deadline (%s) must be shorter than the lease duration (%s), so a replica that cannot renew stops before the others take over", cfg.RenewDeadline, cfg.LeaseDuration)
	case cfg.RetryPeriod >= cfg.RenewDeadline:
		return nil, fmt.Errorf("sharding: the retry period (%s) must be shorter than the renew deadline (%s)", cfg.RetryPeriod, cfg.RenewDeadline)
	}
	s := &shard{cfg: cfg, leases: leases,
		members: prometheus.NewGauge(prometheus.GaugeOpts{Name: "flinksync_shard_members",
			Help: "Live replicas sharing the environments, as this replica sees them (membership Leases renewed within their duration)."}),
		owned: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flinksync_shard_environments",
			Help: "Environments this replica owns and syncs."}, []string{"identity"}),
		skips: prometheus.NewCounter(prometheus.CounterOpts{Name: "flinksync_shard_env_lease_skips_total",
			Help: "Syncs of an owned environment skipped because another replica held its environment Lease (members changing)."}),
		leaseFails: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flinksync_shard_lease_errors_total",
			Help: "Requests on the sharding Leases that failed, by kind: member (renewing this replica's membership), list, env."}, []string{"kind"}),
	}
	s.mu.seen = map[string]observed{}
	s.mu.webhooks = map[string]string{}
	s.mu.mine = map[string]bool{}
	for _, c := range []prometheus.Collector{s.members, s.owned, s.skips, s.leaseFails} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("sharding metrics: %w", err)
		}
	}
	s.owned.WithLabelValues(cfg.Identity).Set(0)
	return s, nil
}

func (s *shard) memberPrefix() string     { return s.cfg.Prefix + "-member-" }
func (s *shard) memberLease() string      { return s.memberPrefix() + s.cfg.Identity }
func (s *shard) envLease(e string) string { return s.cfg.Prefix + "-env-" + e }

// owner is the member rendezvous hashing gives env: the highest hash of
// member and environment, ties to the lower name. members is not empty.
func owner(env string, members []string) string {
	var best string
	var top uint64
	for i, m := range members {
		h := sha256.Sum256([]byte(m + "\x00" + env))
		w := binary.BigEndian.Uint64(h[:8])
		if i == 0 || w > top || (w == top && m < best) {
			best, top = m, w
		}
	}
	return best
}

// selfLive reports whether this replica's own Lease was renewed within the
// renew deadline. s.mu is held.
func (s *shard) selfLive(now time.Time) bool {
	return !s.mu.renewed.IsZero() && now.Sub(s.mu.renewed) < s.cfg.RenewDeadline
}

// owns reports whether this replica syncs env now.
func (s *shard) owns(env string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ownsLocked(env, time.Now())
}

func (s *shard) ownsLocked(env string, now time.Time) bool {
	return s.selfLive(now) && len(s.mu.live) > 0 && owner(env, s.mu.live) == s.cfg.Identity
}

// fresh reports whether l was renewed within its duration, as this
// replica has watched it. A Lease seen for the first time counts from its
// renewTime when that is in the past (a member dead for an hour is not
// given a duration more), else from now. s.mu is held.
func (s *shard) fresh(l *coordinationv1.Lease, now time.Time) bool {
	o, ok := s.mu.seen[l.Name]
	if !ok || o.version != l.ResourceVersion {
		at := now
		if !ok && l.Spec.RenewTime != nil && l.Spec.RenewTime.Time.Before(now) {
			at = l.Spec.RenewTime.Time
		}
		o = observed{version: l.ResourceVersion, at: at}
		s.mu.seen[l.Name] = o
	}
	d := s.cfg.LeaseDuration
	if l.Spec.LeaseDurationSeconds != nil {
		d = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	}
	return now.Sub(o.at) < d
}

// hold sets l's holder to this replica, renewed now.
func (s *shard) hold(l *coordinationv1.Lease, now time.Time) {
	secs := int32((s.cfg.LeaseDuration + time.Second - 1) / time.Second)
	t := metav1.NewMicroTime(now)
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != s.cfg.Identity {
		id := s.cfg.Identity
		l.Spec.HolderIdentity = &id
		l.Spec.AcquireTime = &t
		n := int32(1)
		if l.Spec.LeaseTransitions != nil {
			n = *l.Spec.LeaseTransitions + 1
		}
		l.Spec.LeaseTransitions = &n
	}
	l.Spec.RenewTime = &t
	l.Spec.LeaseDurationSeconds = &secs
}

// renew creates or renews this replica's membership Lease.
func (s *shard) renew(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RetryPeriod)
	defer cancel()
	name := s.memberLease()
	l, err := s.leases.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		l = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.cfg.Namespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "flinksync"}}}
		s.hold(l, time.Now())
		s.markWebhook(l)
		_, err = s.leases.Create(ctx, l, metav1.CreateOptions{})
	case err == nil:
		s.hold(l, time.Now())
		s.markWebhook(l)
		_, err = s.leases.Update(ctx, l, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("membership Lease %s/%s: %w", s.cfg.Namespace, name, err)
	}
	return nil
}

// markWebhook writes on l when this replica last accepted a webhook.
func (s *shard) markWebhook(l *coordinationv1.Lease) {
	s.mu.Lock()
	at := s.mu.webhook
	s.mu.Unlock()
	if at.IsZero() {
		return
	}
	if l.Annotations == nil {
		l.Annotations = map[string]string{}
	}
	l.Annotations[AnnWebhook] = at.UTC().Format(time.RFC3339Nano)
}

// refresh renews this replica's membership and lists the members.
func (s *shard) refresh(ctx context.Context) error {
	renewErr := s.renew(ctx)
	now := time.Now()
	if renewErr == nil {
		s.mu.Lock()
		s.mu.renewed = now
		s.mu.Unlock()
	} else {
		s.leaseFails.WithLabelValues("member").Inc()
	}
	lctx, cancel := context.WithTimeout(ctx, s.cfg.RetryPeriod)
	defer cancel()
	list, err := s.leases.List(lctx, metav1.ListOptions{})
	if err != nil {
		s.leaseFails.WithLabelValues("list").Inc()
		return errors.Join(renewErr, fmt.Errorf("listing the Leases of namespace %s: %w", s.cfg.Namespace, err))
	}
	now = time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var live []string
	listed := map[string]bool{}
	for i := range list.Items {
		l := &list.Items[i]
		listed[l.Name] = true
		if !strings.HasPrefix(l.Name, s.memberPrefix()) || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
			continue
		}
		id := *l.Spec.HolderIdentity
		if id == s.cfg.Identity {
			continue // this replica judges itself by its own renewals
		}
		// Another replica accepted a webhook since the last refresh: the
		// remote has news, for this replica's environments too.
		v := l.Annotations[AnnWebhook]
		if prev, known := s.mu.webhooks[l.Name]; known && prev != v && v != "" && s.onWake != nil {
			s.onWake()
		}
		s.mu.webhooks[l.Name] = v
		if s.fresh(l, now) {
			live = append(live, id)
		}
	}
	for name := range s.mu.seen {
		if !listed[name] && strings.HasPrefix(name, s.memberPrefix()) {
			delete(s.mu.seen, name)
		}
	}
	for name := range s.mu.webhooks {
		if !listed[name] {
			delete(s.mu.webhooks, name)
		}
	}
	if s.selfLive(now) {
		live = append(live, s.cfg.Identity)
	}
	sort.Strings(live)
	s.mu.live = live
	s.members.Set(float64(len(live)))
	return renewErr
}

// leave deletes this replica's membership Lease at a graceful stop, so the
// others take its environments over at their next refresh rather than a
// lease duration later.
func (s *shard) leave() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RetryPeriod)
	defer cancel()
	name := s.memberLease()
	err := s.leases.Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting membership Lease %s/%s: %w", s.cfg.Namespace, name, err)
	}
	return nil
}

// errHeld says another replica holds an environment's Lease.
var errHeld = errors.New("held by another replica")

// lock takes env's Lease and renews it until release is called, which
// gives it back. It fails with errHeld when another replica holds it
// unexpired.
func (s *shard) lock(ctx context.Context, env string) (release func(), err error) {
	name := s.envLease(env)
	gctx, cancel := context.WithTimeout(ctx, s.cfg.RetryPeriod)
	defer cancel()
	l, err := s.leases.Get(gctx, name, metav1.GetOptions{})
	now := time.Now()
	switch {
	case apierrors.IsNotFound(err):
		l = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.cfg.Namespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "flinksync"}}}
		s.hold(l, now)
		l, err = s.leases.Create(gctx, l, metav1.CreateOptions{})
	case err == nil:
		s.mu.Lock()
		held := l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" && *l.Spec.HolderIdentity != s.cfg.Identity && s.fresh(l, now)
		s.mu.Unlock()
		if held {
			return nil, fmt.Errorf("environment Lease %s/%s: %w (%s)", s.cfg.Namespace, name, errHeld, *l.Spec.HolderIdentity)
		}
		s.hold(l, now)
		l, err = s.leases.Update(gctx, l, metav1.UpdateOptions{})
	}
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
		// Another replica took it between the read and the write.
		return nil, fmt.Errorf("environment Lease %s/%s: %w", s.cfg.Namespace, name, errHeld)
	}
	if err != nil {
		return nil, fmt.Errorf("environment Lease %s/%s: %w", s.cfg.Namespace, name, err)
	}
	// Renew while the sync runs: a sync may outlast the lease duration
	// (it is bounded by the pass deadline), and the others must not take
	// the environment meanwhile.
	stop := make(chan struct{})
	stopped := make(chan struct{})
	held := l
	var heldMu gosync.Mutex
	go func() {
		defer close(stopped)
		t := time.NewTicker(s.cfg.RetryPeriod)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			heldMu.Lock()
			c := held.DeepCopy()
			heldMu.Unlock()
			s.hold(c, time.Now())
			rctx, cancel := context.WithTimeout(context.Background(), s.cfg.RetryPeriod)
			u, err := s.leases.Update(rctx, c, metav1.UpdateOptions{})
			cancel()
			if err != nil {
				s.leaseFails.WithLabelValues("env").Inc()
				continue
			}
			heldMu.Lock()
			held = u
			heldMu.Unlock()
		}
	}()
	return func() {
		close(stop)
		<-stopped
		heldMu.Lock()
		c := held.DeepCopy()
		heldMu.Unlock()
		// Given back, not deleted: the next holder updates it, and an
		// empty holder reads as free at once.
		empty := ""
		t := metav1.NewMicroTime(time.Now())
		c.Spec.HolderIdentity, c.Spec.RenewTime = &empty, &t
		rctx, cancel := context.WithTimeout(context.Background(), s.cfg.RetryPeriod)
		defer cancel()
		if _, err := s.leases.Update(rctx, c, metav1.UpdateOptions{}); err != nil {
			// It expires by itself within a lease duration.
			s.leaseFails.WithLabelValues("env").Inc()
		}
	}, nil
}

// runShard keeps this replica's membership until ctx is done, then leaves.
// After each refresh the environments this replica gained are made due at
// once (the loop's next tick syncs them), and the ones it lost are no
// longer synced here.
func (d *Daemon) runShard(ctx context.Context, ready chan<- struct{}) {
	s := d.shard
	t := time.NewTicker(s.cfg.RetryPeriod)
	defer t.Stop()
	first := true
	var lastErr string
	for {
		err := s.refresh(ctx)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if msg != lastErr {
			if err != nil {
				d.log.Warn("sharding", "identity", s.cfg.Identity, "error", msg)
			} else {
				d.log.Info("sharding: renewing again", "identity", s.cfg.Identity)
			}
			lastErr = msg
		}
		d.reassign()
		if first {
			close(ready)
			first = false
		}
		select {
		case <-ctx.Done():
			if err := s.leave(); err != nil {
				d.log.Warn("sharding: leaving", "identity", s.cfg.Identity, "error", err.Error())
			}
			return
		case <-t.C:
		}
	}
}

// reassign works out the environments this replica owns now; those it
// gained are due at once.
func (d *Daemon) reassign() {
	s := d.shard
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	s.mu.Lock()
	mine := map[string]bool{}
	var gained []string
	for name, st := range d.envs {
		if st.missing || !s.ownsLocked(name, now) {
			continue
		}
		mine[name] = true
		if !s.mu.mine[name] {
			gained = append(gained, name)
		}
	}
	var lost []string
	for name := range s.mu.mine {
		if !mine[name] {
			lost = append(lost, name)
		}
	}
	s.mu.mine = mine
	members := append([]string(nil), s.mu.live...)
	s.mu.Unlock()
	s.owned.WithLabelValues(s.cfg.Identity).Set(float64(len(mine)))
	for _, name := range gained {
		st := d.envs[name]
		st.nextDrift, st.nextTry = time.Time{}, time.Time{}
	}
	if len(gained) > 0 {
		d.Trigger() // rather than wait for the drift tick
	}
	for _, name := range lost {
		if st := d.envs[name]; st != nil && !st.missing {
			d.forget(name)
		}
	}
	if len(gained) > 0 || len(lost) > 0 {
		sort.Strings(gained)
		sort.Strings(lost)
		d.log.Info("sharding: environments moved", "identity", s.cfg.Identity, "members", members, "gained", gained, "lost", lost)
	}
}

// forget drops what this replica exports of environment name, which it no
// longer syncs: its metrics and its firing alerts (the new owner raises
// them afresh). An environment that left Git is not forgotten here: it
// stays in the status, with its last figures, as without sharding.
func (d *Daemon) forget(name string) {
	d.metrics.Forget(name)
	d.alerter.Forget(name)
}

// lockEnv takes the environment Lease of j before its sync, with sharding;
// ok is false when the environment is to be skipped this round, and it is
// made due again so the next tick retries. release gives the Lease back
// and, when the environment went to another replica while it synced,
// forgets it again: reassign forgot it when it moved, and the sync in
// flight then recorded its figures.
func (d *Daemon) lockEnv(ctx context.Context, j job) (release func(), ok bool) {
	if d.shard == nil {
		return func() {}, true
	}
	unlock, err := d.shard.lock(ctx, j.st.name)
	if err == nil {
		return func() {
			unlock()
			if !d.shard.owns(j.st.name) {
				d.forget(j.st.name)
			}
		}, true
	}
	if errors.Is(err, errHeld) {
		d.shard.skips.Inc()
		d.log.Info("sharding: skipped this round", "environment", j.st.name, "reason", err.Error())
	} else {
		d.shard.leaseFails.WithLabelValues("env").Inc()
		d.log.Warn("sharding: skipped this round", "environment", j.st.name, "error", err.Error())
	}
	d.mu.Lock()
	j.st.nextDrift = time.Now()
	if j.st.failures > 0 {
		j.st.nextTry = time.Now()
	}
	d.mu.Unlock()
	return nil, false
}

// ShardStatus is this replica's part of the environments.
type ShardStatus struct {
	Identity       string   `json:"identity"`
	LeaseNamespace string   `json:"leaseNamespace"`
	LeasePrefix    string   `json:"leasePrefix"`
	Members        []string `json:"members"`
	// Owned are the environments this replica syncs; the others are
	// synced by other members and their status here is not current.
	Owned []string `json:"owned"`
}

// shardStatus is the status of the sharding; nil without. d.mu is held.
func (d *Daemon) shardStatus() *ShardStatus {
	s := d.shard
	if s == nil {
		return nil
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &ShardStatus{Identity: s.cfg.Identity, LeaseNamespace: s.cfg.Namespace, LeasePrefix: s.cfg.Prefix,
		Members: append([]string{}, s.mu.live...), Owned: []string{}}
	for name, e := range d.envs {
		if !e.missing && s.ownsLocked(name, now) {
			st.Owned = append(st.Owned, name)
		}
	}
	sort.Strings(st.Owned)
	return st
}

// runSharded is Run with sharding: the membership first (so the first pass
// knows its share), then the loop, every replica syncing its own
// environments. The membership outlives ctx until the pass in flight has
// finished, then the replica leaves.
func (d *Daemon) runSharded(ctx context.Context) {
	mctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	ready, left := make(chan struct{}), make(chan struct{})
	go func() { defer close(left); d.runShard(mctx, ready) }()
	<-ready
	d.log.Info("sharding", "identity", d.shard.cfg.Identity, "namespace", d.shard.cfg.Namespace, "prefix", d.shard.cfg.Prefix)
	d.loop(ctx)
	stop()
	<-left
}
