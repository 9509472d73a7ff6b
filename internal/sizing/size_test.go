package sizing

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flinksync/flinksync/internal/model"
)

// smallPool is the pool of the rough numbers: 1-CPU TaskManagers.
func smallPool() model.ComputePoolSpec {
	return model.ComputePoolSpec{
		TaskManager: model.TaskManagerShape{CPU: model.MustQuantity("1"), Memory: model.MustQuantity("4Gi"), Slots: 1},
		JobManager:  model.JobManagerShape{CPU: model.MustQuantity("1"), Memory: model.MustQuantity("2Gi")},
	}
}

func nodes(cpu, memory string, count int) model.Nodes {
	return model.Nodes{CPU: model.MustQuantity(cpu), Memory: model.MustQuantity(memory), Count: count}
}

func dur(d time.Duration) model.Duration { return model.Duration{Duration: d, Set: true} }

// workloadOf is a workload with little state and low skew.
func workloadOf(rps, bytes int64, c model.Complexity, latency time.Duration) model.Workload {
	return model.Workload{RecordsPerSecond: rps, AvgRecordBytes: bytes, Complexity: c, Latency: dur(latency), Skew: model.SkewLow}
}

func baseInput(w model.Workload) Input {
	return Input{Environment: "prod", App: "app", Pool: "small", Workload: w, Shape: smallPool(), Nodes: nodes("8", "32Gi", 6)}
}

func mustSize(t *testing.T, in Input) *Result {
	t.Helper()
	r, err := Size(in)
	if err != nil {
		t.Fatalf("Size: %v", err)
	}
	return r
}

// TestRoughNumbers checks the four numbers of reference/sizing.md: a pool of
// 1-CPU TaskManagers, low skew, little state.
func TestRoughNumbers(t *testing.T) {
	for _, tc := range []struct {
		name         string
		w            model.Workload
		requiredCPU  float64 // the reference's "total TaskManager CPU"
		taskManagers int     // whole 1-CPU TaskManagers
	}{
		{"10k simple relaxed", workloadOf(10_000, 512, model.ComplexitySimple, 10*time.Second), 1, 1},
		{"10k simple 300ms", workloadOf(10_000, 512, model.ComplexitySimple, 300*time.Millisecond), 1.5, 2},
		{"200k simple relaxed", workloadOf(200_000, 512, model.ComplexitySimple, 10*time.Second), 20, 20},
		{"200k medium relaxed", workloadOf(200_000, 512, model.ComplexityMedium, 10*time.Second), 40, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustSize(t, baseInput(tc.w))
			if math.Abs(r.RequiredCPU-tc.requiredCPU) > 0.1*tc.requiredCPU {
				t.Errorf("required CPU %v, want about %v", r.RequiredCPU, tc.requiredCPU)
			}
			if r.TaskManagers != tc.taskManagers || r.TotalTaskManagerCPU != float64(tc.taskManagers) {
				t.Errorf("%d TaskManagers, %v TaskManager CPU; want %d", r.TaskManagers, r.TotalTaskManagerCPU, tc.taskManagers)
			}
			if r.BindingConstraint != ConstraintThroughput {
				t.Errorf("binding %q, want throughput", r.BindingConstraint)
			}
			if r.Parallelism != r.TaskManagers*r.SlotsPerTaskManager {
				t.Errorf("parallelism %d", r.Parallelism)
			}
		})
	}
}

func TestLatencyClasses(t *testing.T) {
	for _, tc := range []struct {
		latency  time.Duration
		uplift   float64
		interval time.Duration
	}{
		{100 * time.Millisecond, 1.5, 10 * time.Second},
		{499 * time.Millisecond, 1.5, 10 * time.Second},
		{500 * time.Millisecond, 1.2, 30 * time.Second},
		{999 * time.Millisecond, 1.2, 30 * time.Second},
		{time.Second, 1.1, 60 * time.Second},
		{4 * time.Second, 1.1, 60 * time.Second},
		{5 * time.Second, 1.0, StandardCheckpointInterval},
		{time.Hour, 1.0, StandardCheckpointInterval},
	} {
		t.Run(tc.latency.String(), func(t *testing.T) {
			// 100k simple records need 10 cores before the uplift.
			r := mustSize(t, baseInput(workloadOf(100_000, 512, model.ComplexitySimple, tc.latency)))
			if want := 10 * tc.uplift; math.Abs(r.RequiredCPU-want) > 1e-9 {
				t.Errorf("required CPU %v, want %v", r.RequiredCPU, want)
			}
			if r.CheckpointIntervalDuration != tc.interval || r.CheckpointInterval != tc.interval.Seconds() {
				t.Errorf("interval %v (%v s), want %v", r.CheckpointIntervalDuration, r.CheckpointInterval, tc.interval)
			}
			if r.CheckpointIntervalSource != LevelLatency {
				t.Errorf("interval source %q", r.CheckpointIntervalSource)
			}
		})
	}
}

