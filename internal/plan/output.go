package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/flinksync/flinksync/internal/diag"
)

// WriteJSON writes the plan as one indented JSON document (the Result's
// fields, with the JSON names its type gives them).
func WriteJSON(w io.Writer, r *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(masked(r))
}

// WriteText writes the plan for a terminal or a CI log: a summary line, one
// block per environment, and every diff in full.
func WriteText(w io.Writer, r *Result) error {
	r = masked(r)
	var b strings.Builder
	fmt.Fprintf(&b, "plan %s (%s) → %s (%s)\n", r.Base.Ref, r.Base.Short(), r.Head.Ref, r.Head.Short())
	b.WriteString(headline(r) + "\n")
	for _, f := range r.Findings {
		b.WriteString("  " + findingText(f) + "\n")
	}
	for _, f := range r.Resolved {
		b.WriteString("  resolved " + plainFinding(f) + "\n")
	}
	for _, e := range r.Environments {
		where := "namespace " + e.Namespace
		if e.Cluster != "" {
			where = "cluster " + e.Cluster + ", " + where
		}
		fmt.Fprintf(&b, "\nenvironment %s (%s, %s): %s\n", e.Name, where, e.Target, envSummary(e))
		for _, n := range e.Notes {
			b.WriteString("  note: " + n + "\n")
		}
		if len(e.HeadBlocked) > 0 && e.Status != Removed {
			fmt.Fprintf(&b, "  blocked on head by %s: after the merge nothing is applied or pruned here until fixed\n", count(len(e.HeadBlocked), "error finding"))
		}
		fmt.Fprintf(&b, "  TaskManagers %s, CPU %s\n", tmChange(e.Totals), cpuChange(e.Totals))
		if bar := capacityBar(e.Totals); bar != "" {
			b.WriteString("  capacity " + bar + "\n")
		}
		for _, f := range e.Findings {
			b.WriteString("  " + findingText(f) + "\n")
		}
		for _, f := range e.Resolved {
			b.WriteString("  resolved " + plainFinding(f) + "\n")
		}
		for _, a := range e.Apps {
			fmt.Fprintf(&b, "  sizing %s (%s): TaskManagers %s, parallelism %s, CPU %s, memory %s\n", sizedName(a), a.Status,
				sizeField(a, func(s *Size) string { return strconv.Itoa(s.TaskManagers) }),
				sizeField(a, func(s *Size) string { return strconv.Itoa(s.Parallelism) }),
				sizeField(a, func(s *Size) string { return cores(s.CPU) }),
				sizeField(a, func(s *Size) string { return bytesBinary(s.Memory) }))
		}
		for _, r := range e.Replacements {
			b.WriteString("  " + r.String() + "\n")
		}
		for _, s := range e.State {
			b.WriteString("  state of " + s.String() + "\n")
		}
		for _, o := range e.Objects {
			fmt.Fprintf(&b, "  %-6s %s%s\n", o.Action, o.ID, objectNote(o))
		}
		for _, o := range e.Objects {
			if o.Diff != "" {
				b.WriteString(indent(o.Diff, "    "))
			}
		}
		if e.Live != nil {
			switch {
			case e.Live.Error != "":
				b.WriteString("  live: cannot compare: " + e.Live.Error + "\n")
			case len(e.Live.Objects) == 0:
				b.WriteString("  live: the cluster matches the base\n")
			default:
				for _, d := range e.Live.Objects {
					fmt.Fprintf(&b, "  live %s %s (the cluster differs from the base)\n", d.Action, d.ID())
					b.WriteString(indent(d.Unified, "    "))
				}
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// headline is the plan's one-line summary.
func headline(r *Result) string {
	changed := 0
	var n counts
	for _, e := range r.Environments {
		if e.Status != Unchanged {
			changed++
		}
		n = n.plus(countsOf(e))
	}
	var parts []string
	if changed == 0 {
		parts = append(parts, "no change: both revisions render the same objects in every environment")
	} else {
		s := fmt.Sprintf("%d of %d environments change", changed, len(r.Environments))
		if c := n.text("object"); c != "" {
			s += ": " + c
		}
		parts = append(parts, s)
	}
	all := r.AllFindings()
	newCount, newErrors := 0, 0
	for _, f := range all {
		if f.New {
			newCount++
			if f.Severity == diag.Error && !f.Waived {
				newErrors++
			}
		}
	}
	s := count(newCount, "new finding")
	if newCount == 0 {
		s = "no new findings"
	}
	if newErrors > 0 {
		s += fmt.Sprintf(" (%s)", count(newErrors, "error"))
	}
	parts = append(parts, s)
	if r.Live {
		n := 0
		for _, e := range r.Environments {
			if e.Live != nil {
				n += len(e.Live.Objects)
			}
		}
		switch {
		case len(r.LiveErrors()) > 0:
			parts = append(parts, fmt.Sprintf("the cluster could not be compared in %s", count(len(r.LiveErrors()), "environment")))
		case n == 0:
			parts = append(parts, "the cluster matches the base")
		default:
			parts = append(parts, fmt.Sprintf("the cluster differs from the base in %s", count(n, "object")))
		}
	}
	return strings.Join(parts, "; ")
}

// envSummary is an environment's status in a few words.
func envSummary(e *EnvironmentPlan) string {
	var parts []string
	switch e.Status {
	case Added:
		parts = append(parts, "new environment")
	case Removed:
		parts = append(parts, "removed from Git")
	case Unchanged:
		parts = append(parts, "no change")
	}
	if c := countsOf(e).text(""); c != "" {
		parts = append(parts, c)
	} else if e.Status == Changed {
		parts = append(parts, "objects not compared")
	}
	s := strings.Join(parts, ", ")
	if len(e.HeadBlocked) > 0 && e.Status != Removed {
		s += " (blocked on head)"
	}
	return s
}

// counts are how many objects a plan adds, changes, replaces, removes and
// leaves in place.
type counts struct{ add, upd, rep, del, keep int }

func countsOf(e *EnvironmentPlan) counts {
	return counts{e.Count(Create), e.Count(Update), e.Count(Replace), e.Count(Prune), e.Count(Keep)}
}

func (c counts) plus(o counts) counts {
	return counts{c.add + o.add, c.upd + o.upd, c.rep + o.rep, c.del + o.del, c.keep + o.keep}
}

// text is "2 to add, 1 to change, 3 left in place", leaving out zeros;
// noun, when set, goes after the first number.
func (c counts) text(noun string) string {
	var parts []string
	for _, x := range []struct {
		n    int
		what string
	}{{c.add, "to add"}, {c.upd, "to change"}, {c.rep, "to replace"}, {c.del, "to remove"}, {c.keep, "left in place"}} {
		if x.n == 0 {
			continue
		}
		n := strconv.Itoa(x.n)
		if noun != "" && len(parts) == 0 {
			n = count(x.n, noun)
		}
		parts = append(parts, n+" "+x.what)
	}
	return strings.Join(parts, ", ")
}

// objectNote is what a plan says after an object's action and ID.
func objectNote(o ObjectChange) string {
	switch {
	case o.Action == Replace && o.Replaces != "":
		return fmt.Sprintf(" (replaces %s: %s)", o.Replaces, o.Why)
	case o.Action == Replace:
		return " (" + o.Why + ")"
	}
	return actionNote(o.Action)
}

func actionNote(a Action) string {
	switch a {
	case Prune:
		return " (pruned)"
	case Keep:
		return " (stays in the cluster)"
	}
	return ""
}

// sizedName is "orders-enrich" for an application, "statement pageviews"
// for a DML statement.
func sizedName(a AppChange) string {
	if a.Statement {
		return "statement " + a.App
	}
	return a.App
}

func findingText(f Finding) string {
	s := plainFinding(f.Finding)
	if f.New {
		return "new      " + s
	}
	return "finding  " + s
}

// plainFinding is "severity RULE file:line env/app object: message".
func plainFinding(f *diag.Finding) string {
	sev := string(f.Severity)
	if f.Waived {
		sev = "waived"
	}
	scope := strings.Trim(f.Environment+"/"+f.App, "/")
	if scope != "" {
		scope = " " + scope
	}
	obj := ""
	if f.Object != "" {
		obj = " " + f.Object
	}
	msg := f.Message
	if f.Waived && f.WaivedBy != "" {
		msg += " [waived: " + f.WaivedBy + "]"
	}
	return fmt.Sprintf("%s %s %s%s%s: %s", sev, f.Rule, f.Location(), scope, obj, msg)
}

// tmChange is "10", "10 → 12", "– → 4" or "4 → –".
func tmChange(t TotalsChange) string {
	return arrow(t.Before, t.After, func(x *Totals) string { return strconv.Itoa(x.TaskManagers) })
}

// cpuChange is "22 → 26 of 96", with "over capacity" when head needs more
// CPU than the nodes hold.
func cpuChange(t TotalsChange) string {
	s := arrow(t.Before, t.After, func(x *Totals) string { return cores(x.CPU) })
	last := t.After
	if last == nil {
		last = t.Before
	}
	if last == nil {
		return s
	}
	s += " of " + cores(last.CapacityCPU)
	if t.After != nil && t.After.CPU > t.After.CapacityCPU {
		s += " (over capacity)"
	}
	return s
}

func arrow[T any](before, after *T, f func(*T) string) string {
	switch {
	case before == nil && after == nil:
		return "–"
	case before == nil:
		return "– → " + f(after)
	case after == nil:
		return f(before) + " → –"
	}
	b, a := f(before), f(after)
	if a == b {
		return a
	}
	return b + " → " + a
}

func sizeField(a AppChange, f func(*Size) string) string { return arrow(a.Before, a.After, f) }

// cores writes a CPU amount with at most three decimals (millicores).
func cores(x float64) string {
	return strconv.FormatFloat(math.Round(x*1000)/1000, 'f', -1, 64)
}

// bytesBinary writes a size in Kubernetes binary units, two decimals at
// most: 512Mi, 26Gi, 1.5Ti.
func bytesBinary(n int64) string {
	units := []string{"", "Ki", "Mi", "Gi", "Ti", "Pi"}
	x := float64(n)
	i := 0
	for x >= 1024 && i < len(units)-1 {
		x /= 1024
		i++
	}
	return strconv.FormatFloat(math.Round(x*100)/100, 'f', -1, 64) + units[i]
}

func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func indent(text, prefix string) string {
	if text == "" {
		return ""
	}
	lines := strings.SplitAfter(text, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l == "" {
			continue
		}
		b.WriteString(prefix + l)
	}
	if !strings.HasSuffix(text, "\n") {
		b.WriteString("\n")
	}
	return b.String()
}
