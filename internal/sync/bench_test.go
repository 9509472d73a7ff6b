package sync

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/testenv"
	"github.com/flinksync/flinksync/internal/testrepo"
)

var benchRuns atomic.Int64

// benchRepo is one environment, "bench" in namespace ns, with n applications.
func benchRepo(ns string, n int) fstest.MapFS {
	return testrepo.FS(testrepo.Files(testrepo.Options{Apps: n, Nodes: max(2000, 5*n), EnvName: func(int) string { return "bench" },
		Namespace: func(string) string { return ns }}))
}

func renderBench(b *testing.B, ns string, n int) (*pipeline.Result, *render.Environment) {
	b.Helper()
	res, err := pipeline.Run(benchRepo(ns, n), pipeline.Options{Revision: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	if len(res.Blocked) > 0 {
		b.Fatalf("blocked: %v", res.Blocked)
	}
	return res, res.Rendered["bench"]
}

// BenchmarkApply1000 measures, against the local control plane, a cold
// apply of 1,000 FlinkDeployments (plus the environment's RBAC) and a no-op
// re-apply, and runs `kubectl apply --server-side --prune` on the same
// manifests in a twin namespace. Targets (issue 7): cold no slower than
// kubectl, no-op under 1 s with zero writes, peak memory under 200 MB.
func BenchmarkApply1000(b *testing.B) { benchApply(b, 1000) }

// BenchmarkApply10000 is BenchmarkApply1000 at 10,000 applications
// (issue 18: cold within 1.15× of the server's ceiling).
func BenchmarkApply10000(b *testing.B) { benchApply(b, 10000) }

// ceiling applies objs to namespace ns as fast as the server takes them:
// server-side apply on 32 goroutines, no reads, no comparison, no
// inventory. Its time is the server's own ceiling for a cold apply.
func ceiling(b *testing.B, cfg *rest.Config, ns string, objs []*render.Object) time.Duration {
	b.Helper()
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	work := make(chan *unstructured.Unstructured)
	var failed atomic.Int64
	var wg gosync.WaitGroup
	t0 := time.Now()
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range work {
				m, err := s.mapper.RESTMapping(o.GroupVersionKind().GroupKind(), o.GroupVersionKind().Version)
				if err == nil {
					_, err = s.dyn.Resource(m.Resource).Namespace(ns).Apply(context.Background(), o.GetName(), o, metav1.ApplyOptions{FieldManager: "ceiling", Force: true})
				}
				if err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	for _, o := range objs {
		u := o.DeepCopy()
		u.SetNamespace(ns)
		work <- u
	}
	close(work)
	wg.Wait()
	d := time.Since(t0)
	if failed.Load() > 0 {
		b.Fatalf("ceiling: %d applies failed", failed.Load())
	}
	return d
}

func benchApply(b *testing.B, n int) {
	cfg := testenv.Config(b)
	kubectl, kerr := exec.LookPath("kubectl")
	kubeconfig := testenv.WriteKubeconfig(b, cfg)
	var cold, noop, kcold, knoop, ceil time.Duration
	var noopWrites, noopDryRuns int64
	var peak uint64
	for i := 0; i < b.N; i++ {
		seq := benchRuns.Add(1) // testing runs a benchmark more than once: fresh namespaces each time
		ns := fmt.Sprintf("bench-fs-%d-%d", os.Getpid(), seq)
		testenv.CreateNamespace(b, cfg, ns)
		res, out := renderBench(b, ns, n)
		env := res.Repo.Environment("bench")
		var req requestCount
		s, err := New(req.wrap(cfg))
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		b.StartTimer()
		t0 := time.Now()
		r := s.Sync(context.Background(), env, out, Options{})
		cold += time.Since(t0)
		if !r.OK() || r.Count(Created) != len(out.Objects) {
			b.Fatalf("cold apply: %s %v", r.Summary(), r.Errors)
		}
		req.reset()
		t0 = time.Now()
		r = s.Sync(context.Background(), env, out, Options{})
		noop += time.Since(t0)
		b.StopTimer()
		noopWrites += req.writes.Load()
		noopDryRuns += req.dryRuns.Load()
		if r.Count(Unchanged) != len(out.Objects) {
			b.Fatalf("no-op apply: %s", r.Summary())
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapSys)

		cns := fmt.Sprintf("bench-ceil-%d-%d", os.Getpid(), seq)
		testenv.CreateNamespace(b, cfg, cns)
		ceil += ceiling(b, cfg, cns, out.Objects)

		if kerr != nil || n > 1000 {
			continue // kubectl at 10,000 takes minutes; 1,000 says enough
		}
		kns := fmt.Sprintf("bench-kc-%d-%d", os.Getpid(), seq)
		testenv.CreateNamespace(b, cfg, kns)
		_, kout := renderBench(b, kns, n)
		manifests, err := render.YAML(kout.Objects)
		if err != nil {
			b.Fatal(err)
		}
		file := filepath.Join(b.TempDir(), "manifests.yaml")
		if err := os.WriteFile(file, manifests, 0o644); err != nil {
			b.Fatal(err)
		}
		run := func() time.Duration {
			// kubectl prunes server-side applied objects only through an
			// ApplySet (alpha, behind KUBECTL_APPLYSET).
			cmd := exec.Command(kubectl, "--kubeconfig", kubeconfig, "apply", "--server-side", "--field-manager=kubectl-bench",
				"--prune", "--applyset=kubectl-bench", "-n", kns, "-f", file)
			cmd.Env = append(os.Environ(), "KUBECTL_APPLYSET=true")
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = nil, &stderr
			t0 := time.Now()
			if err := cmd.Run(); err != nil {
				b.Fatalf("kubectl: %v\n%s", err, stderr.String())
			}
			return time.Since(t0)
		}
		kcold += run()
		knoop += run()
	}
	per := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) }
	b.ReportMetric(per(cold), "cold-s")
	b.ReportMetric(per(noop), "noop-s")
	b.ReportMetric(float64(noopWrites)/float64(b.N), "noop-writes")
	b.ReportMetric(float64(noopDryRuns)/float64(b.N), "noop-dry-runs")
	b.ReportMetric(float64(peak)/(1<<20), "heap-sys-MB")
	b.ReportMetric(per(ceil), "ceiling-s")
	b.ReportMetric(per(cold)/per(ceil), "cold-per-ceiling-x")
	if kerr == nil && n <= 1000 {
		b.ReportMetric(per(kcold), "kubectl-cold-s")
		b.ReportMetric(per(knoop), "kubectl-noop-s")
		b.ReportMetric(per(kcold)/per(cold), "cold-speedup-x")
	} else {
		b.Logf("kubectl not found (%v): no comparison", kerr)
	}
}

// profileTo writes a CPU profile of what follows, until the returned
// func is called, to $FLINKSYNC_BENCH_PROFILE.<name>.pprof when that is
// set: the profile of the timed passes only, without the setup's.
func profileTo(b *testing.B, name string) (stop func()) {
	dir := os.Getenv("FLINKSYNC_BENCH_PROFILE")
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(dir + "." + name + ".pprof")
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// requestCount counts the requests a client sends, by what they do: reads
// (GET: get, list, watch), writes (any other verb) and server-side dry
// runs (any request with the dryRun query, which changes nothing).
type requestCount struct{ reads, writes, dryRuns atomic.Int64 }

// wrap returns a copy of cfg whose requests are counted in c.
func (c *requestCount) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			switch {
			case req.URL.Query().Has("dryRun"):
				c.dryRuns.Add(1)
			case req.Method == http.MethodGet:
				c.reads.Add(1)
			default:
				c.writes.Add(1)
			}
			return rt.RoundTrip(req)
		})
	})
	return cfg
}

