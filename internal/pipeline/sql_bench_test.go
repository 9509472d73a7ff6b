package pipeline

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/testrepo"
)

// The shape of the SQL benchmark's repository (issue 13): 2,000
// applications and 2,000 statements, each in all five environments; three
// environments are cfk, each with its own CMF (statements there use the
// catalogs, through overrides), two are fko with a SQL runner. One statement in sqlDDLEvery
// is DDL (CREATE TABLE); the rest are streaming DML, sized like apps.
const (
	sqlBenchApps       = 2000
	sqlBenchStatements = 2000
	sqlBenchCFKEnvs    = 3
	sqlBenchFKOEnvs    = 2
	sqlBenchCatalogs   = 10
	sqlBenchDatabases  = 4 // per catalog
	sqlDDLEvery        = 20
)

// sqlBenchEnv is the name of environment i: cfk0…, then fko0….
func sqlBenchEnv(i int) string {
	if i < sqlBenchCFKEnvs {
		return fmt.Sprintf("cfk%d", i)
	}
	return fmt.Sprintf("fko%d", i-sqlBenchCFKEnvs)
}

// sqlBenchRepo is the benchmark's repository, in memory: testrepo's apps
// and environments, the environments made cfk or given a SQL runner, two
// SQL pools (dedicated and shared), the catalogs and the statements.
func sqlBenchRepo() fstest.MapFS {
	envs := sqlBenchCFKEnvs + sqlBenchFKOEnvs
	files := testrepo.Files(testrepo.Options{Apps: sqlBenchApps, Envs: envs, EnvName: sqlBenchEnv})
	var cfkEnvs, allEnvs []string
	for i := 0; i < envs; i++ {
		name := sqlBenchEnv(i)
		allEnvs = append(allEnvs, name)
		target := "fko"
		extra := "  sqlRunner: {image: registry.example.com/flink-sql-runner:1.20}\n"
		if i < sqlBenchCFKEnvs {
			cfkEnvs = append(cfkEnvs, name)
			target = "cfk"
			// One CMF per environment: CMF keeps catalogs and secrets
			// globally, so environments that share one cannot both have them.
			extra = "  cfk:\n    cmfRestClassRef: {name: cmf-" + name + ", namespace: confluent}\n"
		}
		files["environments/"+name+".yaml"] = fmt.Sprintf(`apiVersion: flinksync.dev/v1alpha1
kind: Environment
metadata: {name: %[1]s}
spec:
  target: %[2]s
  namespace: flink-%[1]s
  nodes: {cpu: "8", memory: 32Gi, count: 4000}
  defaults:
    image: flink:1.20
    flinkVersion: v1_20
    mode: standalone
    flinkConfiguration: {state.checkpoints.dir: "s3://b/%[1]s"}
%[3]s`, name, target, extra)
	}
	for _, p := range []string{"dedicated", "shared"} {
		files["pools/sql-"+p+".yaml"] = fmt.Sprintf(`apiVersion: flinksync.dev/v1alpha1
kind: ComputePool
metadata: {name: sql-%[1]s}
spec:
  type: %[1]s
  image: confluentinc/cp-flink-sql:1.20-cp1
  taskManager: {cpu: "2", memory: 8Gi, slots: 2}
  jobManager: {cpu: "1", memory: 2Gi}
`, p)
	}
	for c := 0; c < sqlBenchCatalogs; c++ {
		var dbs strings.Builder
		for d := 0; d < sqlBenchDatabases; d++ {
			fmt.Fprintf(&dbs, "    - {name: %s, bootstrapServers: \"kafka-%d.confluent.svc:9071\", secret: kafka-%s}\n",
				sqlBenchDatabase(c, d), c, sqlBenchDatabase(c, d))
		}
		files[fmt.Sprintf("catalogs/cat%02d.yaml", c)] = fmt.Sprintf(`apiVersion: flinksync.dev/v1alpha1
kind: KafkaCatalog
metadata: {name: cat%02[1]d}
spec:
  environments: [%[2]s]
  schemaRegistry: {url: "https://sr-%[1]d.confluent.svc:8081", secret: sr-cat%02[1]d}
  databases:
%[3]s`, c, strings.Join(cfkEnvs, ", "), dbs.String())
	}
	for s := 0; s < sqlBenchStatements; s++ {
		files[fmt.Sprintf("statements/stmt-%04d.yaml", s)] = sqlBenchStatement(s, allEnvs, cfkEnvs)
	}
	return testrepo.FS(files)
}

// sqlBenchDatabase is the name of database d of catalog c (unique across
// catalogs, as one cfk environment needs).
func sqlBenchDatabase(c, d int) string { return fmt.Sprintf("c%02d-d%d", c, d) }

