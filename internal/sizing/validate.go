package sizing

import (
	"math"
	"time"

	"github.com/flinksync/flinksync/internal/model"
)

// Validation: every input is checked and turned into plain numbers before
// the model runs, so the model itself cannot divide by zero or overflow.

// workload is the validated workload, in plain numbers.
type workload struct {
	rps, bytes, keys, state float64
	complexity              model.Complexity
	complexityFactor        float64
	skew                    model.Skew
	skewFactor              float64
	latency, recovery       time.Duration
}

func normalizeWorkload(in *Input) (workload, error) {
	src := &in.Workload
	w := workload{rps: float64(src.RecordsPerSecond), bytes: float64(src.AvgRecordBytes),
		keys: float64(src.DistinctKeys), complexity: src.Complexity, skew: src.Skew,
		latency: src.Latency.Duration, recovery: src.RecoveryTarget.Duration}
	switch {
	case src.RecordsPerSecond < 0:
		return w, inputErr(LevelApp, "workload.recordsPerSecond", "%d is negative", src.RecordsPerSecond)
	case src.RecordsPerSecond == 0 && in.TaskManagers == 0:
		return w, inputErr(LevelApp, "workload.recordsPerSecond", "must be more than zero to size the app (or set an explicit taskManagers)")
	case w.rps > maxRate:
		return w, inputErr(LevelApp, "workload.recordsPerSecond", "%d records per second is absurd (more than %.0e)", src.RecordsPerSecond, maxRate)
	}
	switch {
	case src.AvgRecordBytes == 0:
		w.bytes = model.DefaultAvgRecordBytes
	case src.AvgRecordBytes < 0:
		return w, inputErr(LevelApp, "workload.avgRecordBytes", "%d is negative", src.AvgRecordBytes)
	case src.AvgRecordBytes > 1<<30:
		return w, inputErr(LevelApp, "workload.avgRecordBytes", "%d bytes per record is absurd (more than 1 GiB)", src.AvgRecordBytes)
	}
	if src.DistinctKeys < 0 {
		return w, inputErr(LevelApp, "workload.distinctKeys", "%d is negative", src.DistinctKeys)
	}
	w.state = src.StateSize.AsApproximateFloat64()
	switch {
	case math.IsNaN(w.state) || w.state < 0:
		return w, inputErr(LevelApp, "workload.stateSize", "%s is negative", src.StateSize.String())
	case w.state > maxState:
		return w, inputErr(LevelApp, "workload.stateSize", "%s is absurd (more than 1Ei)", src.StateSize.String())
	}
	if w.complexity == "" {
		w.complexity = model.ComplexityMedium
	}
	var ok bool
	if w.complexityFactor, ok = complexityFactors[w.complexity]; !ok {
		return w, inputErr(LevelApp, "workload.complexity", "%s is not one of simple, medium, complex", model.Quote(string(w.complexity)))
	}
	if w.skew == "" {
		w.skew = model.SkewLow
	}
	if w.skewFactor, ok = skewFactors[w.skew]; !ok {
		return w, inputErr(LevelApp, "workload.skew", "%s is not one of low, medium, high", model.Quote(string(w.skew)))
	}
	if !src.Latency.Set && w.latency == 0 {
		w.latency = model.DefaultLatency.Duration
	}
	if w.latency <= 0 {
		return w, inputErr(LevelApp, "workload.latency", "%s must be longer than zero", w.latency)
	}
	if !src.RecoveryTarget.Set && w.recovery == 0 {
		w.recovery = model.DefaultRecoveryTarget.Duration
	}
	if w.recovery <= 0 {
		return w, inputErr(LevelApp, "workload.recoveryTarget", "%s must be longer than zero", w.recovery)
	}
	return w, nil
}

// shape is the validated pool, nodes and limits; CPU in milli-cores.
type shape struct {
	poolCPU          float64 // cores, as declared
	tmMilli, limit   int64
	clamped          bool
	tmMem, localDisk float64
	localDiskSet     bool
	slots            int
	jmMilli          int64
	jmMem            float64
	nodeMilli        int64
	nodeMem          float64
	nodeCount        int
	maxTMs           int
}

// cpuQuantity checks a CPU quantity and returns it in cores.
func cpuQuantity(obj Level, field string, q model.Quantity) (float64, error) {
	v := q.AsApproximateFloat64()
	switch {
	case math.IsNaN(v) || v <= 0:
		return 0, inputErr(obj, field, "must be more than zero")
	case v < minCPU:
		return 0, inputErr(obj, field, "%s is below 1m, the smallest CPU Kubernetes grants", q.String())
	case v > MaxCPU:
		return 0, inputErr(obj, field, "%s is absurd (more than %d cores)", q.String(), MaxCPU)
	}
	return v, nil
}

// memQuantity checks a memory quantity and returns it in bytes.
func memQuantity(obj Level, field string, q model.Quantity) (float64, error) {
	v := q.AsApproximateFloat64()
	switch {
	case math.IsNaN(v) || v <= 0:
		return 0, inputErr(obj, field, "must be more than zero")
	case v > MaxMemory:
		return 0, inputErr(obj, field, "%s is absurd (more than 1Pi)", q.String())
	}
	return math.Ceil(v), nil
}

