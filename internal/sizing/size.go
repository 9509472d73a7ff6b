package sizing

import (
	"math"
	"strings"
	"time"

	"github.com/flinksync/flinksync/internal/model"
)

// sizer holds one sizing run: the validated inputs and the explanation so
// far, written into one buffer (ends marks where each line ends) and cut
// into lines at the end, which saves an allocation a line.
type sizer struct {
	scratch *scratch
	// What the result is named by, and the inputs read after validation;
	// the sizer keeps no pointer to the Input, so it stays on the stack.
	env, app, pool string
	explicit       int
	conf           []ConfigLayer
	limitCPU       float64
	w              workload
	sh             shape
	buf            []byte
	ends           []int
}

// add appends to the explanation line being written (see appendf's verbs).
func (s *sizer) add(format string, args ...any) { s.buf = appendf(s.buf, format, args...) }

// say ends the line being written with format.
func (s *sizer) say(format string, args ...any) {
	s.add(format, args...)
	s.ends = append(s.ends, len(s.buf))
}

// explanation returns the lines written.
func (s *sizer) explanation() []string {
	all := string(s.buf)
	lines := make([]string, len(s.ends))
	start := 0
	for i, end := range s.ends {
		lines[i], start = all[start:end], end
	}
	return lines
}

// scratch is the explanation's buffers, which ForRepository reuses from
// one application to the next: sizing thousands of applications would
// otherwise spend much of its time collecting them.
type scratch struct {
	buf  []byte
	ends []int
}

// estimate is the TaskManager count one constraint asks for.
type estimate struct {
	c Constraint
	n int
}

func (s *sizer) run() (*Result, error) {
	s.buf, s.ends = s.scratch.buf[:0], s.scratch.ends[:0]
	defer func() { s.scratch.buf, s.scratch.ends = s.buf, s.ends }()
	sh := s.sh
	r := &Result{
		Environment: s.env, App: s.app, Pool: s.pool,
		SlotsPerTaskManager: sh.slots,
		TaskManagerCPU:      s.tmCPU(), TaskManagerMemory: int64(sh.tmMem), PoolTaskManagerCPU: sh.poolCPU, Clamped: sh.clamped,
		JobManagerCPU: float64(sh.jmMilli) / 1000, JobManagerMemory: int64(sh.jmMem),
	}
	s.explainWorkload()
	rate := s.ratePerCore()
	class, uplift, classInterval := latencyClass(s.w.latency)
	cpuLatency, cpuSkew := s.cpu(rate, class, uplift)
	r.RequiredCPU = round3(cpuSkew)
	s.explainShape()
	interval, err := s.interval(r, class, classInterval)
	if err != nil {
		return nil, err
	}
	inc, err := s.incremental()
	if err != nil {
		return nil, err
	}
	r.IncrementalCheckpoints = inc.on
	best, err := s.estimate(cpuLatency, cpuSkew, interval, inc)
	if err != nil {
		return nil, err
	}
	s.decide(r, best, inc)
	if err := s.parallelism(r); err != nil {
		return nil, err
	}
	if err := s.totals(r); err != nil {
		return nil, err
	}
	r.Explanation = s.explanation()
	return r, nil
}

// tmCPU is one TaskManager's CPU, after the clamp, in cores.
func (s *sizer) tmCPU() float64 { return float64(s.sh.tmMilli) / 1000 }

func (s *sizer) explainWorkload() {
	w := s.w
	s.add("workload: %i rec/s of %i B (%B/s), %s, ", w.rps, w.bytes, w.rps*w.bytes, w.complexity)
	if w.keys > 0 {
		s.add("%i distinct keys, ", w.keys)
	} else {
		s.add("distinct keys not given, ")
	}
	if w.state > 0 {
		s.add("%b of state, ", w.state)
	} else {
		s.add("no state, ")
	}
	s.say("latency target %t, %s skew, recovery target %t", w.latency, w.skew, w.recovery)
}

// ratePerCore is RatePerCore, explained step by step.
func (s *sizer) ratePerCore() float64 {
	w := s.w
	rate := float64(BaseRecordsPerCore)
	s.add("per-core rate: 10,000 rec/s baseline (512 B records)")
	if w.bytes > BaseRecordBytes {
		rate = BytesPerSecondPerCore / w.bytes
		s.add("; %i B records at 5.12 MB/s per core → %n", w.bytes, rate)
	}
	rate *= w.complexityFactor
	s.add("; %s complexity ×%n → %n", w.complexity, w.complexityFactor, rate)
	if div := stateKeysDivisor(w.keys, w.state); div > 1 {
		rate /= div
		s.add("; %i distinct keys (+%n) and %b of state (+%n) ÷%n → %n",
			w.keys, keysPenalty(w.keys), w.state, statePenalty(w.state), div, rate)
	}
	s.say(" rec/s per core")
	return rate
}