func (c *requestCount) reset() { c.reads.Store(0); c.writes.Store(0); c.dryRuns.Store(0) }

// benchOverlay adds to the bench environment's overlay what a platform
// team adds beside the apps: a ResourceQuota written as 1000m/1024Mi
// (the server stores 1 and 1Gi: the local comparison settles it) and a
// Service with an empty clusterIP the server fills in (only a dry run
// settles it, once).
func benchOverlay(files map[string]string, ns string) {
	k := "overlays/bench/kustomization.yaml"
	files[k] += "resources: [quota.yaml, service.yaml]\n"
	files["overlays/bench/quota.yaml"] = strings.ReplaceAll(quotaYAML, "NS", ns)
	files["overlays/bench/service.yaml"] = strings.ReplaceAll(serviceYAML, "NS", ns)
}

// BenchmarkNoOpPass1000 measures, against the local control plane, a pass
// over 1,000 applications (their FlinkDeployments, the environment's RBAC,
// an overlay's labels and tolerations, quota and Service) that are already
// applied and unchanged: the daemon's pass on a steady cluster. Targets
// (issue 14): under 0.5 s, zero writes; the dry runs a pass sends are
// reported: the first pass after the apply asks the server about the
// objects the local comparison cannot settle (first-dry-runs), and the
// passes after it remember the answers (dry-runs/op).
func BenchmarkNoOpPass1000(b *testing.B) { benchNoOp(b, 1000) }

