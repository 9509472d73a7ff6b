package sizing

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/flinksync/flinksync/internal/model"
)

// The comparison table of docs/sizing.md is computed here: flinksync's
// result, the FKO operator's rule and the flink-estimator's newest model on
// the same workloads. The test fails when the document and the code
// disagree; -update-docs rewrites the table.
var updateDocs = flag.Bool("update-docs", false, "rewrite the comparison table in docs/sizing.md")

const docsPath = "../../docs/sizing.md"

// comparison is one workload of the table.
type comparison struct {
	name  string
	w     model.Workload
	pool  model.ComputePoolSpec
	incr  bool
	about string // why the results differ
}

func poolOf(cpu, memory string, slots int, disk string) model.ComputePoolSpec {
	p := model.ComputePoolSpec{TaskManager: model.TaskManagerShape{CPU: model.MustQuantity(cpu), Memory: model.MustQuantity(memory), Slots: slots},
		JobManager: model.JobManagerShape{CPU: model.MustQuantity("1"), Memory: model.MustQuantity("2Gi")}}
	if disk != "" {
		p.TaskManager.LocalDisk = model.MustQuantity(disk)
	}
	return p
}

func comparisons() []comparison {
	wl := func(rps, bytes, keys int64, state string, c model.Complexity, latency time.Duration, skew model.Skew, recovery time.Duration) model.Workload {
		w := model.Workload{RecordsPerSecond: rps, AvgRecordBytes: bytes, DistinctKeys: keys, Complexity: c, Latency: dur(latency), Skew: skew, RecoveryTarget: dur(recovery)}
		if state != "" {
			w.StateSize = model.MustQuantity(state)
		}
		return w
	}
	small := poolOf("1", "4Gi", 1, "")
	medium := poolOf("2", "8Gi", 2, "100Gi")
	large := poolOf("4", "16Gi", 4, "200Gi")
	return []comparison{
		{"10k rec/s, 512 B, simple, 10 s", wl(10_000, 512, 0, "", model.ComplexitySimple, 10*time.Second, model.SkewLow, 5*time.Minute), small, false,
			"The estimator's simple rate is 24,000 rec/s per core (0.42 cores here), but its TaskManagers have 4 cores each (TM_vCPUs) and its total counts them whole, so it asks for 4 CPU; flinksync's field-guide rate of 10,000 rec/s per core needs 1 core, one TaskManager of the pool's 1 CPU."},
		{"10k rec/s, 512 B, simple, 300 ms", wl(10_000, 512, 0, "", model.ComplexitySimple, 300*time.Millisecond, model.SkewLow, 5*time.Minute), small, false,
			"Both add 50% of CPU for a tight target (the estimator at 0.5 s or less, flinksync under 500 ms); the estimator's 0.63 cores still fit its one 4-core TaskManager, flinksync's 1.5 cores need two of the pool's 1-CPU TaskManagers, and it sets a 10 s checkpoint interval."},
		{"200k rec/s, 512 B, medium, 10 s", wl(200_000, 512, 0, "", model.ComplexityMedium, 10*time.Second, model.SkewLow, 5*time.Minute), small, false,
			"The estimator caps each statement's cores at one TaskManager's 4 (`min(TM_vCPUs, …)`), so one medium statement never gets more than 4 cores: 200,000 rec/s at its 11,000 per core would be 18. flinksync sizes the 40 cores of the field guide's 5,000 rec/s per medium core."},
		{"orders-enrich (prod): 50k rec/s, 1 KiB, medium, 2 M keys, 20 GiB, 1 s", wl(50_000, 1024, 2_000_000, "20Gi", model.ComplexityMedium, time.Second, model.SkewLow, 5*time.Minute), medium, true,
			"The estimator's CPU is capped at 4 cores per statement, ×1.2 for 1 s, and its state is keys × record size (2 GB of managed memory, 5.6 GB of TaskManager process at 35%: 2 TaskManagers), not the declared 20 GiB; flinksync halves the rate for 1 KiB records and again for medium complexity, takes 16% for keys and state and 10% for the 1 s target: 25.5 cores."},
		{"fraud-detection (prod): 30k rec/s, 2 KiB, complex, 50 M keys, 60 GiB, 400 ms, medium skew, 2 min recovery", wl(30_000, 2048, 50_000_000, "60Gi", model.ComplexityComplex, 400*time.Millisecond, model.SkewMedium, 2*time.Minute), large, true,
			"Here the estimator sizes more: it holds 50 M keys × 2 KiB, about 100 GB, of state as managed memory, 32% of 4 GB TaskManager processes at 400 ms, so 75 TaskManagers, while its CPU is 4 cores ×1.5 + 2 for the JobManager. flinksync holds the declared 60 GiB in half of 16 GiB TaskManagers (8) and is bound by the skewed CPU: 464 rec/s per core (2 KiB ÷4, complex ÷4, keys and state ÷1.35), ×1.5 for 400 ms, ×1.2 for medium skew."},
		{"big state, little traffic: 2k rec/s, 1 KiB, medium, 10 M keys, 500 GiB, 10 s", wl(2_000, 1024, 10_000_000, "500Gi", model.ComplexityMedium, 10*time.Second, model.SkewLow, 5*time.Minute), large, true,
			"State binds both, from different inputs: flinksync holds the declared 500 GiB in half of 16 GiB per TaskManager (63; a restore within half of 5 min needs 23); the estimator derives 10 GB of state from 10 M keys × 1 KiB, held in 40% of 4 GB processes: 6 TaskManagers. Neither needs more than 2 cores for the 2,000 rec/s."},
	}
}

