// Package clusters holds the Kubernetes clusters flinksync talks to: the
// default one and those named by Environment.spec.cluster, each with its
// own client, REST mapper and discovery cache (one sync.Syncer per
// cluster), its own client rate limits, and its own backoff, so that a
// cluster that is down or refuses the credentials fails only its own
// environments. Credentials never come from the repository: the command
// line gives them (--cluster NAME=KUBECONFIG), or the daemon's clusters
// directory (one kubeconfig per cluster, mounted from a Secret).
package clusters

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	gosync "sync"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/sync"
)

// Default is the name of the default cluster: environments that name none.
const Default = ""

// DisplayName is how messages and metrics name a cluster: "default" for
// the default one.
func DisplayName(name string) string {
	if name == Default {
		return "default"
	}
	return name
}

// Defaults of Options.
const (
	// DefaultTimeout bounds one request to a cluster, so that a pass never
	// waits on a dead cluster for longer.
	DefaultTimeout = 30 * time.Second
	// DefaultProbeTimeout bounds the reachability probe before a round.
	DefaultProbeTimeout = 5 * time.Second
	// MinBackoff and MaxBackoff bound the wait after a cluster failed.
	MinBackoff = 5 * time.Second
	MaxBackoff = 5 * time.Minute
)

// Options apply to every cluster of a Set.
type Options struct {
	// QPS and Burst are the client rate limits per cluster (0: sync's
	// defaults).
	QPS   float32
	Burst int
	// Timeout bounds each request (0: DefaultTimeout).
	Timeout time.Duration
	// ProbeTimeout bounds the probe of Reachable (0: DefaultProbeTimeout).
	ProbeTimeout time.Duration
	// Wrap, when set, wraps every cluster's config (tests count writes).
	Wrap func(name string, cfg *rest.Config) *rest.Config
	// Now is the clock of the backoff (nil: time.Now).
	Now func() time.Time
}

// Set is the clusters of one flinksync process. It is safe for
// concurrent use.
type Set struct {
	opts    Options
	mu      gosync.Mutex
	entries map[string]*entry
	// watch, once WatchLive set it, is the context of the syncers' watches.
	watch context.Context
}

type entry struct {
	name   string
	source string // where the credentials came from
	// fingerprint is the kubeconfig's hash: a rotated file makes a new
	// client.
	fingerprint string
	cfg         *rest.Config
	syncer      *sync.Syncer
	// failures in a row, and the time before which the cluster is not
	// tried again.
	failures int
	until    time.Time
	lastErr  error
}

