package pipeline

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/flinksync/flinksync/internal/render"
)

// largeRepo builds an in-memory repository of apps applications, each in
// every one of envs environments, with kustomize overlays on the first two.
func largeRepo(apps, envs int) fstest.MapFS {
	fsys := fstest.MapFS{}
	add := func(name, data string) { fsys[name] = &fstest.MapFile{Data: []byte(data)} }
	var names []string
	for e := 0; e < envs; e++ {
		name := fmt.Sprintf("env%d", e)
		names = append(names, name)
		add("environments/"+name+".yaml", fmt.Sprintf(`apiVersion: flinksync.dev/v1alpha1
kind: Environment
metadata: {name: %s}
spec:
  target: fko
  namespace: flink-%s
  nodes: {cpu: "8", memory: 32Gi, count: 2000}
  defaults:
    image: flink:1.20
    flinkVersion: v1_20
    mode: standalone
    flinkConfiguration: {state.checkpoints.dir: "s3://b/%s"}
`, name, name, name))
		if e < 2 {
			add("overlays/"+name+"/kustomization.yaml", `labels:
- pairs: {cost-center: data}
patches:
- target: {kind: FlinkDeployment}
  patch: |-
    - op: add
      path: /spec/podTemplate
      value: {spec: {tolerations: [{key: dedicated, operator: Equal, value: flink, effect: NoSchedule}]}}
`)
		}
	}
	add("pools/medium.yaml", `apiVersion: flinksync.dev/v1alpha1
kind: ComputePool
metadata: {name: medium}
spec:
  taskManager: {cpu: "2", memory: 8Gi, slots: 2}
`)
	for a := 0; a < apps; a++ {
		add(fmt.Sprintf("apps/app-%04d.yaml", a), fmt.Sprintf(`apiVersion: flinksync.dev/v1alpha1
kind: FlinkApplication
metadata: {name: app-%04d}
spec:
  environments: [%s]
  pool: medium
  image: registry.example.com/app-%04d:1.0
  job: {jarURI: "local:///opt/flink/usrlib/app.jar", entryClass: com.example.App, upgradeMode: savepoint}
  workload: {recordsPerSecond: %d, avgRecordBytes: 1024, distinctKeys: 100000, stateSize: 2Gi, complexity: medium, latency: 1s}
`, a, strings.Join(names, ", "), a, 1000+a*10))
	}
	return fsys
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
			out, err := render.Render(env, base.Repo.EffectiveApps(env.Metadata.Name), size, render.Options{Source: fsys})
			if err != nil {
				b.Fatal(err)
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