// comparisonTable renders the table of docs/sizing.md.
func comparisonTable(t *testing.T) string {
	var b strings.Builder
	b.WriteString("| workload | pool (TaskManager) | flinksync | FKO, parallelism unset | FKO, `job.parallelism` = flinksync's | flink-estimator | why they differ |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, c := range comparisons() {
		in := Input{Workload: c.w, Shape: c.pool, Nodes: nodes("8", "32Gi", 24)}
		if c.incr {
			in.Configuration = []ConfigLayer{{Level: LevelEnvironment, Where: "environments/prod.yaml", Config: model.FlinkConfiguration{KeyStateBackend: "rocksdb", KeyIncrementalLegacy: "true"}}}
		}
		r, err := Size(in)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		complexity := map[model.Complexity][3]int{model.ComplexitySimple: {1, 0, 0}, model.ComplexityMedium: {0, 1, 0}, model.ComplexityComplex: {0, 0, 1}}[c.w.Complexity]
		est := estimator(float64(c.w.RecordsPerSecond), float64(c.w.AvgRecordBytes), float64(c.w.DistinctKeys),
			complexity[0], complexity[1], complexity[2], c.w.Latency.Seconds())
		fko := (r.Parallelism + r.SlotsPerTaskManager - 1) / r.SlotsPerTaskManager
		fmt.Fprintf(&b, "| %s | %s CPU, %s, %d slot(s) | **%d TM** × %s CPU = %s CPU (needs %s), %s; %d nodes | 1 TM (`parallelism.default` 1) | %d TM (⌈%d / %d⌉) | %d TM × 4 CPU, %d MB each; %d CPU in all; %d node(s) | %s |\n",
			c.name, c.pool.TaskManager.CPU.String(), c.pool.TaskManager.Memory.String(), c.pool.TaskManager.Slots,
			r.TaskManagers, sprintf("%n", r.TaskManagerCPU), sprintf("%n", r.TotalTaskManagerCPU), sprintf("%n", r.RequiredCPU), r.BindingConstraint, r.NodesNeeded,
			fko, r.Parallelism, r.SlotsPerTaskManager, est.tms, est.tmMemMB, est.cpus, est.nodes, c.about)
	}
	return b.String()
}

func TestComparisonTableInDocs(t *testing.T) {
	const begin, end = "<!-- comparison:begin (generated by go test ./internal/sizing -run TestComparisonTableInDocs -update-docs) -->\n", "<!-- comparison:end -->"
	want := comparisonTable(t)
	doc, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatalf("read %s: %v", docsPath, err)
	}
	text := string(doc)
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no comparison markers", docsPath)
	}
	got := text[i+len(begin) : j]
	if got == want {
		return
	}
	if *updateDocs {
		if err := os.WriteFile(docsPath, []byte(text[:i+len(begin)]+want+text[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the comparison table in %s is stale; run go test ./internal/sizing -run TestComparisonTableInDocs -update-docs\nwant:\n%s", docsPath, want)
}
