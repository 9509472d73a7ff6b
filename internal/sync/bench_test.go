package sync

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/testenv"
	"github.com/flinksync/flinksync/internal/testrepo"
)

var benchRuns atomic.Int64

// benchRepo is one environment, "bench" in namespace ns, with n applications.
func benchRepo(ns string, n int) fstest.MapFS {
	return testrepo.FS(testrepo.Files(testrepo.Options{Apps: n, EnvName: func(int) string { return "bench" },
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
func BenchmarkApply1000(b *testing.B) {
	const n = 1000
	cfg := testenv.Config(b)
	kubectl, kerr := exec.LookPath("kubectl")
	kubeconfig := testenv.WriteKubeconfig(b, cfg)
	var cold, noop, kcold, knoop time.Duration
	var noopWrites int64
	var peak uint64
	for i := 0; i < b.N; i++ {
		seq := benchRuns.Add(1) // testing runs a benchmark more than once: fresh namespaces each time
		ns := fmt.Sprintf("bench-fs-%d-%d", os.Getpid(), seq)
		testenv.CreateNamespace(b, cfg, ns)
		res, out := renderBench(b, ns, n)
		env := res.Repo.Environment("bench")
		var writes atomic.Int64
		s, err := New(CountWrites(cfg, &writes))
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
		writes.Store(0)
		t0 = time.Now()
		r = s.Sync(context.Background(), env, out, Options{})
		noop += time.Since(t0)
		b.StopTimer()
		noopWrites += writes.Load()
		if r.Count(Unchanged) != len(out.Objects) {
			b.Fatalf("no-op apply: %s", r.Summary())
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapSys)

		if kerr != nil {
			continue
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
	b.ReportMetric(float64(peak)/(1<<20), "heap-sys-MB")
	if kerr == nil {
		b.ReportMetric(per(kcold), "kubectl-cold-s")
		b.ReportMetric(per(knoop), "kubectl-noop-s")
		b.ReportMetric(per(kcold)/per(cold), "cold-speedup-x")
	} else {
		b.Logf("kubectl not found (%v): no comparison", kerr)
	}
}
