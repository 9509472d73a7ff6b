package sizing

import (
	"time"

	"github.com/flinksync/flinksync/internal/flinkconf"
)

// The factors of the model. Each says where it comes from; docs/sizing.md
// explains them step by step. "field guide" is the product's sizing guidance
// (reference/sizing.md); "AWS" is AWS Managed Service for Apache Flink's
// published resource unit and rules of thumb.

// Throughput: the per-core processing rate and what lowers it.
const (
	// BaseRecordsPerCore is the records per second one CPU core processes
	// for a simple statement on records of BaseRecordBytes (field guide:
	// "about 10,000 records per second per CPU core").
	BaseRecordsPerCore = 10_000
	// BaseRecordBytes is the record size the baseline assumes (field guide:
	// "records of about 512 bytes").
	BaseRecordBytes = 512
	// BytesPerSecondPerCore caps the rate for larger records: one core
	// moves about 5 MB/s (field guide: "about 5 MB/s per core once records
	// are larger than 512 B"; AWS: 5–10 MB/s per KPU; a 4-core node does
	// 20–50 MB/s). It is BaseRecordsPerCore × BaseRecordBytes, so the rate
	// is continuous at 512 B.
	BytesPerSecondPerCore = BaseRecordsPerCore * BaseRecordBytes

	// ComplexitySimple, ComplexityMedium and ComplexityComplex multiply the
	// rate (field guide: simple 1, medium about 1/2, complex about 1/4; the
	// flink-estimator's code has 24,000 / 11,000 / 2,500 rec/s, 1 : 0.46 :
	// 0.10, harder on complex statements; Alibaba's 40–55 k simple vs 5–10 k
	// complex is 1 : 0.15 to 0.25).
	ComplexitySimple  = 1.0
	ComplexityMedium  = 0.5
	ComplexityComplex = 0.25

	// KeysThreshold is the number of distinct keys up to which keys cost
	// nothing; KeysPenaltyPerDecade divides the rate by a further 0.1 for
	// every tenfold above it (field guide: the rate "drops with ... many
	// distinct keys"; the size of the step is flinksync's own calibration:
	// 50 M keys cost 17%, 1 G keys 30%).
	KeysThreshold        = 1_000_000
	KeysPenaltyPerDecade = 0.1
	// StateThreshold is the keyed state up to which state costs nothing
	// (1 GiB, about what RocksDB serves from a 4 GiB TaskManager's managed
	// memory); StatePenaltyPerDecade divides the rate by a further 0.1 for
	// every tenfold above it (field guide: the rate "drops with ... bigger
	// state"; flinksync's calibration: 60 GiB costs 18%, 1 TiB 30%).
	StateThreshold        = 1 << 30
	StatePenaltyPerDecade = 0.1

	// SkewLow, SkewMedium and SkewHigh are how much more than the average
	// the busiest subtask carries; the CPU is sized for the busiest one
	// (field guide: "low ×1, medium ÷1.2, high ÷1.7").
	SkewLow    = 1.0
	SkewMedium = 1.2
	SkewHigh   = 1.7
)

// Latency classes (field guide: "latency targets cost resources"). A target
// under a class's bound takes its CPU uplift and checkpoint interval.
const (
	// LatencyTight, LatencyLow and LatencyModerate are the upper bounds
	// (exclusive) of the classes "under 500 ms", "under 1 s" and "under 5 s";
	// 5 s or more is "relaxed".
	LatencyTight    = 500 * time.Millisecond
	LatencyLow      = time.Second
	LatencyModerate = 5 * time.Second

	// UpliftTight, UpliftLow, UpliftModerate and UpliftRelaxed multiply the
	// CPU (field guide: +50%, +20%, +10%, none).
	UpliftTight    = 1.5
	UpliftLow      = 1.2
	UpliftModerate = 1.1
	UpliftRelaxed  = 1.0

	// IntervalTight, IntervalLow and IntervalModerate are the checkpoint
	// intervals of the classes (field guide: 10 s, 30 s, 60 s).
	IntervalTight    = 10 * time.Second
	IntervalLow      = 30 * time.Second
	IntervalModerate = 60 * time.Second
	// StandardCheckpointInterval is the "standard" interval of the relaxed
	// class: AWS Managed Service for Apache Flink's default CheckpointInterval
	// (60,000 ms). Flink itself has no default: checkpointing is off until
	// execution.checkpointing.interval is set.
	StandardCheckpointInterval = 60 * time.Second
)

