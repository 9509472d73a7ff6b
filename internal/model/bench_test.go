package model

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/flinksync/flinksync/internal/diag"
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
		repo, err := loaded(Load(dir))
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
// the heap in use after a load, with the repository alive, and the CPU time
// of a load, which unlike ns/op does not grow when other processes load the
// machine.
func benchLoadFS(b *testing.B, fsys fstest.MapFS, check func(*Repository, []*diag.Finding, error) error) {
	b.ReportAllocs()
	var peak uint64
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	for b.Loop() {
		repo, findings, err := LoadFS(fsys)
		if err := check(repo, findings, err); err != nil {
			b.Fatal(err)
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
		runtime.KeepAlive(repo)
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano()
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(peak)/(1<<20), "heap-MB")
}

// BenchmarkLoadLargeOverride loads a 1.2 MB application file whose override
// rewrites 15,000 Flink configuration keys. Target (issue 12): under 2 s and
// 300 MB; the merge was quadratic (26 s).
func BenchmarkLoadLargeOverride(b *testing.B) {
	fsys := largeOverrideRepo(1200 << 10)
	benchLoadFS(b, fsys, func(repo *Repository, findings []*diag.Finding, err error) error {
		if _, err := loaded(repo, findings, err); err != nil {
			return err
		}
		if conf := repo.EffectiveApps("dev")[1].Spec.FlinkConfiguration; conf["pipeline.k-0000002"] != "o0000001" || conf["pipeline.k-0000001"] != "v-0000001" {
			return fmt.Errorf("merge: %d keys, k-2 %q, k-1 %q", len(conf), conf["pipeline.k-0000002"], conf["pipeline.k-0000001"])
		}
		return nil
	})
}

// The hostile cases of issue 12: each load must stay under 2 s and 300 MB.
// Each benchmark checks the load ends with the findings it should.

// wantFindings checks that a load failed with n findings (n < 0: any number).
func wantFindings(n int) func(*Repository, []*diag.Finding, error) error {
	return func(_ *Repository, findings []*diag.Finding, err error) error {
		if got := len(findings); got == 0 || (n >= 0 && got != n) {
			return fmt.Errorf("want %d findings, got %d: %.500v (err %v)", n, got, findings, err)
		}
		return nil
	}
}

// BenchmarkLoadHugeExponents loads quantities whose exponents made
// apimachinery compute 10^(2^31) (never finished), in an app's stateSize, an
// override, a node's CPU, a pool's memory and a policy.
func BenchmarkLoadHugeExponents(b *testing.B) {
	fsys := repoFS(map[string]string{
		"apps/a.yaml":           base["apps/a.yaml"] + "    stateSize: 1e2147483648\n  overrides:\n    dev: {workload: {stateSize: 1e-2147483648}}\n",
		"environments/dev.yaml": strings.Replace(base["environments/dev.yaml"], `cpu: "4"`, "cpu: 1e-100000000", 1),
		"pools/small.yaml":      strings.Replace(base["pools/small.yaml"], "4Gi", "1e2147483647", 1),
		"policy.yaml":           "apiVersion: flinksync.dev/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec: {maxTaskManagerCPU: 1e4294967296}\n",
	})
	benchLoadFS(b, fsys, wantFindings(5))
}

// BenchmarkLoadDeepDocument loads an application whose unknown field nests
// maps and lists 9,990 deep (YAML's limit is 10,000), with a key written
// twice at the bottom, in a 1.2 MB file.
func BenchmarkLoadDeepDocument(b *testing.B) {
	const depth = 9990
	var doc strings.Builder
	doc.WriteString(base["apps/a.yaml"] + "  deep: ")
	for i := 0; i < depth/2; i++ {
		doc.WriteString("{a.b: [")
	}
	doc.WriteString("{x: 1, x: 2}")
	for i := 0; i < depth/2; i++ {
		doc.WriteString("]}")
	}
	doc.WriteString("\n  flinkConfiguration:\n")
	for i := 0; doc.Len() < 1200<<10; i++ {
		fmt.Fprintf(&doc, "    k%07d: v\n", i)
	}
	benchLoadFS(b, repoFS(map[string]string{"apps/a.yaml": doc.String()}), wantFindings(2))
}

// BenchmarkLoadLongDocument loads a 1.2 MB application of long lists and
// maps: job arguments, labels and Flink configuration.
func BenchmarkLoadLongDocument(b *testing.B) {
	var doc strings.Builder
	doc.WriteString("apiVersion: flinksync.dev/v1alpha1\nkind: FlinkApplication\nmetadata:\n  name: a\n  labels:\n")
	for i := 0; i < 10_000; i++ {
		fmt.Fprintf(&doc, "    l%06d: v\n", i)
	}
	doc.WriteString("spec:\n  environments: [dev]\n  pool: small\n  workload: {recordsPerSecond: 10}\n  job:\n    jarURI: local:///a.jar\n    args:\n")
	for i := 0; i < 40_000; i++ {
		fmt.Fprintf(&doc, "    - --a%06d\n", i)
	}
	doc.WriteString("  flinkConfiguration:\n")
	for i := 0; doc.Len() < 1200<<10; i++ {
		fmt.Fprintf(&doc, "    k%07d: v\n", i)
	}
	benchLoadFS(b, repoFS(map[string]string{"apps/a.yaml": doc.String()}), func(repo *Repository, findings []*diag.Finding, err error) error {
		if _, err := loaded(repo, findings, err); err != nil {
			return err
		}
		if n := len(repo.EffectiveApps("dev")[0].Spec.Job.Args); n != 40_000 {
			return fmt.Errorf("%d arguments", n)
		}
		return nil
	})
}

// BenchmarkLoadAliases loads a 1.2 MB policy of aliases of one anchor of
// many keys; each alias decoded the anchor again (quadratic findings).
func BenchmarkLoadAliases(b *testing.B) {
	const keys = 40_000
	var doc strings.Builder
	doc.WriteString("apiVersion: flinksync.dev/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec:\n  waivers:\n  - &w\n    rule: CPU-001\n")
	for i := 0; i < keys; i++ {
		fmt.Fprintf(&doc, "    j%d: 1\n", i)
	}
	aliases := (1200<<10 - doc.Len()) / len("  - *w\n")
	doc.WriteString(strings.Repeat("  - *w\n", aliases))
	benchLoadFS(b, repoFS(map[string]string{"policy.yaml": doc.String()}), wantFindings(MaxFindingsPerFile+1)) // the rest are counted, not listed
}