// cpu returns the cores the throughput needs with the latency uplift, and
// with the skew on top.
func (s *sizer) cpu(rate float64, class string, uplift float64) (withLatency, withSkew float64) {
	w := s.w
	cpu := w.rps / rate
	withLatency = cpu * uplift
	withSkew = withLatency * w.skewFactor
	s.say("CPU: %i rec/s ÷ %n = %n cores; latency %t is %s: ×%n → %n; %s skew: busiest subtask ×%n → %n cores",
		w.rps, rate, cpu, w.latency, class, uplift, withLatency, w.skew, w.skewFactor, withSkew)
	return withLatency, withSkew
}

func (s *sizer) explainShape() {
	sh := s.sh
	if sh.clamped {
		s.say("TaskManager CPU: the pool declares %n, above the limit of %n (the node's %n CPU and maxTaskManagerCPU %n): clamped to %n (policy CPU-001)",
			sh.poolCPU, float64(sh.limit)/1000, float64(sh.nodeMilli)/1000, s.maxCPU(), s.tmCPU())
	}
	s.add("TaskManager: %n CPU, %b memory, %c, ", s.tmCPU(), sh.tmMem, sh.slots, "slot")
	if sh.localDiskSet {
		s.say("%b local disk", sh.localDisk)
	} else {
		s.say("%B local disk (the default: 50 GB per core, as an AWS KPU)", sh.localDisk)
	}
}

// estimate counts the TaskManagers each constraint asks for and returns the
// largest; on a tie, the constraint checked first.
func (s *sizer) estimate(cpuLatency, cpuSkew float64, interval time.Duration, inc incrementalSetting) (estimate, error) {
	best := estimate{ConstraintThroughput, 1}
	add := func(c Constraint, field string, need float64, what string) (int, error) {
		n, err := s.count(field, need, what)
		if err == nil && n > best.n {
			best = estimate{c, n}
		}
		return n, err
	}
	tmCPU := s.tmCPU()
	n, err := add(ConstraintThroughput, "workload.recordsPerSecond", cpuLatency/tmCPU, "the throughput")
	if err != nil {
		return best, err
	}
	s.say("throughput: %n cores ÷ %n CPU per TaskManager → %T", cpuLatency, tmCPU, n)
	if n, err = add(ConstraintSkew, "workload.skew", cpuSkew/tmCPU, "the skew"); err != nil {
		return best, err
	}
	if s.w.skewFactor > 1 {
		s.say("skew: %n cores ÷ %n CPU per TaskManager → %T", cpuSkew, tmCPU, n)
	}
	if s.w.state == 0 {
		s.say("state: none declared, so no state, checkpoint or recovery constraint")
		s.detection(s.w.recovery)
		return best, nil
	}
	err = s.stateCounts(add, interval, inc)
	s.detection(time.Duration(float64(s.w.recovery) * (1 - RecoveryDownloadShare)))
	return best, err
}

// detection warns when the time the recovery target leaves beside the
// state's download is shorter than Flink takes to notice a failure: more
// TaskManagers cannot meet such a target.
func (s *sizer) detection(left time.Duration) {
	if left < FailureDetectionTime {
		s.say("warning: the recovery target %t leaves %t for noticing the failure, scheduling and replay, less than Flink's heartbeat.timeout of %t alone: no TaskManager count restores within it",
			s.w.recovery, left, FailureDetectionTime)
	}
}

// decide sets the count: the estimate, or the app's explicit one.
func (s *sizer) decide(r *Result, best estimate, inc incrementalSetting) {
	r.EstimatedTaskManagers, r.TaskManagers, r.BindingConstraint = best.n, best.n, best.c
	x := s.explicit
	switch {
	case x == 0:
		s.say("TaskManagers: %d, set by %s", best.n, best.c)
		s.hint(best.c, inc)
		return
	case x < best.n:
		r.BelowEstimate = true
		s.say("TaskManagers: %d, the explicit taskManagers, below the estimate of %d (set by %s) by %d", x, best.n, best.c, best.n-x)
	case x > best.n:
		s.say("TaskManagers: %d, the explicit taskManagers, above the estimate of %d (set by %s)", x, best.n, best.c)
	default:
		s.say("TaskManagers: %d, the explicit taskManagers, equal to the estimate (set by %s)", x, best.c)
	}
	r.TaskManagers, r.BindingConstraint = x, ConstraintExplicit
}

