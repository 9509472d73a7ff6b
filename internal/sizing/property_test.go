package sizing

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/flinksync/flinksync/internal/model"
)

// The property tests draw inputs from a generator with a fixed seed, so a
// failure always reproduces.

const propertyRuns = 2000

var (
	complexities = []model.Complexity{model.ComplexitySimple, model.ComplexityMedium, model.ComplexityComplex}
	skews        = []model.Skew{model.SkewLow, model.SkewMedium, model.SkewHigh}
	latencies    = []time.Duration{100 * time.Millisecond, 499 * time.Millisecond, 500 * time.Millisecond, 800 * time.Millisecond,
		time.Second, 3 * time.Second, 5 * time.Second, time.Minute}
)

func milliQ(m int64) model.Quantity {
	return model.Quantity{Quantity: *resource.NewMilliQuantity(m, resource.DecimalSI), Set: true}
}

func bytesQ(b int64) model.Quantity {
	return model.Quantity{Quantity: *resource.NewQuantity(b, resource.BinarySI), Set: true}
}

// randomInput is a plausible input: every field varies, within bounds that
// keep the count under MaxTaskManagers.
func randomInput(rng *rand.Rand) Input {
	pick := func(xs ...int64) int64 { return xs[rng.IntN(len(xs))] }
	w := model.Workload{
		RecordsPerSecond: 1 + rng.Int64N(500_000),
		AvgRecordBytes:   pick(0, 64, 512, 700, 1024, 4096, 65536),
		DistinctKeys:     pick(0, 10, 1_000_000, 50_000_000, 1_000_000_000),
		StateSize:        bytesQ(pick(0, 1<<20, 1<<30, 20<<30, 300<<30)),
		Complexity:       complexities[rng.IntN(3)],
		Latency:          dur(latencies[rng.IntN(len(latencies))]),
		Skew:             skews[rng.IntN(3)],
		RecoveryTarget:   dur(time.Duration(pick(30, 120, 300, 3600)) * time.Second),
	}
	shape := model.ComputePoolSpec{
		TaskManager: model.TaskManagerShape{
			CPU: milliQ(pick(250, 500, 1000, 2000, 4000, 8000, 16000, 32000)), Memory: bytesQ(pick(1<<30, 4<<30, 16<<30, 64<<30)),
			Slots: int(pick(1, 2, 4, 8)),
		},
		JobManager: model.JobManagerShape{CPU: milliQ(pick(500, 1000, 2000)), Memory: bytesQ(pick(1<<30, 2<<30, 4<<30))},
	}
	if rng.IntN(2) == 0 {
		shape.TaskManager.LocalDisk = bytesQ(pick(10<<30, 100<<30, 1<<40))
	}
	var conf []ConfigLayer
	if rng.IntN(2) == 0 {
		conf = append(conf, ConfigLayer{LevelEnvironment, "e.yaml:1", model.FlinkConfiguration{KeyIncrementalLegacy: "true"}})
	}
	in := Input{
		Workload: w, Shape: shape,
		Nodes:         model.Nodes{CPU: milliQ(pick(2000, 4000, 8000, 16000, 64000)), Memory: bytesQ(pick(8<<30, 32<<30, 256<<30)), Count: int(pick(1, 3, 24))},
		Configuration: conf,
		Limits:        Limits{MaxTaskManagerCPU: float64(pick(0, 2, 6, 8, 12))},
	}
	return in
}

func describeInput(in Input) string {
	w := in.Workload
	return fmt.Sprintf("%d rec/s × %d B %s, %d keys, state %s, latency %v, skew %s, recovery %v; TM %s/%s×%d; nodes %s; limit %v; conf %v",
		w.RecordsPerSecond, w.AvgRecordBytes, w.Complexity, w.DistinctKeys, w.StateSize.String(), w.Latency.Duration, w.Skew,
		w.RecoveryTarget.Duration, in.Shape.TaskManager.CPU.String(), in.Shape.TaskManager.Memory.String(), in.Shape.TaskManager.Slots,
		in.Nodes.CPU.String(), in.Limits.MaxTaskManagerCPU, in.Configuration)
}

// more is one change to an input that must never lower the CPU.
type more struct {
	name string
	edit func(*Input, *rand.Rand) bool // false when the input cannot grow that way
}