func TestRatePerCore(t *testing.T) {
	for _, tc := range []struct {
		bytes, keys, state, complexity, want float64
	}{
		{512, 0, 0, ComplexitySimple, 10_000},
		{100, 0, 0, ComplexitySimple, 10_000}, // small records do not go faster
		{1024, 0, 0, ComplexitySimple, 5_000}, // 5.12 MB/s per core
		{2048, 0, 0, ComplexityComplex, 625},  // ÷4 and ÷4
		{512, 1e6, 1 << 30, ComplexityMedium, 5_000},
		{512, 1e7, 0, ComplexitySimple, 10_000 / 1.1},
		{512, 0, 10 << 30, ComplexitySimple, 10_000 / 1.1},
		{512, 1e8, 100 << 30, ComplexitySimple, 10_000 / 1.4},
	} {
		if got := RatePerCore(tc.bytes, tc.keys, tc.state, tc.complexity); math.Abs(got-tc.want) > 1e-6 {
			t.Errorf("RatePerCore(%v B, %v keys, %v state, ×%v) = %v, want %v", tc.bytes, tc.keys, tc.state, tc.complexity, got, tc.want)
		}
	}
}

func TestSkew(t *testing.T) {
	for _, tc := range []struct {
		skew    model.Skew
		tms     int
		binding Constraint
	}{
		{model.SkewLow, 10, ConstraintThroughput},
		{model.SkewMedium, 12, ConstraintSkew},
		{model.SkewHigh, 17, ConstraintSkew},
	} {
		w := workloadOf(100_000, 512, model.ComplexitySimple, 10*time.Second)
		w.Skew = tc.skew
		r := mustSize(t, baseInput(w))
		if r.TaskManagers != tc.tms || r.BindingConstraint != tc.binding {
			t.Errorf("skew %s: %d TaskManagers set by %s, want %d by %s", tc.skew, r.TaskManagers, r.BindingConstraint, tc.tms, tc.binding)
		}
	}
}