// New is an empty Set.
func New(opts Options) *Set {
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.ProbeTimeout == 0 {
		opts.ProbeTimeout = DefaultProbeTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Set{opts: opts, entries: map[string]*entry{}}
}

// Add gives the Set cluster name's config; source says where it came from
// (a kubeconfig's path, "in-cluster"), for messages. Adding a name again
// replaces its client only when fingerprint differs.
func (s *Set) Add(name string, cfg *rest.Config, source, fingerprint string) error {
	if name != Default {
		if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
			return fmt.Errorf("cluster name %q: %s", name, strings.Join(errs, "; "))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[name]; ok && fingerprint != "" && e.fingerprint == fingerprint {
		return nil
	}
	cfg = rest.CopyConfig(cfg)
	if s.opts.QPS > 0 {
		cfg.QPS, cfg.Burst = s.opts.QPS, s.opts.Burst
		if cfg.Burst <= 0 {
			cfg.Burst = max(1, int(2*s.opts.QPS)) // as the defaults: twice the rate
		}
	}
	if s.opts.QPS == 0 && s.opts.Burst > 0 {
		cfg.QPS, cfg.Burst = sync.DefaultQPS, s.opts.Burst
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = s.opts.Timeout
	}
	if s.opts.Wrap != nil {
		cfg = s.opts.Wrap(name, cfg)
	}
	sy, err := sync.New(cfg)
	if err != nil {
		return fmt.Errorf("cluster %s (%s): %w", DisplayName(name), source, err)
	}
	if s.watch != nil {
		if err := sy.WatchLive(s.watch); err != nil {
			return fmt.Errorf("cluster %s (%s): %w", DisplayName(name), source, err)
		}
	}
	if old, ok := s.entries[name]; ok {
		old.syncer.Close()
	}
	s.entries[name] = &entry{name: name, source: source, fingerprint: fingerprint, cfg: cfg, syncer: sy}
	return nil
}

// Remove forgets cluster name.
func (s *Set) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[name]; ok {
		e.syncer.Close()
	}
	delete(s.entries, name)
}

// WatchLive makes every cluster's syncer, and every one added later, keep
// watches of the live objects its passes read (sync.Syncer.WatchLive),
// until ctx ends: the daemon's mode, whose passes then read no LIST.
func (s *Set) WatchLive(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watch = ctx
	for _, e := range s.entries {
		if err := e.syncer.WatchLive(ctx); err != nil {
			return fmt.Errorf("cluster %s: %w", DisplayName(e.name), err)
		}
	}
	return nil
}

// Names lists the clusters, sorted (the default one first).
func (s *Set) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.entries))
	for n := range s.entries {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ErrUnknownCluster is the error of an environment whose cluster was not
// given.
var ErrUnknownCluster = errors.New("unknown cluster")

// Syncer is cluster name's syncer, or an error naming what is missing.
func (s *Set) Syncer(name string) (*sync.Syncer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[name]; ok {
		return e.syncer, nil
	}
	return nil, s.unknown(name)
}

// For is the syncer of env's cluster.
func (s *Set) For(env *model.Environment) (*sync.Syncer, error) { return s.Syncer(env.Spec.Cluster) }

func (s *Set) unknown(name string) error {
	known := make([]string, 0, len(s.entries))
	for n := range s.entries {
		known = append(known, DisplayName(n))
	}
	sort.Strings(known)
	if name == Default {
		return fmt.Errorf("%w: no default cluster is configured (give --kubeconfig, KUBECONFIG or run in a cluster); have %s", ErrUnknownCluster, orNone(known))
	}
	return fmt.Errorf("%w %q: give its credentials with --cluster %s=KUBECONFIG (the daemon: a kubeconfig in its clusters directory); have %s",
		ErrUnknownCluster, name, name, orNone(known))
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// Reachable probes cluster name (its /version) within the probe timeout,
// unless it is backing off after a failure: then it says until when,
// without a request. It records the outcome: a failure backs the cluster
// off (MinBackoff doubling up to MaxBackoff), a success clears it.
func (s *Set) Reachable(ctx context.Context, name string) error {
	s.mu.Lock()
	e, ok := s.entries[name]
	if !ok {
		err := s.unknown(name)
		s.mu.Unlock()
		return err
	}
	now := s.opts.Now()
	if now.Before(e.until) {
		err := fmt.Errorf("cluster %s is backing off until %s after %d failure(s): %v", DisplayName(name), e.until.UTC().Format(time.RFC3339), e.failures, e.lastErr)
		s.mu.Unlock()
		return err
	}
	cfg := rest.CopyConfig(e.cfg)
	s.mu.Unlock()

	cfg.Timeout = s.opts.ProbeTimeout
	pctx, cancel := context.WithTimeout(ctx, s.opts.ProbeTimeout)
	defer cancel()
	err := probe(pctx, cfg)
	if err != nil {
		err = fmt.Errorf("cluster %s (%s) is unreachable: %w", DisplayName(name), e.source, err)
	}
	s.Record(name, err)
	return err
}

// Warm probes cluster name (Reachable) and, when it answers, reads its API
// discovery, so that a command can do both while it renders.
func (s *Set) Warm(ctx context.Context, name string) error {
	if err := s.Reachable(ctx, name); err != nil {
		return err
	}
	if sy, err := s.Syncer(name); err == nil {
		sy.Warm()
	}
	return nil
}

// Record notes the outcome of talking to cluster name: an error starts or
// lengthens its backoff, nil ends it.
func (s *Set) Record(name string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[name]
	if !ok {
		return
	}
	if err == nil {
		e.failures, e.until, e.lastErr = 0, time.Time{}, nil
		return
	}
	e.failures++
	wait := MinBackoff << min(e.failures-1, 16)
	if wait > MaxBackoff || wait <= 0 {
		wait = MaxBackoff
	}
	e.until, e.lastErr = s.opts.Now().Add(wait), err
}

func probe(ctx context.Context, cfg *rest.Config) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	res := dc.RESTClient().Get().AbsPath("/version").Do(ctx)
	return res.Error()
}

// Diff compares env's rendered objects with env's cluster (plan --live).
func (s *Set) Diff(ctx context.Context, env *model.Environment, out *render.Environment) ([]sync.ObjectDiff, error) {
	sy, err := s.For(env)
	if err != nil {
		return nil, err
	}
	return sy.Diff(ctx, env, out)
}

// ParseFlag splits a --cluster value, NAME=KUBECONFIG.
func ParseFlag(v string) (name, path string, err error) {
	name, path, ok := strings.Cut(v, "=")
	if !ok || name == "" || path == "" {
		return "", "", fmt.Errorf("--cluster %q: want NAME=KUBECONFIG", v)
	}
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return "", "", fmt.Errorf("--cluster %q: the name %q is not a DNS-1123 label (%s)", v, name, strings.Join(errs, "; "))
	}
	return name, path, nil
}

// LoadKubeconfig reads a kubeconfig file (its current context) and its
// fingerprint.
func LoadKubeconfig(path string) (*rest.Config, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	cc, err := clientcmd.NewClientConfigFromBytes(data)
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	sum := sha256.Sum256(data)
	return cfg, fmt.Sprintf("%x", sum[:8]), nil
}

// KubeconfigFile is the file name a cluster's kubeconfig has in a clusters
// directory: <dir>/<cluster>/kubeconfig, as a Secret with the key
// "kubeconfig" mounts it.
const KubeconfigFile = "kubeconfig"

// SyncDir makes the Set's named clusters those of dir: a folder per
// cluster, named after it, holding its kubeconfig (KubeconfigFile).
// Clusters that appeared are added, those whose kubeconfig changed get a
// new client, those that disappeared are removed (the default cluster is
// left alone). Hidden entries (Kubernetes' ..data links) are skipped. A
// cluster whose kubeconfig does not load is reported and left out; the
// others go on.
func (s *Set) SyncDir(dir string) (added, removed []string, errs []error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, []error{fmt.Errorf("clusters directory: %w", err)}
	}
	seen := map[string]bool{}
	before := map[string]bool{}
	for _, n := range s.Names() {
		before[n] = true
	}
	for _, d := range ents {
		name := d.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, name, KubeconfigFile)
		if _, err := os.Stat(path); err != nil {
			continue // not a cluster's folder
		}
		if bad := validation.IsDNS1123Label(name); len(bad) > 0 {
			errs = append(errs, fmt.Errorf("clusters directory: %s is not a cluster name: %s", name, strings.Join(bad, "; ")))
			continue
		}
		seen[name] = true
		cfg, fp, err := LoadKubeconfig(path)
		if err == nil {
			err = s.Add(name, cfg, path, fp)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: %w", name, err))
			continue
		}
		if !before[name] {
			added = append(added, name)
		}
	}
	for n := range before {
		if n != Default && !seen[n] {
			s.Remove(n)
			removed = append(removed, n)
		}
	}
	sort.Strings(removed)
	return added, removed, errs
}
