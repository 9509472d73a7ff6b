package sizing

import (
	"math"
	"time"
)

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