func TestStateConstraints(t *testing.T) {
	// 1k simple records need a tenth of a core: only the state can raise the count.
	w := workloadOf(1_000, 512, model.ComplexitySimple, 10*time.Second)

	t.Run("memory", func(t *testing.T) {
		w := w
		w.StateSize = model.MustQuantity("20Gi") // 2Gi per 4Gi TaskManager → 10
		in := baseInput(w)
		in.Configuration = []ConfigLayer{{Level: LevelEnvironment, Where: "env.yaml:9", Config: model.FlinkConfiguration{KeyIncrementalLegacy: "true", KeyStateBackend: "rocksdb"}}}
		in.Workload.RecoveryTarget = dur(time.Hour)
		r := mustSize(t, in)
		if r.TaskManagers != 10 || r.BindingConstraint != ConstraintState {
			t.Fatalf("%d TaskManagers set by %s, want 10 by state", r.TaskManagers, r.BindingConstraint)
		}
		if !strings.Contains(strings.Join(r.Explanation, "\n"), "TaskManagers: 10, set by state") {
			t.Errorf("explanation does not say so:\n%s", strings.Join(r.Explanation, "\n"))
		}
	})
	t.Run("local disk", func(t *testing.T) {
		w := w
		w.StateSize = model.MustQuantity("1Gi")
		in := baseInput(w)
		in.Shape.TaskManager.LocalDisk = model.MustQuantity("512Mi") // 1.5Gi on 0.5Gi disks → 3
		r := mustSize(t, in)
		if r.TaskManagers != 3 || r.BindingConstraint != ConstraintState {
			t.Fatalf("%d TaskManagers set by %s, want 3 by state", r.TaskManagers, r.BindingConstraint)
		}
	})
	t.Run("full checkpoint", func(t *testing.T) {
		w := w
		w.StateSize = model.MustQuantity("2G") // 2 GB in 30 s at 39 MB/s → 2
		r := mustSize(t, baseInput(w))
		if r.TaskManagers != 2 || r.BindingConstraint != ConstraintCheckpoint || r.IncrementalCheckpoints {
			t.Fatalf("%d TaskManagers set by %s, want 2 by checkpoint", r.TaskManagers, r.BindingConstraint)
		}
	})
	t.Run("incremental checkpoint", func(t *testing.T) {
		w := w
		w.StateSize = model.MustQuantity("2G")
		in := baseInput(w)
		in.Configuration = []ConfigLayer{
			{Level: LevelApp, Config: model.FlinkConfiguration{}},
			{Level: LevelPool, Where: "pools/small.yaml:12", Config: model.FlinkConfiguration{KeyIncremental: "TRUE", KeyIncrementalLegacy: "false"}},
			{Level: LevelEnvironment, Where: "environments/prod.yaml:20", Config: model.FlinkConfiguration{KeyStateBackendLegacy: "RocksDB"}},
		}
		r := mustSize(t, in)
		if r.TaskManagers != 1 || !r.IncrementalCheckpoints {
			t.Fatalf("%d TaskManagers, incremental %v; want 1, true", r.TaskManagers, r.IncrementalCheckpoints)
		}
		if !strings.Contains(strings.Join(r.Explanation, "\n"), "pools/small.yaml:12") {
			t.Errorf("the explanation does not say where incremental checkpoints are set")
		}
	})
	t.Run("recovery", func(t *testing.T) {
		w := w
		w.StateSize = model.MustQuantity("1G")
		w.RecoveryTarget = dur(10 * time.Second) // 1 GB in 5 s at 39 MB/s → 6
		in := baseInput(w)
		in.Configuration = []ConfigLayer{{Level: LevelApp, Config: model.FlinkConfiguration{KeyIncremental: "true", KeyStateBackend: "rocksdb"}}}
		r := mustSize(t, in)
		if r.TaskManagers != 6 || r.BindingConstraint != ConstraintRecovery {
			t.Fatalf("%d TaskManagers set by %s, want 6 by recovery", r.TaskManagers, r.BindingConstraint)
		}
	})
}

func TestExplicitTaskManagers(t *testing.T) {
	in := baseInput(workloadOf(200_000, 512, model.ComplexitySimple, 10*time.Second))
	in.TaskManagers = 5
	r := mustSize(t, in)
	if r.TaskManagers != 5 || r.EstimatedTaskManagers != 20 || !r.BelowEstimate || r.BindingConstraint != ConstraintExplicit {
		t.Fatalf("got %d TaskManagers (estimate %d, below %v, binding %s)", r.TaskManagers, r.EstimatedTaskManagers, r.BelowEstimate, r.BindingConstraint)
	}
	if r.Parallelism != 5 || r.TotalTaskManagerCPU != 5 {
		t.Errorf("parallelism %d, TaskManager CPU %v", r.Parallelism, r.TotalTaskManagerCPU)
	}
	if !strings.Contains(strings.Join(r.Explanation, "\n"), "below the estimate of 20") {
		t.Errorf("the explanation does not say the count is below the estimate:\n%s", strings.Join(r.Explanation, "\n"))
	}

	in.TaskManagers = 30
	if r = mustSize(t, in); r.BelowEstimate || r.TaskManagers != 30 {
		t.Errorf("above the estimate: %+v", r)
	}

	// An explicit count needs no workload.
	in = baseInput(model.Workload{})
	in.TaskManagers = 2
	if r = mustSize(t, in); r.TaskManagers != 2 || r.EstimatedTaskManagers != 1 {
		t.Errorf("without a workload: %d TaskManagers, estimate %d", r.TaskManagers, r.EstimatedTaskManagers)
	}
}

