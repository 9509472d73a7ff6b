// Package sizing is the pipeline's sizing stage: it turns the declared
// workload of an application in an environment into resources, with the
// reasoning that led to them.
//
// Size is a pure, deterministic function from a workload, a compute pool's
// TaskManager and JobManager shape, the environment's node shape and the
// policy's limits to a Result: TaskManagers, slots, parallelism, CPU and
// memory per TaskManager and in total, the JobManager, the checkpoint
// interval, the nodes needed, the binding constraint and an explanation of
// every step with its numbers. ForApp sizes one effective application of the
// model; ForRepository sizes every application of every environment and adds
// the per-environment totals the policy stage and the PR plan use.
//
// Every factor is a named constant that says where it comes from (see
// constants.go and docs/sizing.md). The package reads the model and nothing
// after it in the pipeline: it knows nothing of policy, rendering or the
// cluster.
package sizing

import (
	"fmt"
	"math"
	"time"

	"github.com/flinksync/flinksync/internal/model"
)

// Limits are the policy limits sizing obeys.
type Limits struct {
	// MaxTaskManagerCPU is the most CPU one TaskManager may have, in cores;
	// 0 means DefaultMaxTaskManagerCPU (8). The node's CPU bounds it too.
	MaxTaskManagerCPU float64
}

// Level is where a Flink configuration key, or the checkpoint interval,
// comes from.
type Level string

// The levels of configuration, from the highest precedence to the lowest,
// and the latency class for a computed interval.
const (
	LevelApp         Level = "app"
	LevelPool        Level = "pool"
	LevelEnvironment Level = "environment"
	LevelLatency     Level = "latency class"
)

// ConfigLayer is one level of an application's Flink configuration.
type ConfigLayer struct {
	Level Level
	// Where locates the configuration for explanations and errors, as
	// "file:line".
	Where  string
	Config model.FlinkConfiguration
}

// Input is everything Size needs; zero values of the workload take the
// loader's defaults (model.DefaultAvgRecordBytes and the others).
type Input struct {
	// Environment, App and Pool name the result; they do not change it.
	Environment string
	App         string
	Pool        string

	Workload model.Workload
	// Shape is the pool's TaskManager and JobManager shape.
	Shape model.ComputePoolSpec
	Nodes model.Nodes
	// TaskManagers is the app's explicit count; 0 means estimate it.
	TaskManagers int
	// Configuration is the app's Flink configuration, highest precedence
	// first (app, pool, environment); Size reads the checkpoint interval and
	// whether checkpoints are incremental from it.
	Configuration []ConfigLayer
	Limits        Limits
}

// Constraint names what set an application's TaskManager count.
type Constraint string

// The constraints, in the order Size checks them; on a tie the first wins.
const (
	// ConstraintThroughput: the CPU for the records per second, with the
	// latency uplift.
	ConstraintThroughput Constraint = "throughput"
	// ConstraintSkew: the CPU for the busiest subtask under key skew.
	ConstraintSkew Constraint = "skew"
	// ConstraintState: the keyed state in the TaskManagers' memory and disk.
	ConstraintState Constraint = "state"
	// ConstraintCheckpoint: uploading a checkpoint within the interval.
	ConstraintCheckpoint Constraint = "checkpoint"
	// ConstraintRecovery: restoring the state within the recovery target.
	ConstraintRecovery Constraint = "recovery"
	// ConstraintExplicit: the app's explicit taskManagers.
	ConstraintExplicit Constraint = "explicit"
)

// Result is the sizing of one application in one environment. CPU is in
// cores, memory in bytes, the checkpoint interval in seconds.
type Result struct {
	Environment string `json:"environment"`
	App         string `json:"app"`
	Pool        string `json:"pool,omitempty"`

	TaskManagers int `json:"taskManagers"`
	// EstimatedTaskManagers is the model's count; it differs from
	// TaskManagers when the app sets an explicit count.
	EstimatedTaskManagers int `json:"estimatedTaskManagers"`
	// BelowEstimate is true when an explicit count is below the estimate.
	BelowEstimate       bool `json:"belowEstimate,omitempty"`
	SlotsPerTaskManager int  `json:"slotsPerTaskManager"`
	Parallelism         int  `json:"parallelism"`

	TaskManagerCPU    float64 `json:"taskManagerCPU"`
	TaskManagerMemory int64   `json:"taskManagerMemory"`
	// PoolTaskManagerCPU is the CPU the pool declares; Clamped is true when
	// it was above the node's CPU or MaxTaskManagerCPU and TaskManagerCPU was
	// lowered to that limit (policy CPU-001 reports it at the pool's line).
	PoolTaskManagerCPU float64 `json:"poolTaskManagerCPU"`
	Clamped            bool    `json:"clamped,omitempty"`
	// RequiredCPU is the TaskManager CPU the workload needs before rounding
	// up to whole TaskManagers.
	RequiredCPU         float64 `json:"requiredCPU"`
	TotalTaskManagerCPU float64 `json:"totalTaskManagerCPU"`
	// TotalCPU and TotalMemory count the TaskManagers and the JobManager.
	TotalCPU         float64 `json:"totalCPU"`
	TotalMemory      int64   `json:"totalMemory"`
	JobManagerCPU    float64 `json:"jobManagerCPU"`
	JobManagerMemory int64   `json:"jobManagerMemory"`

	// CheckpointInterval is in seconds; CheckpointIntervalSource says whether
	// it is the latency class's or set in the app's, pool's or environment's
	// configuration.
	CheckpointInterval         float64       `json:"checkpointInterval"`
	CheckpointIntervalSource   Level         `json:"checkpointIntervalSource"`
	CheckpointIntervalDuration time.Duration `json:"-"`
	IncrementalCheckpoints     bool          `json:"incrementalCheckpoints"`

	// NodesNeeded is the application's pods bin-packed onto the
	// environment's node shape, at least MinNodes.
	NodesNeeded int `json:"nodesNeeded"`

	BindingConstraint Constraint `json:"bindingConstraint"`
	Explanation       []string   `json:"explanation"`
}

