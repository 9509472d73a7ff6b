package sizing

import (
	"time"

	"github.com/flinksync/flinksync/internal/flinkconf"
)

// ParseFlinkDuration parses a duration the way Flink reads one from its
// configuration (flinkconf.ParseDuration).
func ParseFlinkDuration(s string) (time.Duration, error) { return flinkconf.ParseDuration(s) }

// FormatFlinkDuration writes d in Flink's syntax (flinkconf.FormatDuration):
// "2 min", "30 s", "500 ms".
func FormatFlinkDuration(d time.Duration) string { return flinkconf.FormatDuration(d) }

func appendFlinkDuration(dst []byte, d time.Duration) []byte { return flinkconf.AppendDuration(dst, d) }
