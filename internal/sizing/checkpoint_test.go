package sizing

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/flinksync/flinksync/internal/model"
)

// bigStateInput is issue 15's case: 5,000 rec/s of 1 KiB with 500 GiB of
// state, a 300 ms latency target (10 s checkpoints) and a 1 min recovery
// target, on 4-CPU, 16 GiB TaskManagers.
func bigStateInput(state string, conf ...model.FlinkConfiguration) Input {
	w := workloadOf(5_000, 1024, model.ComplexityMedium, 300*time.Millisecond)
	w.StateSize = model.MustQuantity(state)
	w.RecoveryTarget = dur(time.Minute)
	in := Input{Environment: "prod", App: "ledger", Pool: "large", Workload: w,
		Shape: poolOf("4", "16Gi", 4, "200Gi"), Nodes: nodes("8", "32Gi", 100)}
	levels := []Level{LevelApp, LevelPool, LevelEnvironment}
	for i, c := range conf {
		in.Configuration = append(in.Configuration, ConfigLayer{Level: levels[i], Where: string(levels[i]) + ".yaml:7", Config: c})
	}
	return in
}

// incrementalEstimate is the count the incremental model should reach,
// worked out apart from the sizer: the largest of state in memory, state
// on disk, the upload of what one interval writes, and the restore of the
// whole state.
func incrementalEstimate(in Input) int {
	state := in.Workload.StateSize.AsApproximateFloat64()
	mem := in.Shape.TaskManager.Memory.AsApproximateFloat64()
	disk := in.Shape.TaskManager.LocalDisk.AsApproximateFloat64()
	bw := in.Shape.TaskManager.CPU.AsApproximateFloat64() * NetworkBytesPerSecondPerCore
	interval := IntervalTight.Seconds()
	written := float64(in.Workload.RecordsPerSecond*in.Workload.AvgRecordBytes) * interval * IncrementalUploadAmplification
	return int(math.Ceil(max(
		state/(mem*StateMemoryFraction),
		state*StateDiskAmplification/disk,
		min(state, written)/(bw*CheckpointUploadShare*interval),
		state/(bw*RecoveryDownloadShare*in.Workload.RecoveryTarget.Seconds()),
	)))
}

func TestIncrementalVersusFullCheckpoints(t *testing.T) {
	rocksdb := model.FlinkConfiguration{KeyStateBackend: "rocksdb"}
	on := model.FlinkConfiguration{KeyIncremental: "true"}
	for _, tc := range []struct {
		name        string
		in          Input
		incremental bool
		tms         int
		binding     Constraint
		says        string
	}{
		// Full: all 500 GiB every 10 s at 156 MB/s per TaskManager, in 5 s.
		{"500Gi, no configuration: full, Flink's default", bigStateInput("500Gi"), false, 688, ConstraintCheckpoint,
			"checkpoint: full (incremental checkpoints are off, Flink's default)"},
		{"500Gi, incremental false on rocksdb", bigStateInput("500Gi", model.FlinkConfiguration{KeyIncremental: "false"}, rocksdb), false, 688, ConstraintCheckpoint,
			"checkpoint: full (execution.checkpointing.incremental: false in the app configuration, app.yaml:7)"},
		// Incremental: 51 MB written per interval uploads in no time; the
		// restore of 500 GiB within half of 1 min binds.
		{"500Gi, incremental on rocksdb", bigStateInput("500Gi", on, rocksdb), true, 115, ConstraintRecovery,
			`checkpoint: incremental (execution.checkpointing.incremental: true in the app configuration, app.yaml:7, on the state backend "rocksdb" (state.backend.type in the pool configuration, pool.yaml:7))`},
		{"500Gi, legacy keys on the environment, RocksDB factory class", bigStateInput("500Gi", nil, nil,
			model.FlinkConfiguration{KeyIncrementalLegacy: "true", KeyStateBackendLegacy: "org.apache.flink.contrib.streaming.state.EmbeddedRocksDBStateBackendFactory"}), true, 115, ConstraintRecovery,
			"checkpoint: incremental (state.backend.incremental: true in the environment configuration"},
		{"500Gi, incremental on forst", bigStateInput("500Gi", on, model.FlinkConfiguration{KeyStateBackend: "ForSt"}), true, 115, ConstraintRecovery,
			"the 51.2 MB ingested per interval ×1.5 for the SST files compaction rewrites, at most the state: 73.24Mi"},
		// Incremental needs RocksDB: hashmap ignores it, set or by default.
		{"500Gi, incremental on hashmap", bigStateInput("500Gi", on, model.FlinkConfiguration{KeyStateBackend: "hashmap"}), false, 688, ConstraintCheckpoint,
			`is ignored by the state backend "hashmap" (state.backend.type in the pool configuration, pool.yaml:7), which cannot checkpoint incrementally`},
		{"500Gi, incremental without a state backend", bigStateInput("500Gi", on), false, 688, ConstraintCheckpoint,
			"is ignored by Flink's default state backend, hashmap (state.backend.type is not set)"},
		// Small state: both upload about as much, and the throughput binds.
		{"1Gi, full", bigStateInput("1Gi"), false, 2, ConstraintCheckpoint, "checkpoint: full"},
		{"1Gi, incremental", bigStateInput("1Gi", on, rocksdb), true, 1, ConstraintThroughput, "checkpoint: incremental"},
		{"100Mi, full", bigStateInput("100Mi"), false, 1, ConstraintThroughput, "checkpoint: full"},
		{"100Mi, incremental", bigStateInput("100Mi", on, rocksdb), true, 1, ConstraintThroughput, "checkpoint: incremental"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustSize(t, tc.in)
			why := strings.Join(r.Explanation, "\n")
			if r.TaskManagers != tc.tms || r.BindingConstraint != tc.binding || r.IncrementalCheckpoints != tc.incremental {
				t.Errorf("%d TaskManagers set by %s, incremental %v; want %d by %s, %v\n%s",
					r.TaskManagers, r.BindingConstraint, r.IncrementalCheckpoints, tc.tms, tc.binding, tc.incremental, why)
			}
			if !strings.Contains(why, tc.says) {
				t.Errorf("the explanation lacks %q:\n%s", tc.says, why)
			}
			if want := incrementalEstimate(tc.in); r.IncrementalCheckpoints && (r.TaskManagers > 2*want || 2*r.TaskManagers < want) {
				t.Errorf("%d TaskManagers, not within 2× of the incremental estimate %d", r.TaskManagers, want)
			}
		})
	}
}