// sqlBenchStatement is statement s: DDL or streaming DML, on one of the
// two SQL pools, with a catalog and database in the cfk environments.
func sqlBenchStatement(s int, allEnvs, cfkEnvs []string) string {
	c, d := s%sqlBenchCatalogs, (s/sqlBenchCatalogs)%sqlBenchDatabases
	var over strings.Builder
	for _, env := range cfkEnvs {
		fmt.Fprintf(&over, "    %s: {catalog: cat%02d, database: %s}\n", env, c, sqlBenchDatabase(c, d))
	}
	pool := []string{"sql-dedicated", "sql-shared"}[s%2]
	body := fmt.Sprintf(`  sql: |
    INSERT INTO enriched_%04[1]d
    SELECT e.id, e.ts, e.payload, d.name, d.region
    FROM events_%04[1]d AS e
    JOIN dims_%04[1]d FOR SYSTEM_TIME AS OF e.ts AS d ON e.dim_id = d.id
    WHERE e.kind <> 'heartbeat';
  workload: {recordsPerSecond: %[2]d, avgRecordBytes: 512, distinctKeys: 50000, stateSize: 1Gi, complexity: medium, latency: 5s}
  properties: {table.exec.source.idle-timeout: 30 s}
`, s, 500+5*s)
	if s%sqlDDLEvery == 0 {
		body = fmt.Sprintf(`  sql: |
    CREATE TABLE IF NOT EXISTS enriched_%04d (
      id BIGINT NOT NULL,
      ts TIMESTAMP_LTZ(3) NOT NULL,
      payload STRING,
      name STRING,
      region STRING,
      WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
    ) WITH ('connector' = 'confluent', 'changelog.mode' = 'append');
`, s)
	}
	return fmt.Sprintf(`apiVersion: flinksync.dev/v1alpha1
kind: FlinkStatement
metadata: {name: stmt-%04d}
spec:
  environments: [%s]
  pool: %s
%s  overrides:
%s`, s, strings.Join(allEnvs, ", "), pool, body, over.String())
}

// sqlBenchChildEnv, when set, makes BenchmarkSQL2000x5 the child that
// measures peak RSS: one pass, then its VmHWM on stdout.
const sqlBenchChildEnv = "FLINKSYNC_SQL_BENCH_CHILD"

// BenchmarkSQL2000x5 runs the offline pipeline (load, size, render,
// policy: pipeline.Run) over 2,000 applications and 2,000 statements × 5
// environments. Targets (issue 13): under 1 s and 300 MB peak. Besides
// ns/op and B/op (every byte allocated in a pass), it reports
//
//   - peak-heap-MB: the largest heap seen during the timed passes, sampled
//     every 2 ms from runtime/metrics without stopping the world
//     (/memory/classes/heap/objects: live objects and dead ones the GC has
//     not yet swept, i.e. HeapAlloc; so it depends on GOGC);
//   - peak-RSS-MB: the peak resident memory (VmHWM) of a fresh process of
//     this test binary that builds the repository and runs one pass, as
//     `flinksync validate` would: the benchmark's own process also holds
//     what earlier benchmarks left behind.
func BenchmarkSQL2000x5(b *testing.B) {
	fsys := sqlBenchRepo()
	if os.Getenv(sqlBenchChildEnv) != "" {
		runSQLBench(b, fsys)
		fmt.Printf("sql-bench-vmhwm-kb %d\n", int64(peakRSS()*1024))
		return
	}
	runtime.GC()
	stop := sampleHeap()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runSQLBench(b, fsys)
	}
	b.StopTimer()
	b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MB")
	childRSS.once.Do(func() { childRSS.mb = childPeakRSS(b) })
	b.ReportMetric(childRSS.mb, "peak-RSS-MB")
}

// childRSS is the child's peak RSS, measured once per process (the
// benchmark function runs more than once: b.N = 1, then 3).
var childRSS struct {
	once sync.Once
	mb   float64
}

// runSQLBench runs one pass and checks that nothing is blocked and that
// every statement rendered to at least one object.
func runSQLBench(b *testing.B, fsys fstest.MapFS) {
	res, err := Run(fsys, Options{Now: fixedNow})
	if err != nil {
		b.Fatal(err)
	}
	for env, why := range res.Blocked {
		msg := strings.Join(why, "; ")
		b.Fatalf("%s blocked: %s", env, msg[:min(len(msg), 600)])
	}
	for _, env := range res.Environments() {
		statements := map[string]bool{}
		for _, o := range res.Rendered[env].Objects {
			// Without GetLabels, which copies the map: B/op is the pass's.
			if kind, _, _ := unstructured.NestedFieldNoCopy(o.Object, "metadata", "labels", render.LabelSQLKind); kind != nil {
				statements[o.GetName()] = true
			}
		}
		if want := sqlBenchStatements; len(statements) < want-want/sqlDDLEvery {
			b.Fatalf("%s: %d statements rendered, want at least the %d streaming ones", env, len(statements), want-want/sqlDDLEvery)
		}
	}
	runtime.KeepAlive(res)
}

// sampleHeap samples the live heap every 2 ms until the returned func is
// called, which returns the largest sample.
func sampleHeap() func() uint64 {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak.Load()
	}
}

var vmhwmLine = regexp.MustCompile(`(?m)^sql-bench-vmhwm-kb (\d+)$`)

// childPeakRSS runs this benchmark once in a fresh process of the test
// binary and returns its peak RSS in MiB. The child runs without a
// control plane (testenv.Main then only runs the benchmark): nothing in it
// talks to a cluster.
func childPeakRSS(b *testing.B) float64 {
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^BenchmarkSQL2000x5$", "-test.benchtime=1x")
	cmd.Env = append(os.Environ(), sqlBenchChildEnv+"=1",
		"KUBEBUILDER_ASSETS="+b.TempDir(), "FLINKSYNC_REQUIRE_CONTROLPLANE=0", "CI=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		b.Fatalf("the peak-RSS child failed: %v\n%s", err, out.String())
	}
	var kb int64
	for _, m := range vmhwmLine.FindAllStringSubmatch(out.String(), -1) {
		v, _ := strconv.ParseInt(m[1], 10, 64)
		kb = max(kb, v)
	}
	if kb == 0 {
		b.Fatalf("the peak-RSS child printed no VmHWM:\n%s", out.String())
	}
	return float64(kb) / 1024
}
