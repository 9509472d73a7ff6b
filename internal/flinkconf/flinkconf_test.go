package flinkconf

import (
	"math"
	"testing"
	"time"
)

// One formatter: what it writes, ParseDuration (Flink's syntax) reads back
// exactly, 0 and sub-millisecond values included.
func TestDurationRoundTrip(t *testing.T) {
	cases := map[time.Duration]string{
		0: "0 ms", 2 * time.Minute: "2 min", 90 * time.Second: "90 s", 500 * time.Millisecond: "500 ms",
		1500 * time.Microsecond: "1500 µs", 1500 * time.Nanosecond: "1500 ns", 3 * time.Hour: "180 min",
	}
	for d, want := range cases {
		got := FormatDuration(d)
		if got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
		back, err := ParseDuration(got)
		if err != nil || back != d {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", got, back, err, d)
		}
	}
	for _, bad := range []string{"", "s", "1 fortnight", "99999999999999999999 s", string(make([]byte, MaxValueLength+1))} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) must fail", bad)
		}
	}
}

func TestMemory(t *testing.T) {
	for in, want := range map[string]int64{"8192m": 8 << 30, "2g": 2 << 30, "1024 mb": 1 << 30, "512": 512, "99999999999999999999t": math.MaxInt64} {
		if got, ok := ParseMemory(in); !ok || got != want {
			t.Errorf("ParseMemory(%q) = %d %v, want %d", in, got, ok, want)
		}
	}
	if _, ok := ParseMemory("lots"); ok {
		t.Error("ParseMemory(lots) must fail")
	}
	for b, want := range map[int64]string{8 << 30: "8192m", 3 << 10: "3k", 1000: "1000"} {
		if got := FormatMemory(b); got != want {
			t.Errorf("FormatMemory(%d) = %q, want %q", b, got, want)
		}
		if back, ok := ParseMemory(FormatMemory(b)); !ok || back != b {
			t.Errorf("memory %d does not round-trip", b)
		}
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30 s", "2min", "500", "1 h", "1500 µs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if back, err := ParseDuration(FormatDuration(d)); err != nil || back != d {
			t.Fatalf("%q → %v → %q → %v, %v", s, d, FormatDuration(d), back, err)
		}
	})
}