var moreWork = []more{
	{"more records/s", func(in *Input, rng *rand.Rand) bool {
		in.Workload.RecordsPerSecond += 1 + rng.Int64N(in.Workload.RecordsPerSecond+1)
		return true
	}},
	{"larger records", func(in *Input, rng *rand.Rand) bool {
		if in.Workload.AvgRecordBytes == 0 {
			in.Workload.AvgRecordBytes = model.DefaultAvgRecordBytes
		}
		in.Workload.AvgRecordBytes += 1 + rng.Int64N(in.Workload.AvgRecordBytes)
		return true
	}},
	{"higher complexity", func(in *Input, _ *rand.Rand) bool {
		switch in.Workload.Complexity {
		case model.ComplexitySimple:
			in.Workload.Complexity = model.ComplexityMedium
		case model.ComplexityMedium:
			in.Workload.Complexity = model.ComplexityComplex
		default:
			return false
		}
		return true
	}},
	{"more skew", func(in *Input, _ *rand.Rand) bool {
		switch in.Workload.Skew {
		case model.SkewLow:
			in.Workload.Skew = model.SkewMedium
		case model.SkewMedium:
			in.Workload.Skew = model.SkewHigh
		default:
			return false
		}
		return true
	}},
	{"tighter latency", func(in *Input, rng *rand.Rand) bool {
		l := in.Workload.Latency.Duration
		in.Workload.Latency = dur(l - time.Duration(rng.Int64N(int64(l))))
		return in.Workload.Latency.Duration > 0
	}},
}

func TestPropertyMoreWorkNeverLowersCPU(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2026))
	checked := map[string]int{}
	for i := 0; i < propertyRuns; i++ {
		in := randomInput(rng)
		before, err := Size(in)
		if err != nil {
			continue
		}
		for _, m := range moreWork {
			bigger := in
			if !m.edit(&bigger, rng) {
				continue
			}
			after, err := Size(bigger)
			if err != nil {
				// Growing may only fail by crossing a sane bound.
				if !isBound(err) && !strings.Contains(err.Error(), "absurd") {
					t.Fatalf("%s: %v\n%s", m.name, err, describeInput(bigger))
				}
				continue
			}
			checked[m.name]++
			if after.RequiredCPU < before.RequiredCPU || after.TotalTaskManagerCPU < before.TotalTaskManagerCPU || after.TaskManagers < before.TaskManagers {
				t.Fatalf("%s lowered the CPU: required %v → %v, TaskManager CPU %v → %v, TaskManagers %d → %d\nbefore: %s\nafter:  %s",
					m.name, before.RequiredCPU, after.RequiredCPU, before.TotalTaskManagerCPU, after.TotalTaskManagerCPU,
					before.TaskManagers, after.TaskManagers, describeInput(in), describeInput(bigger))
			}
		}
	}
	for _, m := range moreWork {
		if checked[m.name] < propertyRuns/10 {
			t.Errorf("%s: only %d cases checked", m.name, checked[m.name])
		}
	}
}