// BenchmarkNoOpPass10000 is BenchmarkNoOpPass1000 at 10,000 applications.
func BenchmarkNoOpPass10000(b *testing.B) { benchNoOp(b, 10000) }

func benchNoOp(b *testing.B, n int) {
	cfg := testenv.Config(b)
	ns := fmt.Sprintf("bench-noop-%d-%d", os.Getpid(), benchRuns.Add(1))
	testenv.CreateNamespace(b, cfg, ns)
	files := testrepo.Files(testrepo.Options{Apps: n, Overlays: 1, Nodes: max(2000, 5*n), EnvName: func(int) string { return "bench" },
		Namespace: func(string) string { return ns }})
	benchOverlay(files, ns)
	res, err := pipeline.Run(testrepo.FS(files), pipeline.Options{Revision: "bench"})
	if err != nil || len(res.Blocked) > 0 {
		b.Fatalf("render: %v %v", err, res.Blocked)
	}
	env, out := res.Repo.Environment("bench"), res.Rendered["bench"]
	var req requestCount
	s, err := New(req.wrap(cfg))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if r := s.Sync(ctx, env, out, Options{}); !r.OK() || r.Count(Created) != len(out.Objects) {
		b.Fatalf("cold apply: %s %v", r.Summary(), r.Errors)
	}
	req.reset()
	r := s.Sync(ctx, env, out, Options{})
	if r.Count(Unchanged) != len(out.Objects) || req.writes.Load() != 0 {
		b.Fatalf("first no-op pass: %s, %d writes", r.Summary(), req.writes.Load())
	}
	first := req.dryRuns.Load()
	runtime.GC()
	req.reset()
	stop := profileTo(b, fmt.Sprintf("noop.%d", n))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := s.Sync(ctx, env, out, Options{})
		if r.Count(Unchanged) != len(out.Objects) {
			b.Fatalf("no-op pass: %s", r.Summary())
		}
	}
	b.StopTimer()
	stop()
	b.ReportMetric(float64(req.writes.Load())/float64(b.N), "writes/op")
	b.ReportMetric(float64(req.dryRuns.Load())/float64(b.N), "dry-runs/op")
	b.ReportMetric(float64(req.reads.Load())/float64(b.N), "reads/op")
	b.ReportMetric(float64(first), "first-dry-runs")
	b.ReportMetric(float64(len(out.Objects)), "objects")
}

// BenchmarkPrune1000 measures a pass that prunes 1,000 FlinkDeployments
// (their apps removed from Git; stateless, so no savepoint) against the
// local control plane. Target (issue 18): under 3 s.
func BenchmarkPrune1000(b *testing.B) {
	const n = 1000
	cfg := testenv.Config(b)
	var total time.Duration
	var reqs int64
	for i := 0; i < b.N; i++ {
		ns := fmt.Sprintf("bench-prune-%d-%d", os.Getpid(), benchRuns.Add(1))
		testenv.CreateNamespace(b, cfg, ns)
		files := testrepo.Files(testrepo.Options{Apps: n + 1, EnvName: func(int) string { return "bench" },
			Namespace: func(string) string { return ns }})
		for k, v := range files {
			files[k] = strings.ReplaceAll(v, "upgradeMode: savepoint", "upgradeMode: stateless")
		}
		res, err := pipeline.Run(testrepo.FS(files), pipeline.Options{Revision: "bench"})
		if err != nil || len(res.Blocked) > 0 {
			b.Fatalf("render: %v %v", err, res.Blocked)
		}
		var req requestCount
		s, err := New(req.wrap(cfg))
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		env := res.Repo.Environment("bench")
		if r := s.Sync(ctx, env, res.Rendered["bench"], Options{}); !r.OK() {
			b.Fatalf("cold apply: %s %v", r.Summary(), r.Errors)
		}
		for a := 1; a <= n; a++ {
			delete(files, testrepo.AppFile(a))
		}
		res, err = pipeline.Run(testrepo.FS(files), pipeline.Options{Revision: "bench"})
		if err != nil || len(res.Blocked) > 0 {
			b.Fatalf("render: %v %v", err, res.Blocked)
		}
		runtime.GC()
		req.reset()
		b.StartTimer()
		t0 := time.Now()
		r := s.Sync(ctx, env, res.Rendered["bench"], Options{Guard: res.Guard("bench")})
		total += time.Since(t0)
		b.StopTimer()
		reqs += req.reads.Load() + req.writes.Load()
		if !r.OK() || r.Count(Pruned) != n {
			b.Fatalf("prune: %s %v (blocked %v)", r.Summary(), r.Errors, r.Blocked)
		}
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "prune-s")
	b.ReportMetric(float64(reqs)/float64(b.N), "requests")
}