// InputError is an input Size cannot size: the field and what is wrong.
// Field is relative to the object it belongs to: "workload.stateSize" and
// "taskManagers" (the app's spec), "taskManager.cpu" and "jobManager.memory"
// (the pool's spec), "nodes.count" (the environment's spec),
// "maxTaskManagerCPU" (the policy) or a Flink configuration key.
type InputError struct {
	Object Level
	Field  string
	// Where locates a configuration value ("file:line"), when known.
	Where   string
	Message string
}

// LevelPolicy marks an InputError in the policy's limits.
const LevelPolicy Level = "policy"

func (e *InputError) Error() string {
	if e.Where != "" {
		return e.Where + ": " + e.Field + ": " + e.Message
	}
	return e.Field + ": " + e.Message
}

func inputErr(obj Level, field, format string, args ...any) *InputError {
	return &InputError{Object: obj, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Size sizes one application. It never returns a zero or negative count:
// an input it cannot size gives an *InputError that says which field is
// wrong and why.
func Size(in Input) (*Result, error) {
	return size(in, &scratch{make([]byte, 0, 4096), make([]int, 0, 32)})
}

func size(in Input, sc *scratch) (*Result, error) {
	w, err := normalizeWorkload(in)
	if err != nil {
		return nil, err
	}
	sh, err := normalizeShape(in)
	if err != nil {
		return nil, err
	}
	s := &sizer{scratch: sc, in: in, w: w, sh: sh}
	return s.run()
}

// workload is the validated workload, in plain numbers.
type workload struct {
	rps, bytes, keys, state float64
	complexity              model.Complexity
	complexityFactor        float64
	skew                    model.Skew
	skewFactor              float64
	latency, recovery       time.Duration
}

func normalizeWorkload(in Input) (workload, error) {
	src := in.Workload
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
	switch w.complexity {
	case model.ComplexitySimple:
		w.complexityFactor = ComplexitySimple
	case model.ComplexityMedium:
		w.complexityFactor = ComplexityMedium
	case model.ComplexityComplex:
		w.complexityFactor = ComplexityComplex
	default:
		return w, inputErr(LevelApp, "workload.complexity", "%q is not one of simple, medium, complex", w.complexity)
	}
	if w.skew == "" {
		w.skew = model.SkewLow
	}
	switch w.skew {
	case model.SkewLow:
		w.skewFactor = SkewLow
	case model.SkewMedium:
		w.skewFactor = SkewMedium
	case model.SkewHigh:
		w.skewFactor = SkewHigh
	default:
		return w, inputErr(LevelApp, "workload.skew", "%q is not one of low, medium, high", w.skew)
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

func milli(cores float64) int64 { return max(1, int64(math.Round(cores*1000))) }

func normalizeShape(in Input) (shape, error) {
	var sh shape
	var err error
	p := in.Shape
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
	sh.nodeMilli = milli(nodeCPU)
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
	sh.limit = min(milli(limit), sh.nodeMilli)
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

// latencyClass returns the class of a latency target: its name, CPU uplift
// and checkpoint interval.
func latencyClass(l time.Duration) (string, float64, time.Duration) {
	switch {
	case l < LatencyTight:
		return "under 500 ms", UpliftTight, IntervalTight
	case l < LatencyLow:
		return "under 1 s", UpliftLow, IntervalLow
	case l < LatencyModerate:
		return "under 5 s", UpliftModerate, IntervalModerate
	default:
		return "relaxed (5 s or more)", UpliftRelaxed, StandardCheckpointInterval
	}
}

// RatePerCore is the records per second one core processes for a workload
// (before skew and the latency uplift): the baseline, lowered for record
// size, complexity, distinct keys and state.
func RatePerCore(avgRecordBytes, distinctKeys, stateBytes, complexityFactor float64) float64 {
	r := float64(BaseRecordsPerCore)
	if avgRecordBytes > BaseRecordBytes {
		r = BytesPerSecondPerCore / avgRecordBytes
	}
	return r * complexityFactor / stateKeysDivisor(distinctKeys, stateBytes)
}

func keysPenalty(keys float64) float64 {
	if keys <= KeysThreshold {
		return 0
	}
	return KeysPenaltyPerDecade * math.Log10(keys/KeysThreshold)
}

func statePenalty(state float64) float64 {
	if state <= StateThreshold {
		return 0
	}
	return StatePenaltyPerDecade * math.Log10(state/StateThreshold)
}

func stateKeysDivisor(keys, state float64) float64 {
	return 1 + keysPenalty(keys) + statePenalty(state)
}
