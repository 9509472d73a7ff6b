package model

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
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