func TestCheckpointIntervalPrecedence(t *testing.T) {
	layers := func(app, pool, env string) []ConfigLayer {
		conf := func(v string) model.FlinkConfiguration {
			if v == "" {
				return nil
			}
			return model.FlinkConfiguration{KeyCheckpointInterval: v}
		}
		return []ConfigLayer{
			{LevelApp, "apps/a.yaml:20", conf(app)},
			{LevelPool, "pools/p.yaml:14", conf(pool)},
			{LevelEnvironment, "environments/e.yaml:16", conf(env)},
		}
	}
	for _, tc := range []struct {
		app, pool, env string
		want           time.Duration
		source         Level
	}{
		{"", "", "", 10 * time.Second, LevelLatency},
		{"", "", "3 min", 3 * time.Minute, LevelEnvironment},
		{"", "45s", "3 min", 45 * time.Second, LevelPool},
		{"2m", "45s", "3 min", 2 * time.Minute, LevelApp},
		{"500 ms", "", "", 500 * time.Millisecond, LevelApp},
		{"1500", "", "", 1500 * time.Millisecond, LevelApp},
		{" ", "", "30 S", 30 * time.Second, LevelEnvironment}, // an empty value is unset
	} {
		in := baseInput(workloadOf(10_000, 512, model.ComplexitySimple, 300*time.Millisecond))
		in.Configuration = layers(tc.app, tc.pool, tc.env)
		r := mustSize(t, in)
		if r.CheckpointIntervalDuration != tc.want || r.CheckpointIntervalSource != tc.source {
			t.Errorf("%+v: interval %v from %s, want %v from %s", tc, r.CheckpointIntervalDuration, r.CheckpointIntervalSource, tc.want, tc.source)
		}
		if tc.source != LevelLatency && !strings.Contains(strings.Join(r.Explanation, "\n"), "set in the "+string(tc.source)+" configuration") {
			t.Errorf("%+v: the explanation does not say where the interval comes from", tc)
		}
	}
}

func TestParseFlinkDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"30 s": 30 * time.Second, "30s": 30 * time.Second, "2 min": 2 * time.Minute, "2m": 2 * time.Minute,
		"500 ms": 500 * time.Millisecond, "500": 500 * time.Millisecond, "1h": time.Hour, "1 d": 24 * time.Hour,
		"3 minutes": 3 * time.Minute, "10 SECONDS": 10 * time.Second, "7µs": 7 * time.Microsecond, " 42 ": 42 * time.Millisecond,
	} {
		got, err := ParseFlinkDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseFlinkDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "s", "1.5 s", "-1 s", "10 parsecs", "99999999999999999999", "9999999999 d", "PT30S"} {
		if _, err := ParseFlinkDuration(in); err == nil {
			t.Errorf("ParseFlinkDuration(%q) accepted", in)
		}
	}
	for d, want := range map[time.Duration]string{
		2 * time.Minute: "2 min", 90 * time.Second: "90 s", 500 * time.Millisecond: "500 ms", time.Hour: "60 min",
	} {
		if got := FormatFlinkDuration(d); got != want {
			t.Errorf("FormatFlinkDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestClamp(t *testing.T) {
	in := baseInput(workloadOf(200_000, 512, model.ComplexitySimple, 10*time.Second))
	in.Shape.TaskManager.CPU = model.MustQuantity("16")
	in.Shape.TaskManager.Memory = model.MustQuantity("16Gi")

	r := mustSize(t, in) // node 8, limit 8
	if !r.Clamped || r.TaskManagerCPU != 8 || r.PoolTaskManagerCPU != 16 || r.TaskManagers != 3 {
		t.Fatalf("clamped %v, TaskManager CPU %v (pool %v), %d TaskManagers", r.Clamped, r.TaskManagerCPU, r.PoolTaskManagerCPU, r.TaskManagers)
	}
	if !strings.Contains(strings.Join(r.Explanation, "\n"), "clamped to 8 (policy CPU-001)") {
		t.Errorf("the explanation does not say it clamped:\n%s", strings.Join(r.Explanation, "\n"))
	}

	in.Nodes = nodes("4", "32Gi", 6) // the node is the limit
	if r = mustSize(t, in); r.TaskManagerCPU != 4 || !r.Clamped {
		t.Errorf("node limit: TaskManager CPU %v", r.TaskManagerCPU)
	}
	in.Nodes = nodes("32", "128Gi", 6)
	in.Limits.MaxTaskManagerCPU = 6 // the policy is the limit
	if r = mustSize(t, in); r.TaskManagerCPU != 6 || !r.Clamped {
		t.Errorf("policy limit: TaskManager CPU %v", r.TaskManagerCPU)
	}
	in.Shape.TaskManager.CPU = model.MustQuantity("2")
	if r = mustSize(t, in); r.TaskManagerCPU != 2 || r.Clamped {
		t.Errorf("under the limit: TaskManager CPU %v, clamped %v", r.TaskManagerCPU, r.Clamped)
	}
}

func TestNodesNeeded(t *testing.T) {
	in := baseInput(workloadOf(200_000, 512, model.ComplexitySimple, 10*time.Second))
	in.Shape.TaskManager.CPU = model.MustQuantity("2")
	in.Shape.TaskManager.Memory = model.MustQuantity("8Gi")
	r := mustSize(t, in) // 10 × (2, 8Gi) + (1, 2Gi) on (8, 32Gi): 4 per node → 3 nodes, the JM fits the third
	if r.TaskManagers != 10 || r.NodesNeeded != 3 {
		t.Errorf("%d TaskManagers on %d nodes, want 10 on 3", r.TaskManagers, r.NodesNeeded)
	}
	if r.TotalCPU != 21 || r.TotalMemory != 82<<30 {
		t.Errorf("total %v CPU %v memory", r.TotalCPU, r.TotalMemory)
	}
	in.Workload.RecordsPerSecond = 1000
	if r = mustSize(t, in); r.NodesNeeded != MinNodes {
		t.Errorf("a small app needs %d nodes, want at least %d", r.NodesNeeded, MinNodes)
	}
}

func TestPack(t *testing.T) {
	node := pod{8000, 32 << 30}
	for _, tc := range []struct {
		groups         []podGroup
		nodes, unplace int
	}{
		{nil, 0, 0},
		{[]podGroup{{pod{1000, 4 << 30}, 8}}, 1, 0},
		{[]podGroup{{pod{1000, 4 << 30}, 9}}, 2, 0},
		{[]podGroup{{pod{4000, 16 << 30}, 30}, {pod{1000, 4 << 30}, 1}}, 16, 0},
		// Small pods fill the room the big ones leave.
		{[]podGroup{{pod{3000, 8 << 30}, 4}, {pod{1000, 1 << 30}, 4}}, 2, 0},
		{[]podGroup{{pod{3000, 8 << 30}, 4}, {pod{2000, 8 << 30}, 2}, {pod{1000, 1 << 30}, 4}}, 3, 0},
		{[]podGroup{{pod{9000, 1 << 30}, 2}, {pod{1000, 1 << 30}, 1}}, 1, 2},
		{[]podGroup{{pod{1000, 64 << 30}, 1}}, 0, 1},
	} {
		n, u := pack(tc.groups, node)
		if n != tc.nodes || u != tc.unplace {
			t.Errorf("pack(%v) = %d nodes, %d unplaced; want %d, %d", tc.groups, n, u, tc.nodes, tc.unplace)
		}
	}
	// Bulk packing agrees with packing one pod at a time.
	groups := []podGroup{{pod{3000, 10 << 30}, 7}, {pod{2000, 3 << 30}, 11}, {pod{500, 1 << 30}, 5}, {pod{1500, 12 << 30}, 3}}
	var one []podGroup
	for _, g := range groups {
		for i := 0; i < g.count; i++ {
			one = append(one, podGroup{g.shape, 1})
		}
	}
	a, _ := pack(groups, node)
	b, _ := pack(one, node)
	if a != b {
		t.Errorf("bulk packing uses %d nodes, one by one %d", a, b)
	}
}

func TestInputErrors(t *testing.T) {
	ok := func() Input { return baseInput(workloadOf(10_000, 512, model.ComplexitySimple, time.Second)) }
	for _, tc := range []struct {
		name  string
		edit  func(*Input)
		field string
		text  string
	}{
		{"no records", func(in *Input) { in.Workload.RecordsPerSecond = 0 }, "workload.recordsPerSecond", "more than zero"},
		{"negative records", func(in *Input) { in.Workload.RecordsPerSecond = -1 }, "workload.recordsPerSecond", "negative"},
		{"absurd records", func(in *Input) { in.Workload.RecordsPerSecond = math.MaxInt64 }, "workload.recordsPerSecond", "absurd"},
		{"too many TaskManagers", func(in *Input) { in.Workload.RecordsPerSecond = 2_000_000_000 }, "workload.recordsPerSecond", "sane bound of 100000"},
		{"parallelism", func(in *Input) {
			in.Workload.RecordsPerSecond = 50_000_000
			in.Shape.TaskManager.Slots = 8
		}, "workload", "Flink's maximum of 32768"},
		{"record size", func(in *Input) { in.Workload.AvgRecordBytes = -5 }, "workload.avgRecordBytes", "negative"},
		{"complexity", func(in *Input) { in.Workload.Complexity = "hard" }, "workload.complexity", "not one of"},
		{"skew", func(in *Input) { in.Workload.Skew = "extreme" }, "workload.skew", "not one of"},
		{"latency", func(in *Input) { in.Workload.Latency = model.Duration{Duration: -time.Second, Set: true} }, "workload.latency", "longer than zero"},
		{"recovery", func(in *Input) { in.Workload.RecoveryTarget = model.Duration{Duration: -1, Set: true} }, "workload.recoveryTarget", "longer than zero"},
		{"recovery too short", func(in *Input) {
			in.Workload.StateSize = model.MustQuantity("1Ti")
			in.Workload.RecoveryTarget = dur(time.Millisecond)
		}, "workload.recoveryTarget", "sane bound"},
		{"no TaskManager CPU", func(in *Input) { in.Shape.TaskManager.CPU = model.Quantity{} }, "taskManager.cpu", "more than zero"},
		{"tiny TaskManager CPU", func(in *Input) { in.Shape.TaskManager.CPU = model.MustQuantity("100u") }, "taskManager.cpu", "below 1m"},
		{"absurd TaskManager CPU", func(in *Input) { in.Shape.TaskManager.CPU = model.MustQuantity("1e9") }, "taskManager.cpu", "absurd"},
		{"absurd memory", func(in *Input) { in.Shape.TaskManager.Memory = model.MustQuantity("1e30") }, "taskManager.memory", "absurd"},
		{"slots", func(in *Input) { in.Shape.TaskManager.Slots = -2 }, "taskManager.slots", "negative"},
		{"node CPU", func(in *Input) { in.Nodes.CPU = model.Quantity{} }, "nodes.cpu", "more than zero"},
		{"node count", func(in *Input) { in.Nodes.Count = 0 }, "nodes.count", "at least 1"},
		{"explicit", func(in *Input) { in.TaskManagers = -1 }, "taskManagers", "negative"},
		{"explicit too many", func(in *Input) { in.TaskManagers = 1_000_000 }, "taskManagers", "sane bound"},
		{"limit", func(in *Input) { in.Limits.MaxTaskManagerCPU = math.NaN() }, "maxTaskManagerCPU", "finite number"},
		{"interval", func(in *Input) {
			in.Configuration = []ConfigLayer{{LevelPool, "pools/p.yaml:9", model.FlinkConfiguration{KeyCheckpointInterval: "soon"}}}
		}, KeyCheckpointInterval, "pools/p.yaml:9"},
		{"short interval", func(in *Input) {
			in.Configuration = []ConfigLayer{{LevelApp, "", model.FlinkConfiguration{KeyCheckpointInterval: "5 ms"}}}
		}, KeyCheckpointInterval, "shorter than 10 ms"},
		{"incremental", func(in *Input) {
			in.Configuration = []ConfigLayer{{LevelApp, "", model.FlinkConfiguration{KeyIncremental: "yes"}}}
		}, KeyIncremental, "not true or false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := ok()
			tc.edit(&in)
			r, err := Size(in)
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("got %+v, %v; want an *InputError", r, err)
			}
			if ie.Field != tc.field || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q (field %s), want field %s and %q", err, ie.Field, tc.field, tc.text)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	// Zero values take the loader's defaults: 512 B, medium, 5 s, low skew.
	r := mustSize(t, baseInput(model.Workload{RecordsPerSecond: 10_000}))
	if r.RequiredCPU != 2 || r.CheckpointIntervalDuration != StandardCheckpointInterval {
		t.Errorf("required CPU %v, interval %v", r.RequiredCPU, r.CheckpointIntervalDuration)
	}
	in := baseInput(model.Workload{RecordsPerSecond: 10_000})
	in.Shape.JobManager = model.JobManagerShape{}
	in.Shape.TaskManager.Slots = 0
	if r = mustSize(t, in); r.JobManagerCPU != 1 || r.JobManagerMemory != 2<<30 || r.SlotsPerTaskManager != 1 {
		t.Errorf("JobManager %v CPU %v memory, %d slots", r.JobManagerCPU, r.JobManagerMemory, r.SlotsPerTaskManager)
	}
}

func TestDeterministic(t *testing.T) {
	w := workloadOf(123_456, 777, model.ComplexityComplex, 700*time.Millisecond)
	w.StateSize, w.DistinctKeys, w.Skew = model.MustQuantity("33Gi"), 12_345_678, model.SkewHigh
	a, b := mustSize(t, baseInput(w)), mustSize(t, baseInput(w))
	if !reflect.DeepEqual(a, b) {
		t.Error("two runs differ")
	}
}
