package plan

import (
	"fmt"
	"strconv"
	"strings"
)

// capacityChart is a Mermaid bar chart of an environment's requested CPU
// before and after the merge against its nodes' capacity, which GitHub and
// GitLab draw in the pull request. It is "" when the CPU does not change
// (a plan stays small). The axis ends at the capacity, or at the larger
// demand when the merge goes over it.
func capacityChart(name string, t TotalsChange) string {
	if t.Before == nil || t.After == nil || t.Before.CPU == t.After.CPU {
		return ""
	}
	top := t.After.CapacityCPU
	for _, v := range []float64{t.Before.CPU, t.After.CPU} {
		if v > top {
			top = v
		}
	}
	if top <= 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("```mermaid\nxychart-beta horizontal\n")
	fmt.Fprintf(&b, "  title \"%s: CPU requested of %s\"\n", mermaidText(name), cores(t.After.CapacityCPU))
	b.WriteString("  x-axis [\"before\", \"after\"]\n")
	fmt.Fprintf(&b, "  y-axis \"CPU\" 0 --> %s\n", num(top))
	fmt.Fprintf(&b, "  bar [%s, %s]\n", num(t.Before.CPU), num(t.After.CPU))
	b.WriteString("```\n")
	return b.String()
}

// mermaidText keeps a name inside a Mermaid string: environment names are
// DNS labels, so this only guards against what a label cannot hold.
func mermaidText(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\n' || r == '`' {
			return -1
		}
		return r
	}, s)
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// BarWidth is the width of the text output's capacity bar.
const BarWidth = 20

// capacityBar is the text output's compact picture of how full the
// environment's nodes are after the merge: "[###########.........] 56%
// of 96 CPU (was 52%)", "!" marking demand over capacity.
func capacityBar(t TotalsChange) string {
	last := t.After
	if last == nil || last.CapacityCPU <= 0 {
		return ""
	}
	share := last.CPU / last.CapacityCPU
	filled := int(share*BarWidth + 0.5)
	over := filled > BarWidth
	filled = min(filled, BarWidth)
	bar := strings.Repeat("#", filled) + strings.Repeat(".", BarWidth-filled)
	s := fmt.Sprintf("[%s] %d%% of %s CPU", bar, int(share*100+0.5), cores(last.CapacityCPU))
	if over {
		s = strings.Replace(s, "]", "]!", 1) + " (over capacity)"
	}
	if b := t.Before; b != nil && b.CapacityCPU > 0 && b.CPU != last.CPU {
		s += fmt.Sprintf(" (was %d%%)", int(b.CPU/b.CapacityCPU*100+0.5))
	}
	return s
}
