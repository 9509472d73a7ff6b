// Package flinkconf is Flink's configuration vocabulary, in one place: the
// key names flinksync reads or writes, and the duration and memory-size
// formats Flink parses, each with one parser and one formatter, so that
// what sizing explains, render writes and policy reads agree.
package flinkconf

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Keys of the Flink configuration flinksync reads or writes.
const (
	// Slots is the TaskManager's slot count, which sizing decides.
	Slots = "taskmanager.numberOfTaskSlots"
	// CheckpointInterval sets the checkpoint interval; sizing writes it
	// unless an app sets it, which wins.
	CheckpointInterval = "execution.checkpointing.interval"
	// Incremental and IncrementalLegacy turn on incremental RocksDB
	// checkpoints (Flink 2.x name, and the 1.x name it replaced); Flink's
	// default is off: every checkpoint uploads the whole state.
	Incremental       = "execution.checkpointing.incremental"
	IncrementalLegacy = "state.backend.incremental"
	// StateBackend and StateBackendLegacy choose the state backend (Flink
	// 1.17+ and 2.x name, and the older one). Only RocksDB (and Flink 2's
	// ForSt) checkpoint incrementally.
	StateBackend       = "state.backend.type"
	StateBackendLegacy = "state.backend"
)

// MaxValueLength bounds a duration or memory size before it is read, as
// the repository loader bounds every number.
const MaxValueLength = 64

// durationUnits are the unit labels of Flink's TimeUtils.parseDuration,
// lower case, plus "m" for minutes, which newer Flink versions accept.
var durationUnits = map[string]time.Duration{
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	"h": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"ms": time.Millisecond, "milli": time.Millisecond, "millis": time.Millisecond,
	"millisecond": time.Millisecond, "milliseconds": time.Millisecond,
	"µs": time.Microsecond, "micro": time.Microsecond, "micros": time.Microsecond,
	"microsecond": time.Microsecond, "microseconds": time.Microsecond,
	"ns": time.Nanosecond, "nano": time.Nanosecond, "nanos": time.Nanosecond,
	"nanosecond": time.Nanosecond, "nanoseconds": time.Nanosecond,
}

// ParseDuration parses a duration the way Flink reads one from its
// configuration: a whole number, optional spaces and a unit ("30 s", "30s",
// "2 min", "2m", "500 ms", "1h"); a number alone is milliseconds. Units are
// case-insensitive. A value longer than MaxValueLength is refused before
// it is read.
func ParseDuration(s string) (time.Duration, error) {
	if len(s) > MaxValueLength {
		return 0, fmt.Errorf("a duration of %d characters is too long (at most %d)", len(s), MaxValueLength)
	}
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty duration")
	}
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%q is not a duration: it must start with a whole number (examples: \"30 s\", \"2 min\", \"500 ms\")", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: the number is too large", s)
	}
	label := strings.ToLower(strings.TrimSpace(t[i:]))
	unit := time.Millisecond
	if label != "" {
		u, ok := durationUnits[label]
		if !ok {
			return 0, fmt.Errorf("%q is not a duration: unknown unit (use ms, s, min, h or d)", s)
		}
		unit = u
	}
	if n > math.MaxInt64/int64(unit) {
		return 0, fmt.Errorf("%q is too long a duration", s)
	}
	return time.Duration(n) * unit, nil
}

// FormatDuration writes d in Flink's syntax, in the largest unit that
// keeps it whole, so that ParseDuration (and Flink) read back exactly d:
// "2 min", "30 s", "500 ms", "1500 µs", "0 ms".
func FormatDuration(d time.Duration) string { return string(AppendDuration(nil, d)) }

// AppendDuration appends FormatDuration(d) to dst.
func AppendDuration(dst []byte, d time.Duration) []byte {
	unit, label := time.Nanosecond, " ns"
	switch {
	case d == 0:
		unit, label = time.Millisecond, " ms"
	case d%time.Minute == 0:
		unit, label = time.Minute, " min"
	case d%time.Second == 0:
		unit, label = time.Second, " s"
	case d%time.Millisecond == 0:
		unit, label = time.Millisecond, " ms"
	case d%time.Microsecond == 0:
		unit, label = time.Microsecond, " µs"
	}
	return append(strconv.AppendInt(dst, int64(d/unit), 10), label...)
}

// memoryUnits are the units of a Flink memory size, in bytes.
var memoryUnits = map[string]int64{"": 1, "b": 1, "bytes": 1, "k": 1 << 10, "kb": 1 << 10, "kibibytes": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mebibytes": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gibibytes": 1 << 30,
	"t": 1 << 40, "tb": 1 << 40, "tebibytes": 1 << 40}

// ParseMemory reads a Flink memory size ("8192m", "2g", "1024 mb", bytes).
// A size too large for an int64 saturates at math.MaxInt64 (too big, never
// wrapped round to a small one); ok is false for what is no size at all.
func ParseMemory(s string) (bytes int64, ok bool) {
	if len(s) > MaxValueLength {
		return 0, false
	}
	s = strings.ToLower(strings.TrimSpace(s))
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		n = math.MaxInt64
	} else if err != nil {
		return 0, false
	}
	mult := memoryUnits[strings.TrimSpace(s[i:])]
	if mult == 0 {
		return 0, false
	}
	if n > math.MaxInt64/mult {
		return math.MaxInt64, true
	}
	return n * mult, true
}

// FormatMemory writes bytes the way Flink reads memory sizes: whole
// mebibytes as "8192m", else kibibytes "k", else plain bytes.
func FormatMemory(bytes int64) string {
	const ki, mi = 1 << 10, 1 << 20
	switch {
	case bytes%mi == 0:
		return strconv.FormatInt(bytes/mi, 10) + "m"
	case bytes%ki == 0:
		return strconv.FormatInt(bytes/ki, 10) + "k"
	default:
		return strconv.FormatInt(bytes, 10)
	}
}
