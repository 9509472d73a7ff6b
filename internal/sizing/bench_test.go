package sizing

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/testrepo"
)

// largeRepo is a repository of apps applications, each running in every one
// of envs environments: apps × envs pairs to size.
func largeRepo(tb testing.TB, apps, envs int) *model.Repository {
	tb.Helper()
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
  nodes: {cpu: "8", memory: 32Gi, count: 4000}
  defaults:
    image: flink:1.20
    flinkVersion: v1_20
    flinkConfiguration: {state.backend.type: rocksdb, state.backend.incremental: "true"}
`, name, name))
	}
	for i, shape := range []string{`{cpu: "1", memory: 4Gi, slots: 1}`, `{cpu: "2", memory: 8Gi, slots: 2}`, `{cpu: "4", memory: 16Gi, slots: 4, localDisk: 200Gi}`} {
		add(fmt.Sprintf("pools/p%d.yaml", i), fmt.Sprintf("apiVersion: flinksync.dev/v1alpha1\nkind: ComputePool\nmetadata: {name: p%d}\nspec:\n  taskManager: %s\n", i, shape))
	}
	for a := 0; a < apps; a++ {
		add(fmt.Sprintf("apps/app-%05d.yaml", a), fmt.Sprintf(`apiVersion: flinksync.dev/v1alpha1
kind: FlinkApplication
metadata: {name: app-%05d}
spec:
  environments: [%s]
  pool: p%d
  job: {jarURI: "local:///app.jar"}
  workload:
    recordsPerSecond: %d
    avgRecordBytes: %d
    distinctKeys: %d
    stateSize: %dGi
    complexity: %s
    latency: %dms
    skew: %s
`, a, strings.Join(names, ", "), a%3, 1000+a*37%200_000, 100+a%2000, a*1013%100_000_000, a%50,
			[]string{"simple", "medium", "complex"}[a%3], 100+a*7%20_000, []string{"low", "medium", "high"}[a%3]))
	}
	return testrepo.Clean[*model.Repository](tb)(model.LoadFS(fsys))
}

// BenchmarkSize10000 sizes 10,000 app × environment pairs (2,500 apps in 4
// environments) with their environment totals.
func BenchmarkSize10000(b *testing.B) {
	repo := largeRepo(b, 2500, 4)
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		plan := testrepo.Clean[*Plan](b)(ForRepository(repo, Limits{}))
		if len(plan.Results) != 10_000 {
			b.Fatalf("%d results", len(plan.Results))
		}
	}
	// CPU time, unlike ns/op, does not grow when other processes load the machine.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSizeOne sizes one application with state.
func BenchmarkSizeOne(b *testing.B) {
	w := workloadOf(50_000, 1024, model.ComplexityMedium, time.Second)
	w.StateSize, w.DistinctKeys, w.Skew = model.MustQuantity("20Gi"), 2_000_000, model.SkewMedium
	in := baseInput(w)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Size(in); err != nil {
			b.Fatal(err)
		}
	}
}