// parallelism sets TaskManagers × slots and notes what it runs into.
func (s *sizer) parallelism(r *Result) error {
	sh := s.sh
	r.Parallelism = r.TaskManagers * sh.slots
	if r.Parallelism > MaxParallelism {
		field := "workload"
		if s.explicit > 0 {
			field = "taskManagers"
		}
		return inputErr(LevelApp, field, "%d TaskManagers × %d slots = parallelism %d, above Flink's maximum of %d",
			r.TaskManagers, sh.slots, r.Parallelism, MaxParallelism)
	}
	s.say("parallelism: %T × %c = %d", r.TaskManagers, sh.slots, "slot", r.Parallelism)
	if s.w.keys > 0 && float64(r.Parallelism) > s.w.keys {
		s.say("note: parallelism %d is above the %i distinct keys: %i subtasks get no keys", r.Parallelism, s.w.keys, float64(r.Parallelism)-s.w.keys)
	}
	r.MaxTaskManagers = sh.maxTMs
	if sh.maxTMs > 0 && r.TaskManagers > sh.maxTMs {
		r.ExceedsMaxTaskManagers = true
		s.say("warning: %d TaskManagers is above the pool's maxTaskManagers of %d (policy CPU-003)", r.TaskManagers, sh.maxTMs)
	}
	return nil
}

// totals sets the CPU and memory of all the app's pods, and the nodes they
// pack onto.
func (s *sizer) totals(r *Result) error {
	sh := s.sh
	tmTotalMilli := int64(r.TaskManagers) * sh.tmMilli
	r.TotalTaskManagerCPU = float64(tmTotalMilli) / 1000
	r.TotalCPU = float64(tmTotalMilli+sh.jmMilli) / 1000
	if float64(r.TaskManagers)*sh.tmMem+sh.jmMem > math.MaxInt64/2 {
		return inputErr(LevelPool, "taskManager.memory", "%d TaskManagers of %s is absurd (the total overflows)", r.TaskManagers, sprintf("%b", sh.tmMem))
	}
	r.TotalMemory = int64(r.TaskManagers)*int64(sh.tmMem) + int64(sh.jmMem)
	s.say("total: %d × %n CPU + %n JobManager CPU = %n CPU; %d × %b + %b = %b memory",
		r.TaskManagers, r.TaskManagerCPU, r.JobManagerCPU, r.TotalCPU, r.TaskManagers, sh.tmMem, sh.jmMem, float64(r.TotalMemory))

	node := pod{cpu: sh.nodeMilli, mem: int64(sh.nodeMem)}
	tm, jm := pod{sh.tmMilli, int64(sh.tmMem)}, pod{sh.jmMilli, int64(sh.jmMem)}
	packed, unplaced := pack([]podGroup{{tm, r.TaskManagers}, {jm, 1}}, node)
	r.NodesNeeded = max(MinNodes, packed)
	fits := "fits"
	if r.NodesNeeded > sh.nodeCount {
		fits = "does not fit"
	}
	if unplaced == 0 {
		s.add("nodes: %T and 1 JobManager pack onto ", r.TaskManagers)
	} else {
		s.add("nodes: the pods that fit on a node pack onto ")
	}
	s.say("%c of %n CPU and %b; at least %d → %d, which %s the environment's %d",
		packed, "node", float64(sh.nodeMilli)/1000, sh.nodeMem, MinNodes, r.NodesNeeded, fits, sh.nodeCount)
	if unplaced > 0 {
		s.say("note: %d pod(s) fit on no node: a TaskManager needs %n CPU and %b, the JobManager %n CPU and %b, a node has %n CPU and %b (policy CPU-001, CPU-002, CPU-006)",
			unplaced, r.TaskManagerCPU, sh.tmMem, r.JobManagerCPU, sh.jmMem, float64(sh.nodeMilli)/1000, sh.nodeMem)
	}
	return nil
}