// With the state large and the write rate small, incremental checkpoints
// need far fewer TaskManagers; with the state small, as many.
func TestIncrementalSavesOnlyWithLargeState(t *testing.T) {
	conf := []model.FlinkConfiguration{{KeyIncremental: "true", KeyStateBackend: "rocksdb"}}
	for _, tc := range []struct {
		state string
		fewer bool
	}{{"10Mi", false}, {"500Mi", false}, {"50Gi", true}, {"500Gi", true}, {"2Ti", true}} {
		full, inc := mustSize(t, bigStateInput(tc.state)), mustSize(t, bigStateInput(tc.state, conf...))
		if inc.TaskManagers > full.TaskManagers {
			t.Errorf("%s: incremental needs %d TaskManagers, more than full's %d", tc.state, inc.TaskManagers, full.TaskManagers)
		}
		if fewer := 2*inc.TaskManagers <= full.TaskManagers; fewer != tc.fewer {
			t.Errorf("%s: incremental %d vs full %d TaskManagers; want at most half: %v", tc.state, inc.TaskManagers, full.TaskManagers, tc.fewer)
		}
	}
}

// A state-losing hint: incremental checkpoints configured on a backend that
// ignores them point at the backend, not at the incremental key.
func TestHintNamesTheBackend(t *testing.T) {
	r := mustSize(t, bigStateInput("500Gi", model.FlinkConfiguration{KeyIncremental: "true"}))
	if why := strings.Join(r.Explanation, "\n"); !strings.Contains(why, "hint: state.backend.type: rocksdb makes the incremental checkpoints configured take effect") {
		t.Errorf("no hint to set the backend:\n%s", why)
	}
}

// A recovery target that leaves less than Flink's failure detection beside
// the download is warned about: no TaskManager count meets it.
func TestRecoveryTargetShorterThanDetection(t *testing.T) {
	for _, tc := range []struct {
		state  string
		target time.Duration
		warn   string
	}{
		{"500Gi", time.Minute, "warning: the recovery target 1 min leaves 30 s for noticing the failure, scheduling and replay, less than Flink's heartbeat.timeout of 50 s alone"},
		{"500Gi", 2 * time.Minute, ""},
		{"", 40 * time.Second, "warning: the recovery target 40 s leaves 40 s for noticing the failure"},
		{"", time.Minute, ""},
	} {
		in := bigStateInput("1Gi")
		in.Workload.StateSize = model.Quantity{}
		if tc.state != "" {
			in.Workload.StateSize = model.MustQuantity(tc.state)
		}
		in.Workload.RecoveryTarget = dur(tc.target)
		why := strings.Join(mustSize(t, in).Explanation, "\n")
		if got := strings.Contains(why, "warning: the recovery target"); got != (tc.warn != "") || !strings.Contains(why, tc.warn) {
			t.Errorf("%q state, %s target: want warning %q:\n%s", tc.state, tc.target, tc.warn, why)
		}
	}
}
