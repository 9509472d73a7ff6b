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
	// LevelPolicy marks an InputError in the policy's limits.
	LevelPolicy Level = "policy"
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
	// Statement is true when App names a FlinkStatement (a streaming SQL
	// statement, sized like an application).
	Statement bool `json:"statement,omitempty"`

	TaskManagers int `json:"taskManagers"`
	// EstimatedTaskManagers is the model's count; it differs from
	// TaskManagers when the app sets an explicit count.
	EstimatedTaskManagers int `json:"estimatedTaskManagers"`
	// BelowEstimate is true when an explicit count is below the estimate.
	BelowEstimate bool `json:"belowEstimate,omitempty"`
	// ExceedsMaxTaskManagers is true when TaskManagers is above the pool's
	// maxTaskManagers, MaxTaskManagers (0: the pool sets none); policy
	// CPU-003 fails validate on it and size exits 1.
	ExceedsMaxTaskManagers bool `json:"exceedsMaxTaskManagers"`
	MaxTaskManagers        int  `json:"maxTaskManagers,omitempty"`
	SlotsPerTaskManager    int  `json:"slotsPerTaskManager"`
	Parallelism            int  `json:"parallelism"`

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
	Explanation       []string   `json:"explanation,omitempty"`
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

// Error formats the error as "field: message", after the configuration's
// "file:line" when the value comes from a configuration.
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
	return size(&in, &scratch{make([]byte, 0, 4096), make([]int, 0, 32)})
}

func size(in *Input, sc *scratch) (*Result, error) {
	w, err := normalizeWorkload(in)
	if err != nil {
		return nil, err
	}
	sh, err := normalizeShape(in)
	if err != nil {
		return nil, err
	}
	s := &sizer{scratch: sc, env: in.Environment, app: in.App, pool: in.Pool, explicit: in.TaskManagers,
		conf: in.Configuration, limitCPU: in.Limits.MaxTaskManagerCPU, w: w, sh: sh}
	return s.run()
}
