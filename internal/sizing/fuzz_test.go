package sizing

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/flinksync/flinksync/internal/model"
)

// FuzzSize feeds Size arbitrary numbers, quantities and configuration
// values. It must never panic; a result has no zero or negative number and
// keeps its invariants; an input it refuses gives an *InputError with a
// message that names the field.
func FuzzSize(f *testing.F) {
	// rps, bytes, keys, state, complexity, latency, skew, recovery,
	// TM cpu, TM memory, slots, local disk, JM cpu, JM memory,
	// node cpu, node memory, node count, explicit TMs, interval, incremental, limit
	f.Add(int64(10_000), int64(512), int64(0), "0", "simple", int64(10e9), "low", int64(300e9),
		"1", "4Gi", 1, "", "1", "2Gi", "8", "32Gi", 6, 0, "", "", 0.0)
	f.Add(int64(200_000), int64(512), int64(0), "", "medium", int64(300e6), "high", int64(0),
		"16", "64Gi", 4, "200Gi", "", "", "8", "32Gi", 3, 0, "2 min", "true", 8.0)
	f.Add(int64(30_000), int64(2048), int64(50_000_000), "60Gi", "complex", int64(400e6), "medium", int64(120e9),
		"4", "16Gi", 4, "200Gi", "1", "4Gi", "8", "32Gi", 24, 0, "", "true", 0.0)
	f.Add(int64(0), int64(0), int64(0), "", "", int64(0), "", int64(0),
		"500m", "1Gi", 0, "", "", "", "4", "16Gi", 1, 2, "30 s", "", 0.0)
	f.Add(int64(math.MaxInt64), int64(math.MaxInt64), int64(math.MaxInt64), "1e30", "simple", int64(1), "low", int64(1),
		"1m", "1", 32768, "1", "1m", "1", "1m", "1", math.MaxInt32, math.MaxInt32, "99999999999999999999 d", "maybe", math.Inf(1))
	f.Add(int64(-1), int64(-1), int64(-1), "-1", "hard", int64(-1), "extreme", int64(-1),
		"-1", "-1Gi", -1, "-1", "-1", "-1", "-1", "-1", -1, -1, "-5 s", "TRUE", -1.0)
	f.Add(int64(1), int64(1), int64(1), "1Ei", "complex", int64(1), "high", int64(1),
		"0.0001", "1e-3", 1, "0", "0", "0", "100000", "1Pi", 100000, 100000, "9 ms", "false", 1e-9)
	// Hostile quantities: exponents that made apimachinery compute 10^(2^31)
	// or wrap to 1, the bounds themselves, and values of a megabyte.
	f.Add(int64(1000), int64(512), int64(0), "1e2147483648", "medium", int64(1e9), "low", int64(0),
		"1e-100000000", "1e4294967296", 1, "1e30", "1e-30", "1e31", "1e30", "1e30", 3, 0, strings.Repeat("9", 1<<20), strings.Repeat("t", 1<<20), 0.0)
	f.Add(int64(1000), int64(512), int64(0), "1e30", "medium", int64(1e9), "low", int64(0),
		"1e-30", "1e-30", 1, "1e-30", "1e30", "1e30", "1e-30", "1e-30", 3, 0, "9223372036854775807 ms", "true", 0.0)
	f.Fuzz(func(t *testing.T, rps, bytes, keys int64, state, complexity string, latency int64, skew string, recovery int64,
		tmCPU, tmMem string, slots int, disk, jmCPU, jmMem, nodeCPU, nodeMem string, nodeCount, explicit int,
		interval, incremental string, limit float64) {
		q := func(s string) model.Quantity {
			v, err := model.ParseQuantity(s) // as the loader reads a quantity
			if err != nil {
				return model.Quantity{}
			}
			return model.Quantity{Quantity: v, Set: true}
		}
		conf := model.FlinkConfiguration{}
		if interval != "" {
			conf[KeyCheckpointInterval] = interval
		}
		if incremental != "" {
			conf[KeyIncremental] = incremental
		}
		in := Input{
			Workload: model.Workload{
				RecordsPerSecond: rps, AvgRecordBytes: bytes, DistinctKeys: keys, StateSize: q(state),
				Complexity: model.Complexity(complexity), Latency: model.Duration{Duration: time.Duration(latency), Set: latency != 0},
				Skew: model.Skew(skew), RecoveryTarget: model.Duration{Duration: time.Duration(recovery), Set: recovery != 0},
			},
			Shape: model.ComputePoolSpec{
				TaskManager: model.TaskManagerShape{CPU: q(tmCPU), Memory: q(tmMem), Slots: slots, LocalDisk: q(disk)},
				JobManager:  model.JobManagerShape{CPU: q(jmCPU), Memory: q(jmMem)},
			},
			Nodes:         model.Nodes{CPU: q(nodeCPU), Memory: q(nodeMem), Count: nodeCount},
			TaskManagers:  explicit,
			Configuration: []ConfigLayer{{Level: LevelApp, Where: "apps/fuzz.yaml:1", Config: conf}},
			Limits:        Limits{MaxTaskManagerCPU: limit},
		}
		r, err := Size(in)
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) || ie.Field == "" || ie.Message == "" {
				t.Fatalf("not a clear error: %#v", err)
			}
			if msg := err.Error(); strings.Contains(msg, "NaN") || strings.Contains(msg, "Inf") {
				t.Fatalf("an error with a meaningless number: %v", err)
			}
			// A message quotes at most 40 bytes of a value (160 escaped).
			if len(ie.Message) > 500 {
				t.Fatalf("an error message of %d bytes: %.500s", len(ie.Message), ie.Message)
			}
			if r != nil {
				t.Fatalf("a result with an error")
			}
			return
		}
		checkResult(t, in, r)
	})
}

