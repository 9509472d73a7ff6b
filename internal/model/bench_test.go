package model

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
)

// writeLargeRepo writes a repository of apps applications spread over envs
// environments (each app runs in every environment, with an override in one).
func writeLargeRepo(tb testing.TB, dir string, apps, envs int) {
	tb.Helper()
	write := func(name, data string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	var envNames []string
	for e := 0; e < envs; e++ {
		name := fmt.Sprintf("env%d", e)
		envNames = append(envNames, name)
		write("environments/"+name+".yaml", strings.NewReplacer("name: dev", "name: "+name, "flink-dev", "flink-"+name).Replace(base["environments/dev.yaml"]))
	}
	write("pools/small.yaml", base["pools/small.yaml"])
	for a := 0; a < apps; a++ {
		write(fmt.Sprintf("apps/app-%04d.yaml", a), fmt.Sprintf(`apiVersion: flinksync.dev/v1alpha1
kind: FlinkApplication
metadata:
  name: app-%04d
  labels: {team: t%d}
spec:
  environments: [%s]
  pool: small
  image: registry.example.com/app-%04d:1.0
  job:
    jarURI: local:///opt/flink/usrlib/app.jar
    entryClass: com.example.App%d
    args: ["--topic", "t%d"]
    upgradeMode: savepoint
  workload:
    recordsPerSecond: %d
    avgRecordBytes: 1024
    distinctKeys: 100000
    stateSize: 2Gi
    complexity: medium
    latency: 1s
    skew: low
  flinkConfiguration:
    pipeline.max-parallelism: "720"
  overrides:
    %s:
      workload: {recordsPerSecond: 100}
`, a, a%10, strings.Join(envNames, ", "), a, a, a, 1000+a, envNames[a%envs]))
	}
}

// BenchmarkLoad2000x5 loads 2,000 applications × 5 environments from disk.
// Target (issue 2): under 1 s and under 200 MB on a 2-core machine.
func BenchmarkLoad2000x5(b *testing.B) {
	dir := b.TempDir()
	writeLargeRepo(b, dir, 2000, 5)
	b.ResetTimer()
	var peak uint64
	for i := 0; i < b.N; i++ {
		repo, err := Load(dir)
		if err != nil {
			b.Fatal(err)
		}
		if n := len(repo.EffectiveApps("env0")); n != 2000 {
			b.Fatalf("want 2000 apps in env0, got %d", n)
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
		runtime.KeepAlive(repo)
	}
	b.ReportMetric(float64(peak)/(1<<20), "heap-MB")
}

// largeOverrideRepo is the base repository with one application file of
// about size bytes: a Flink configuration of many keys, overridden in dev
// key by key (every other base key, and as many new ones), plus labels.
func largeOverrideRepo(size int) fstest.MapFS {
	var b strings.Builder
	b.WriteString("apiVersion: flinksync.dev/v1alpha1\nkind: FlinkApplication\nmetadata:\n  name: big\nspec:\n  environments: [dev]\n  pool: small\n  job: {jarURI: local:///big.jar}\n  workload: {recordsPerSecond: 1000}\n")
	const line = len("    pipeline.k-0000000: v-0000000\n")
	keys := size / 2 / line
	b.WriteString("  flinkConfiguration:\n")
	for i := 0; i < keys; i++ {
		fmt.Fprintf(&b, "    pipeline.k-%07d: v-%07d\n", i, i)
	}
	b.WriteString("  overrides:\n    dev:\n      workload: {recordsPerSecond: 2000}\n      flinkConfiguration:\n")
	for i := 0; i < keys; i++ {
		fmt.Fprintf(&b, "        pipeline.k-%07d: o%07d\n", i*2, i)
	}
	return repoFS(map[string]string{"apps/big.yaml": b.String()})
}

// benchLoadFS loads fsys b.N times; check looks at each result. It reports
// the heap in use after a load, with the repository alive.
func benchLoadFS(b *testing.B, fsys fstest.MapFS, check func(*Repository, error) error) {
	b.ReportAllocs()
	var peak uint64
	for b.Loop() {
		repo, err := LoadFS(fsys)
		if err := check(repo, err); err != nil {
			b.Fatal(err)
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
		runtime.KeepAlive(repo)
	}
	b.ReportMetric(float64(peak)/(1<<20), "heap-MB")
}

// BenchmarkLoadLargeOverride loads a 1.2 MB application file whose override
// rewrites 15,000 Flink configuration keys. Target (issue 12): under 2 s and
// 300 MB; the merge was quadratic (26 s).
func BenchmarkLoadLargeOverride(b *testing.B) {
	fsys := largeOverrideRepo(1200 << 10)
	benchLoadFS(b, fsys, func(repo *Repository, err error) error {
		if err != nil {
			return err
		}
		if conf := repo.EffectiveApps("dev")[1].Spec.FlinkConfiguration; conf["pipeline.k-0000002"] != "o0000001" || conf["pipeline.k-0000001"] != "v-0000001" {
			return fmt.Errorf("merge: %d keys, k-2 %q, k-1 %q", len(conf), conf["pipeline.k-0000002"], conf["pipeline.k-0000001"])
		}
		return nil
	})
}