// State, checkpoints and recovery.
const (
	// StateMemoryFraction is the share of a TaskManager's memory its part of
	// the keyed state may take: RocksDB keeps state on local disk, but the
	// working set must be cached in memory (AWS: 2–2.5 GB of state per KPU
	// of 4 GB, so 2 of 4 GB; the lower end).
	StateMemoryFraction = 0.5
	// StateDiskAmplification is how much local disk RocksDB needs per byte
	// of state, for compaction, the write-ahead log and overlapping SST files
	// during merges (the field guide's state-on-disk rule: keys × record
	// size × 1.5; the flink-estimator's code has no disk term).
	StateDiskAmplification = 1.5
	// LocalDiskPerCore is the local disk a TaskManager gets per core of CPU
	// when its pool does not set taskManager.localDisk (AWS: 1 KPU = 1 vCPU,
	// 4 GB memory and 50 GB of running-application storage).
	LocalDiskPerCore = 50_000_000_000

	// NetworkBytesPerSecondPerCore is the bandwidth to the checkpoint store
	// (S3 or similar) per core of a TaskManager: the baseline network
	// bandwidth of a general-purpose cloud node, an AWS m5.xlarge's
	// 1.25 Gbit/s for 4 vCPUs, about 39 MB/s per core.
	NetworkBytesPerSecondPerCore = 1.25e9 / 8 / 4
	// CheckpointUploadShare is the part of the checkpoint interval a
	// checkpoint's upload may take, so the job does not checkpoint all the
	// time (flinksync's choice, in the spirit of Flink's advice to keep
	// checkpoint duration well under the interval).
	CheckpointUploadShare = 0.5
	// IncrementalUploadAmplification is how many bytes an incremental
	// checkpoint uploads per byte written since the last one: RocksDB uploads
	// the SST files created since then, the flushed writes and the files its
	// compaction rewrote from them. flinksync takes the same compaction
	// headroom as StateDiskAmplification (the field guide's 1.5); the upload
	// is never more than the whole state.
	IncrementalUploadAmplification = StateDiskAmplification
	// RecoveryDownloadShare is the part of the recovery target the state's
	// download may take; the rest is left for failure detection (Flink's
	// heartbeat.timeout is 50 s), pod scheduling and replaying the input
	// since the last checkpoint (flinksync's choice).
	RecoveryDownloadShare = 0.5
	// FailureDetectionTime is how long Flink may take to notice a lost
	// TaskManager: heartbeat.timeout's default, 50 s (Flink 1.x and 2.x). A
	// recovery target that leaves less than this beside the state's download
	// cannot be met by any number of TaskManagers, and sizing warns.
	FailureDetectionTime = 50 * time.Second
)

// Bounds and defaults.
const (
	// DefaultMaxTaskManagerCPU is the most CPU one TaskManager gets when the
	// policy sets no maxTaskManagerCPU (field guide: "at most 8 CPU cores
	// per Flink node"; policy CPU-001).
	DefaultMaxTaskManagerCPU = 8
	// MinNodes is the fewest nodes an environment should run Flink on (field
	// guide: "at least 3 nodes"; policy CPU-005).
	MinNodes = 3
	// MaxTaskManagers is the sane bound on one application's TaskManagers:
	// an estimate above it means the input is wrong, and is an error.
	MaxTaskManagers = 100_000
	// MaxParallelism is the highest parallelism Flink supports (the upper
	// bound of pipeline.max-parallelism, 2^15).
	MaxParallelism = 1 << 15
	// MinCheckpointInterval is the shortest checkpoint interval Flink
	// accepts (CheckpointCoordinatorConfiguration: "must be larger than or
	// equal to 10 ms").
	MinCheckpointInterval = 10 * time.Millisecond
	// MaxCPU and MaxMemory bound any one CPU or memory quantity (of a pod or
	// a node): above them an input is absurd, and is an error.
	MaxCPU    = 100_000          // cores
	MaxMemory = 1 << 50          // bytes, 1 PiB
	minCPU    = 0.001            // one milli-CPU, the smallest Kubernetes CPU unit
	maxRate   = 1e15             // records per second: beyond any real stream
	maxState  = float64(1 << 60) // bytes, 1 EiB
)

// Flink configuration keys sizing reads.
const (
	// KeyCheckpointInterval sets the checkpoint interval; when present at any
	// level it wins over the latency class's.
	KeyCheckpointInterval = flinkconf.CheckpointInterval
	// KeyIncremental and KeyIncrementalLegacy turn on incremental RocksDB
	// checkpoints (Flink 2.x name, and the 1.x name it replaced); Flink's
	// default is off: every checkpoint uploads the whole state.
	KeyIncremental       = flinkconf.Incremental
	KeyIncrementalLegacy = flinkconf.IncrementalLegacy
	// KeyStateBackend and KeyStateBackendLegacy choose the state backend
	// (Flink 1.17+ and 2.x name, and the older one). Only RocksDB (and
	// Flink 2's ForSt) checkpoint incrementally; Flink's default, hashmap,
	// ignores the incremental keys and uploads the whole state every time.
	KeyStateBackend       = flinkconf.StateBackend
	KeyStateBackendLegacy = flinkconf.StateBackendLegacy
)
