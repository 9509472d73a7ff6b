package pipeline

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/testrepo"
)

// largeRepo is an in-memory repository of apps applications, each in
// every one of envs environments, with kustomize overlays on the first two.
func largeRepo(apps, envs int) fstest.MapFS {
	return testrepo.FS(testrepo.Files(testrepo.Options{Apps: apps, Envs: envs, Overlays: 2}))
}

// BenchmarkValidate2000x5 runs the whole offline pipeline (load, size,
// render with overlays on two environments, policy) over 2,000 apps × 5
// environments. Targets: render under 2 s and 300 MB (issue 5), validate
// end to end under 3 s (issue 6).
func BenchmarkValidate2000x5(b *testing.B) {
	fsys := largeRepo(2000, 5)
	var peak uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := Run(fsys, Options{Now: fixedNow})
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Blocked) > 0 {
			for env, why := range res.Blocked {
				b.Fatalf("%s blocked: %s", env, why[0])
			}
		}
		objs := 0
		for _, e := range res.Rendered {
			objs += len(e.Objects)
		}
		if objs != 5*(2000+3) {
			b.Fatalf("want %d objects, got %d", 5*2003, objs)
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
		runtime.KeepAlive(res)
	}
	b.ReportMetric(float64(peak)/(1<<20), "heap-MB")
	b.ReportMetric(peakRSS(), "peak-RSS-MB")
}

// BenchmarkRender2000x5 renders 2,000 apps × 5 environments, overlays on
// two, from an already loaded and sized repository. Target (issue 5):
// under 2 s and 300 MB.
func BenchmarkRender2000x5(b *testing.B) {
	fsys := largeRepo(2000, 5)
	base, err := Run(fsys, Options{Now: fixedNow})
	if err != nil {
		b.Fatal(err)
	}
	size := func(env, app string) (render.Resources, error) { return Resources(base.Sizing.Result(env, app)), nil }
	var peak uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		objs := 0
		for _, env := range base.Repo.Environments {
			out, findings, err := render.Render(render.InputOf(base.Repo, env, size), render.Options{Source: fsys})
			if err != nil || len(findings) > 0 {
				b.Fatalf("%v %v", err, findings)
			}
			objs += len(out.Objects)
		}
		if objs != 5*2003 {
			b.Fatalf("want %d objects, got %d", 5*2003, objs)
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	b.ReportMetric(float64(peak)/(1<<20), "heap-MB")
	b.ReportMetric(peakRSS(), "peak-RSS-MB")
}

// peakRSS is the process's peak resident memory (VmHWM) in MiB, or 0.
func peakRSS() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:")), "%f", &kb)
			return kb / 1024
		}
	}
	return 0
}
