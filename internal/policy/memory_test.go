package policy

import (
	"math"
	"testing"
)

// TestParseFlinkMemoryNeverWraps: a memory size too large for int64 must
// read as huge (so CPU-006 fires), never wrap round to a small number that
// passes the node memory check.
func TestParseFlinkMemoryNeverWraps(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"2g", 2 << 30, true},
		{"8192m", 8192 << 20, true},
		{"1024 mb", 1 << 30, true},
		{"99999999999t", math.MaxInt64, true},
		{"16777216t", math.MaxInt64, true}, // 2^24 TiB = 2^64 bytes: wraps to 0 with a plain multiply
		{"99999999999999999999999", math.MaxInt64, true},
		{"lots", 0, false},
	} {
		got, ok := parseFlinkMemory(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseFlinkMemory(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