// hint says what would lower a count that state, checkpoints or recovery set.
func (s *sizer) hint(c Constraint, inc incrementalSetting) {
	switch {
	case c == ConstraintState:
		s.say("hint: a pool with more memory (or local disk) per TaskManager needs fewer TaskManagers for this state")
	case c == ConstraintCheckpoint && inc.ignored:
		s.say("hint: %s: rocksdb makes the incremental checkpoints configured take effect: each would upload only the state written since the last checkpoint", KeyStateBackend)
	case c == ConstraintCheckpoint && !inc.on:
		s.say("hint: incremental checkpoints (%s: true) upload only the state written since the last checkpoint", KeyIncremental)
	case c == ConstraintCheckpoint:
		s.say("hint: a longer checkpoint interval (%s) or more CPU per TaskManager uploads faster", KeyCheckpointInterval)
	case c == ConstraintRecovery:
		s.say("hint: a longer workload.recoveryTarget, or more CPU per TaskManager, restores with fewer TaskManagers")
	}
}

func (s *sizer) maxCPU() float64 {
	if s.limitCPU > 0 {
		return s.limitCPU
	}
	return DefaultMaxTaskManagerCPU
}

// count turns a fractional need into whole TaskManagers, or an error when
// the need is beyond MaxTaskManagers.
func (s *sizer) count(field string, need float64, what string) (int, error) {
	if math.IsNaN(need) || need > MaxTaskManagers {
		return 0, inputErr(LevelApp, field, "%s needs %s TaskManagers of %s CPU, more than the sane bound of %d: check the workload and the pool's TaskManager shape",
			what, sprintf("%i", need), sprintf("%n", float64(s.sh.tmMilli)/1000), MaxTaskManagers)
	}
	// Forgive float noise: 1.0000000001 TaskManagers is one.
	n := int(math.Ceil(need - 1e-9*max(1, need)))
	return max(0, n), nil
}

// stateCounts adds the state, checkpoint and recovery constraints.
func (s *sizer) stateCounts(add func(Constraint, string, float64, string) (int, error), interval time.Duration, inc incrementalSetting) error {
	w, sh, tmCPU := s.w, s.sh, s.tmCPU()
	nMem, err := add(ConstraintState, "workload.stateSize", w.state/(sh.tmMem*StateMemoryFraction), "holding the state in memory")
	if err != nil {
		return err
	}
	nDisk, err := add(ConstraintState, "workload.stateSize", w.state*StateDiskAmplification/sh.localDisk, "holding the state on local disk")
	if err != nil {
		return err
	}
	disk := "%b"
	if !sh.localDiskSet {
		disk = "%B" // the default is in decimal units, as AWS quotes it
	}
	s.add("state: %b in %p of %b memory per TaskManager → %T; ×%n on ", w.state, StateMemoryFraction, sh.tmMem, nMem, StateDiskAmplification)
	s.add(disk, sh.localDisk)
	s.say(" of local disk → %T", nDisk)

	bw := tmCPU * NetworkBytesPerSecondPerCore
	ckpt := w.state
	switch {
	case inc.on:
		written := w.rps * w.bytes * interval.Seconds()
		ckpt = min(w.state, written*IncrementalUploadAmplification)
		s.add("checkpoint: incremental (%s: true in the %s configuration, %s, on %s), so each uploads what was written since the last one: the %B ingested per interval ×%n for the SST files compaction rewrites, at most the state: %b",
			inc.key, inc.layer.Level, inc.layer.Where, inc.backendSays(), written, IncrementalUploadAmplification, ckpt)
	case inc.layer != nil && inc.ignored:
		s.add("checkpoint: full (%s: true in the %s configuration, %s, is ignored by %s, which cannot checkpoint incrementally), so each uploads all %b",
			inc.key, inc.layer.Level, inc.layer.Where, inc.backendSays(), ckpt)
	case inc.layer != nil:
		s.add("checkpoint: full (%s: false in the %s configuration, %s), so each uploads all %b", inc.key, inc.layer.Level, inc.layer.Where, ckpt)
	default:
		s.add("checkpoint: full (incremental checkpoints are off, Flink's default), so each uploads all %b", ckpt)
	}
	n, err := add(ConstraintCheckpoint, "workload.stateSize", ckpt/(bw*CheckpointUploadShare*interval.Seconds()), "uploading a checkpoint within the interval")
	if err != nil {
		return err
	}
	s.say("; at %B/s per TaskManager (%n cores × %B/s) within %p of the %t interval → %T",
		bw, tmCPU, float64(NetworkBytesPerSecondPerCore), CheckpointUploadShare, interval, n)

	if n, err = add(ConstraintRecovery, "workload.recoveryTarget", w.state/(bw*RecoveryDownloadShare*w.recovery.Seconds()), "restoring the state within the recovery target"); err != nil {
		return err
	}
	s.say("recovery: download %b at %B/s per TaskManager within %p of the %t recovery target → %T",
		w.state, bw, RecoveryDownloadShare, w.recovery, n)
	return nil
}

