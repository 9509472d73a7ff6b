package sizing

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/flinksync/flinksync/internal/model"
)

// flinkUnits are the unit labels of Flink's TimeUtils.parseDuration, lower
// case, plus "m" for minutes, which newer Flink versions accept.
var flinkUnits = map[string]time.Duration{
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

// ParseFlinkDuration parses a duration the way Flink reads one from its
// configuration: a whole number, optional spaces and a unit ("30 s", "30s",
// "2 min", "2m", "500 ms", "1h"); a number alone is milliseconds. Units are
// case-insensitive. A value longer than model.MaxNumberLength is refused
// before it is read.
func ParseFlinkDuration(s string) (time.Duration, error) {
	if len(s) > model.MaxNumberLength {
		return 0, fmt.Errorf("a duration of %d characters is too long (at most %d)", len(s), model.MaxNumberLength)
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
		return 0, fmt.Errorf("%s is not a duration: it must start with a whole number (examples: \"30 s\", \"2 min\", \"500 ms\")", model.Quote(s))
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s is not a duration: the number is too large", model.Quote(s))
	}
	label := strings.ToLower(strings.TrimSpace(t[i:]))
	unit := time.Millisecond
	if label != "" {
		u, ok := flinkUnits[label]
		if !ok {
			return 0, fmt.Errorf("%s is not a duration: unknown unit (use ms, s, min, h or d)", model.Quote(s))
		}
		unit = u
	}
	if n > math.MaxInt64/int64(unit) {
		return 0, fmt.Errorf("%s is too long a duration", model.Quote(s))
	}
	return time.Duration(n) * unit, nil
}

// FormatFlinkDuration writes d in Flink's syntax, in the largest whole unit:
// "2 min", "30 s", "500 ms".
func FormatFlinkDuration(d time.Duration) string { return string(appendFlinkDuration(nil, d)) }

func appendFlinkDuration(dst []byte, d time.Duration) []byte {
	switch {
	case d >= time.Minute && d%time.Minute == 0:
		return append(strconv.AppendInt(dst, int64(d/time.Minute), 10), " min"...)
	case d >= time.Second && d%time.Second == 0:
		return append(strconv.AppendInt(dst, int64(d/time.Second), 10), " s"...)
	case d%time.Millisecond == 0:
		return append(strconv.AppendInt(dst, int64(d/time.Millisecond), 10), " ms"...)
	default:
		return append(dst, d.String()...)
	}
}