// milli converts a CPU request to milli-cores, rounding up as Kubernetes
// does; milliFloor converts a capacity or a limit, rounding down, so that
// what fits the rounded figure fits the real one.
func milli(cores float64) int64 { return max(1, int64(math.Ceil(cores*1000-1e-6))) }

func milliFloor(cores float64) int64 { return max(1, int64(math.Floor(cores*1000+1e-6))) }

func normalizeShape(in *Input) (shape, error) {
	var sh shape
	var err error
	p := &in.Shape
	if sh.poolCPU, err = cpuQuantity(LevelPool, "taskManager.cpu", p.TaskManager.CPU); err != nil {
		return sh, err
	}
	if sh.tmMem, err = memQuantity(LevelPool, "taskManager.memory", p.TaskManager.Memory); err != nil {
		return sh, err
	}
	switch sh.slots = p.TaskManager.Slots; {
	case sh.slots == 0:
		sh.slots = model.DefaultSlots
	case sh.slots < 0:
		return sh, inputErr(LevelPool, "taskManager.slots", "%d is negative", sh.slots)
	case sh.slots > MaxParallelism:
		return sh, inputErr(LevelPool, "taskManager.slots", "%d slots is more than Flink's maximum parallelism %d", sh.slots, MaxParallelism)
	}
	if p.TaskManager.LocalDisk.Set || !p.TaskManager.LocalDisk.IsZero() {
		if sh.localDisk, err = memQuantity(LevelPool, "taskManager.localDisk", p.TaskManager.LocalDisk); err != nil {
			return sh, err
		}
		sh.localDiskSet = true
	}
	jmCPU, jmMem := p.JobManager.CPU, p.JobManager.Memory
	if !jmCPU.Set && jmCPU.IsZero() {
		jmCPU = model.DefaultJobManagerCPU
	}
	if !jmMem.Set && jmMem.IsZero() {
		jmMem = model.DefaultJobManagerMemory
	}
	jm, err := cpuQuantity(LevelPool, "jobManager.cpu", jmCPU)
	if err != nil {
		return sh, err
	}
	sh.jmMilli = milli(jm)
	if sh.jmMem, err = memQuantity(LevelPool, "jobManager.memory", jmMem); err != nil {
		return sh, err
	}
	if sh.maxTMs = p.MaxTaskManagers; sh.maxTMs < 0 {
		return sh, inputErr(LevelPool, "maxTaskManagers", "%d is negative", sh.maxTMs)
	}

	nodeCPU, err := cpuQuantity(LevelEnvironment, "nodes.cpu", in.Nodes.CPU)
	if err != nil {
		return sh, err
	}
	sh.nodeMilli = milliFloor(nodeCPU)
	if sh.nodeMem, err = memQuantity(LevelEnvironment, "nodes.memory", in.Nodes.Memory); err != nil {
		return sh, err
	}
	switch sh.nodeCount = in.Nodes.Count; {
	case sh.nodeCount < 1:
		return sh, inputErr(LevelEnvironment, "nodes.count", "must be at least 1")
	case sh.nodeCount > MaxTaskManagers:
		return sh, inputErr(LevelEnvironment, "nodes.count", "%d nodes is absurd (more than %d)", sh.nodeCount, MaxTaskManagers)
	}

	limit := in.Limits.MaxTaskManagerCPU
	switch {
	case math.IsNaN(limit) || math.IsInf(limit, 0):
		return sh, inputErr(LevelPolicy, "maxTaskManagerCPU", "must be a finite number of cores")
	case limit < 0:
		return sh, inputErr(LevelPolicy, "maxTaskManagerCPU", "%v is negative", limit)
	case limit == 0:
		limit = DefaultMaxTaskManagerCPU
	case limit < minCPU:
		return sh, inputErr(LevelPolicy, "maxTaskManagerCPU", "%v is below 1m, the smallest CPU Kubernetes grants", limit)
	}
	sh.limit = min(milliFloor(limit), sh.nodeMilli)
	sh.tmMilli = milli(sh.poolCPU)
	if sh.tmMilli > sh.limit {
		sh.tmMilli, sh.clamped = sh.limit, true
	}
	if !sh.localDiskSet {
		sh.localDisk = LocalDiskPerCore * float64(sh.tmMilli) / 1000
	}
	if in.TaskManagers < 0 {
		return sh, inputErr(LevelApp, "taskManagers", "%d is negative", in.TaskManagers)
	}
	if in.TaskManagers > MaxTaskManagers {
		return sh, inputErr(LevelApp, "taskManagers", "%d is more than the sane bound of %d TaskManagers", in.TaskManagers, MaxTaskManagers)
	}
	return sh, nil
}

// complexityFactors and skewFactors map the workload's classes to the
// named constants of constants.go.
var (
	complexityFactors = map[model.Complexity]float64{
		model.ComplexitySimple: ComplexitySimple, model.ComplexityMedium: ComplexityMedium, model.ComplexityComplex: ComplexityComplex,
	}
	skewFactors = map[model.Skew]float64{model.SkewLow: SkewLow, model.SkewMedium: SkewMedium, model.SkewHigh: SkewHigh}
)