// interval returns the checkpoint interval: the first configuration level
// that sets it, else the latency class's.
func (s *sizer) interval(r *Result, class string, classInterval time.Duration) (time.Duration, error) {
	d, src, where := classInterval, LevelLatency, ""
	for _, l := range s.conf {
		v, ok := l.Config[KeyCheckpointInterval]
		if !ok || strings.TrimSpace(v) == "" {
			continue
		}
		var err error
		if d, err = ParseFlinkDuration(v); err != nil {
			return 0, &InputError{Object: l.Level, Field: KeyCheckpointInterval, Where: l.Where, Message: err.Error()}
		}
		if d < MinCheckpointInterval {
			return 0, &InputError{Object: l.Level, Field: KeyCheckpointInterval, Where: l.Where,
				Message: model.Quote(v) + " is shorter than 10 ms, the shortest interval Flink accepts"}
		}
		src, where = l.Level, l.Where
		break
	}
	r.CheckpointIntervalDuration, r.CheckpointIntervalSource = d, src
	r.CheckpointInterval = d.Seconds()
	if src == LevelLatency {
		s.say("checkpoint interval: %t, from the latency class (%s)", d, class)
	} else {
		s.say("checkpoint interval: %t, set in the %s configuration (%s), over the latency class's %t", d, src, where, classInterval)
	}
	return d, nil
}

// incrementalSetting is whether checkpoints are incremental, and the key and
// configuration level that say so (none: Flink's default, off); and the
// state backend, which must be RocksDB (or ForSt) for the setting to count.
type incrementalSetting struct {
	on    bool
	key   string
	layer *ConfigLayer
	// ignored is true when the configuration turns incremental checkpoints
	// on but the backend cannot take them.
	ignored bool
	// backend is the state backend's value and the key and level that set
	// it; backendLayer is nil when no level does (Flink's default, hashmap).
	backend, backendKey string
	backendLayer        *ConfigLayer
}

// backendSays names the state backend and where it is set, for the
// explanation.
func (inc incrementalSetting) backendSays() string {
	if inc.backendLayer == nil {
		return "Flink's default state backend, hashmap (" + KeyStateBackend + " is not set)"
	}
	return "the state backend " + model.Quote(inc.backend) + " (" + inc.backendKey + " in the " + string(inc.backendLayer.Level) + " configuration, " + inc.backendLayer.Where + ")"
}

// incremental reads the incremental setting from the first configuration
// level that has one, and the state backend from the first level that sets
// it: incremental checkpoints count only on RocksDB or ForSt.
func (s *sizer) incremental() (incrementalSetting, error) {
	var inc incrementalSetting
	inc.backendLayer, inc.backendKey, inc.backend = s.first(KeyStateBackend, KeyStateBackendLegacy)
	l, key, v := s.first(KeyIncremental, KeyIncrementalLegacy)
	if l == nil {
		return inc, nil
	}
	inc.layer, inc.key = l, key
	switch strings.ToLower(v) {
	case "true":
		inc.on = incrementalBackend(inc.backend)
		inc.ignored = !inc.on
	case "false":
	default:
		return incrementalSetting{}, &InputError{Object: l.Level, Field: key, Where: l.Where, Message: model.Quote(v) + " is not true or false"}
	}
	return inc, nil
}

// first returns the first configuration level that sets one of keys (in
// the order given within a level), the key and its trimmed value.
func (s *sizer) first(keys ...string) (*ConfigLayer, string, string) {
	for i := range s.conf {
		l := &s.conf[i]
		for _, key := range keys {
			if v := strings.TrimSpace(l.Config[key]); v != "" {
				return l, key, v
			}
		}
	}
	return nil, "", ""
}

// incrementalBackend reports whether a state backend setting names one that
// checkpoints incrementally: rocksdb or forst, by name or by factory class
// (org.apache.flink.contrib.streaming.state.EmbeddedRocksDBStateBackendFactory).
func incrementalBackend(v string) bool {
	v = strings.ToLower(v)
	return strings.Contains(v, "rocksdb") || strings.Contains(v, "forst")
}