// checkResult checks the invariants of every result.
func checkResult(t *testing.T, in Input, r *Result) {
	t.Helper()
	switch {
	case r.TaskManagers < 1 || r.EstimatedTaskManagers < 1 || r.SlotsPerTaskManager < 1 || r.Parallelism < 1:
		t.Fatalf("a zero count: %+v", r)
	case r.TaskManagers > MaxTaskManagers || r.Parallelism > MaxParallelism:
		t.Fatalf("beyond the bounds: %+v", r)
	case r.Parallelism != r.TaskManagers*r.SlotsPerTaskManager:
		t.Fatalf("parallelism %d ≠ %d × %d", r.Parallelism, r.TaskManagers, r.SlotsPerTaskManager)
	case !(r.TaskManagerCPU > 0) || r.TaskManagerMemory <= 0 || !(r.JobManagerCPU > 0) || r.JobManagerMemory <= 0:
		t.Fatalf("a zero pod: %+v", r)
	case !(r.TotalCPU > r.TotalTaskManagerCPU) || r.TotalMemory <= r.TaskManagerMemory || !(r.RequiredCPU >= 0):
		t.Fatalf("bad totals: %+v", r)
	case !(r.CheckpointInterval > 0) || r.CheckpointIntervalDuration < MinCheckpointInterval:
		t.Fatalf("interval %v", r.CheckpointIntervalDuration)
	case r.NodesNeeded < MinNodes:
		t.Fatalf("%d nodes", r.NodesNeeded)
	case r.BindingConstraint == "" || len(r.Explanation) == 0:
		t.Fatalf("unexplained: %+v", r)
	}
	limit := in.Limits.MaxTaskManagerCPU
	if limit == 0 {
		limit = DefaultMaxTaskManagerCPU
	}
	if node := in.Nodes.CPU.AsApproximateFloat64(); r.TaskManagerCPU > math.Max(node, 0.001)+1e-9 || r.TaskManagerCPU > math.Max(limit, 0.001)+1e-9 {
		t.Fatalf("TaskManager CPU %v above the node's %v or the limit %v", r.TaskManagerCPU, node, limit)
	}
	for _, line := range r.Explanation {
		if strings.Contains(line, "NaN") || strings.Contains(line, "Inf") {
			t.Fatalf("explanation %q", line)
		}
	}
}

// FuzzParseFlinkDuration: the parser never panics, and what it accepts it
// formats back to the same duration.
func FuzzParseFlinkDuration(f *testing.F) {
	for _, s := range []string{"30 s", "2m", "500", "1 MIN", "7µs", "", " ", "9223372036854775807", "9223372036854775807 d", "1.5s", "-3s",
		strings.Repeat("9", 1<<20), strings.Repeat(" ", 1<<20) + "5 s", "1e2147483648 s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseFlinkDuration(s)
		if err != nil {
			if msg := err.Error(); msg == "" || len(msg) > 300 {
				t.Fatalf("an error message of %d bytes", len(msg))
			}
			return
		}
		if d < 0 {
			t.Fatalf("%q → %v", s, d)
		}
		if d%time.Millisecond == 0 {
			if back, err := ParseFlinkDuration(FormatFlinkDuration(d)); err != nil || back != d {
				t.Fatalf("%q → %v → %q → %v, %v", s, d, FormatFlinkDuration(d), back, err)
			}
		}
	})
}