func TestPropertyShape(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 2026))
	sized := 0
	for i := 0; i < propertyRuns; i++ {
		in := randomInput(rng)
		if rng.IntN(4) == 0 {
			in.TaskManagers = 1 + rng.IntN(200)
		}
		r, err := Size(in)
		if err != nil {
			continue
		}
		sized++
		node := in.Nodes.CPU.AsApproximateFloat64()
		limit := in.Limits.MaxTaskManagerCPU
		if limit == 0 {
			limit = DefaultMaxTaskManagerCPU
		}
		switch {
		case r.Parallelism != r.TaskManagers*r.SlotsPerTaskManager:
			t.Fatalf("parallelism %d ≠ %d × %d", r.Parallelism, r.TaskManagers, r.SlotsPerTaskManager)
		case r.TaskManagerCPU > node || r.TaskManagerCPU > limit || r.TaskManagerCPU > DefaultMaxTaskManagerCPU && in.Limits.MaxTaskManagerCPU <= DefaultMaxTaskManagerCPU:
			t.Fatalf("TaskManager CPU %v above the node's %v or the limit %v", r.TaskManagerCPU, node, limit)
		case r.Clamped != (r.PoolTaskManagerCPU > r.TaskManagerCPU):
			t.Fatalf("clamped %v with pool CPU %v and TaskManager CPU %v", r.Clamped, r.PoolTaskManagerCPU, r.TaskManagerCPU)
		case r.TaskManagers < 1 || r.EstimatedTaskManagers < 1 || r.NodesNeeded < MinNodes || r.TotalCPU <= 0 || r.TotalMemory <= 0 || r.CheckpointInterval <= 0:
			t.Fatalf("a zero or negative result: %+v", r)
		case in.TaskManagers > 0 && (r.TaskManagers != in.TaskManagers || r.BindingConstraint != ConstraintExplicit || r.BelowEstimate != (in.TaskManagers < r.EstimatedTaskManagers)):
			t.Fatalf("explicit %d: %+v", in.TaskManagers, r)
		case in.TaskManagers == 0 && r.TaskManagers != r.EstimatedTaskManagers:
			t.Fatalf("estimated %d but %d TaskManagers", r.EstimatedTaskManagers, r.TaskManagers)
		}
		// The explained computation agrees with RatePerCore.
		w := in.Workload
		bytes := float64(w.AvgRecordBytes)
		if bytes == 0 {
			bytes = model.DefaultAvgRecordBytes
		}
		factor := map[model.Complexity]float64{model.ComplexitySimple: 1, model.ComplexityMedium: 0.5, model.ComplexityComplex: 0.25}[w.Complexity]
		skew := map[model.Skew]float64{model.SkewLow: 1, model.SkewMedium: 1.2, model.SkewHigh: 1.7}[w.Skew]
		_, uplift, _ := latencyClass(w.Latency.Duration)
		want := float64(w.RecordsPerSecond) / RatePerCore(bytes, float64(w.DistinctKeys), w.StateSize.AsApproximateFloat64(), factor) * uplift * skew
		if math.Abs(r.RequiredCPU-want) > 0.001+1e-9*want {
			t.Fatalf("required CPU %v, RatePerCore gives %v\n%s", r.RequiredCPU, want, describeInput(in))
		}
	}
	if sized < propertyRuns/2 {
		t.Errorf("only %d of %d inputs sized", sized, propertyRuns)
	}
}

// TestPropertyStateAndRecovery: a big state or a short recovery target
// raises the count, and the result and explanation say why.
func TestPropertyStateAndRecovery(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 2026))
	checked := 0
	for i := 0; i < propertyRuns/4; i++ {
		in := randomInput(rng)
		in.Workload.RecordsPerSecond = 1 + rng.Int64N(5_000)
		in.Workload.StateSize = bytesQ(1 << 20)
		in.Workload.RecoveryTarget = dur(time.Hour)
		small, err := Size(in)
		if err != nil {
			t.Fatalf("%v\n%s", err, describeInput(in))
		}

		big := in
		// More state than the TaskManagers can hold in memory.
		big.Workload.StateSize = bytesQ(int64(small.TaskManagers+1) * in.Shape.TaskManager.Memory.Value())
		r, err := Size(big)
		if isBound(err) {
			continue // too big for Flink: a clear error is right
		}
		if err != nil {
			t.Fatalf("big state: %v\n%s", err, describeInput(big))
		}
		checked++
		switch r.BindingConstraint {
		case ConstraintState, ConstraintCheckpoint, ConstraintRecovery:
		default:
			t.Fatalf("big state: binding %s\n%s", r.BindingConstraint, describeInput(big))
		}
		if r.TaskManagers <= small.TaskManagers || !strings.Contains(strings.Join(r.Explanation, "\n"), "set by "+string(r.BindingConstraint)) {
			t.Fatalf("big state: %d → %d TaskManagers, explanation:\n%s", small.TaskManagers, r.TaskManagers, strings.Join(r.Explanation, "\n"))
		}

		short := in
		short.Workload.StateSize = bytesQ(10 << 30)
		short.Workload.RecoveryTarget = dur(time.Hour)
		long, err := Size(short)
		if err != nil {
			t.Fatalf("%v", err)
		}
		short.Workload.RecoveryTarget = dur(time.Second)
		r, err = Size(short)
		if isBound(err) {
			continue
		}
		if err != nil {
			t.Fatalf("short recovery: %v\n%s", err, describeInput(short))
		}
		if r.BindingConstraint != ConstraintRecovery || r.TaskManagers <= long.TaskManagers ||
			!strings.Contains(strings.Join(r.Explanation, "\n"), "set by recovery") {
			t.Fatalf("short recovery: %d → %d TaskManagers, binding %s:\n%s", long.TaskManagers, r.TaskManagers, r.BindingConstraint, strings.Join(r.Explanation, "\n"))
		}
	}
	if checked < propertyRuns/8 {
		t.Errorf("only %d cases checked", checked)
	}
}

// isBound reports whether err is a sane-bound error: an input too big to size.
func isBound(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "sane bound") || strings.Contains(err.Error(), "maximum"))
}
