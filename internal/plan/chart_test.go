package plan

import (
	"strings"
	"testing"
)

func TestCapacityBar(t *testing.T) {
	tot := func(cpu, capacity float64) *Totals { return &Totals{CPU: cpu, CapacityCPU: capacity} }
	cases := []struct {
		t    TotalsChange
		want string
	}{
		{TotalsChange{Before: tot(48, 96), After: tot(54, 96)}, "[###########.........] 56% of 96 CPU (was 50%)"},
		{TotalsChange{Before: tot(10, 10), After: tot(10, 10)}, "[####################] 100% of 10 CPU"},
		{TotalsChange{After: tot(30, 24)}, "[####################]! 125% of 24 CPU (over capacity)"},
		{TotalsChange{Before: tot(1, 8), After: tot(0, 8)}, "[....................] 0% of 8 CPU (was 13%)"},
		{TotalsChange{Before: tot(1, 8)}, ""},
	}
	for _, c := range cases {
		if got := capacityBar(c.t); got != c.want {
			t.Errorf("capacityBar(%+v, %+v) = %q, want %q", c.t.Before, c.t.After, got, c.want)
		}
	}
}

func TestCapacityChart(t *testing.T) {
	got := capacityChart("prod", TotalsChange{Before: &Totals{CPU: 176.5, CapacityCPU: 256}, After: &Totals{CPU: 300, CapacityCPU: 256}})
	for _, want := range []string{"```mermaid\nxychart-beta horizontal\n", `title "prod: CPU requested of 256"`, `y-axis "CPU" 0 --> 300`, "bar [176.5, 300]"} {
		if !strings.Contains(got, want) {
			t.Errorf("chart lacks %q:\n%s", want, got)
		}
	}
	if c := capacityChart("prod", TotalsChange{Before: &Totals{CPU: 5, CapacityCPU: 8}, After: &Totals{CPU: 5, CapacityCPU: 8}}); c != "" {
		t.Errorf("no chart when the CPU does not change, got:\n%s", c)
	}
}
