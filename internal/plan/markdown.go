package plan

import (
	"fmt"
	"html"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/state"
)

// MarkdownLimit is the most bytes WriteMarkdown writes. GitHub refuses a
// comment longer than 65,536 characters (GitLab's notes allow 1,000,000);
// the plan stops well short of that and says so.
const MarkdownLimit = 60000

// MarkdownMarker is the first line of every Markdown plan, an HTML comment
// that does not render: a CI job can find its earlier comment by it and
// edit that instead of adding another.
const MarkdownMarker = "<!-- flinksync-plan -->"

// WriteMarkdown writes the plan as a pull-request comment: a summary table
// of every environment first, then one collapsible <details> section per
// environment with its findings, sizing, object diffs and live drift. Past
// MarkdownLimit bytes the rest is left out with a note; a code fence is
// never cut open (a long diff is cut at a line and its fence closed).
func WriteMarkdown(w io.Writer, r *Result) error {
	return writeMarkdown(w, r, MarkdownLimit)
}

func writeMarkdown(w io.Writer, r *Result, limit int) error {
	r = masked(r)
	m := &md{limit: limit}
	m.add(MarkdownMarker + "\n### flinksync plan\n\n")
	m.add(fmt.Sprintf("`%s` (%s) → `%s` (%s)\n\n", code(r.Base.Ref), r.Base.Short(), code(r.Head.Ref), r.Head.Short()))
	m.add("**" + esc(capitalize(headline(r))) + "**\n\n")
	m.add(summaryTable(r))
	if len(r.Findings) > 0 || len(r.Resolved) > 0 {
		m.add("\n**Repository-wide findings**\n\n" + findingsList(r.Findings, r.Resolved))
	}
	for _, e := range r.Environments {
		if !worthDetails(e) {
			continue
		}
		m.add("\n")
		m.open(fmt.Sprintf("<details><summary><b>%s</b>: %s</summary>\n\n", htmlText(e.Name), htmlText(envLine(e))), "</details>\n")
		envDetails(m, e)
		m.close()
	}
	return m.finish(w)
}

// summaryTable has one row per environment.
func summaryTable(r *Result) string {
	var b strings.Builder
	b.WriteString("| environment | added | changed | removed | TaskManagers | CPU (of capacity) | new findings |\n")
	b.WriteString("|---|--:|--:|--:|---|---|--:|\n")
	for _, e := range r.Environments {
		name := "`" + code(e.Name) + "`"
		switch {
		case e.Status == Added:
			name += " (new)"
		case e.Status == Removed:
			name += " (removed from Git)"
		case len(e.HeadBlocked) > 0:
			name += " (blocked on head)"
		}
		changed := strconv.Itoa(e.Count(Update))
		if n := e.Count(Replace); n > 0 {
			changed += fmt.Sprintf(" (+%d replaced)", n)
		}
		removed := strconv.Itoa(e.Count(Prune))
		if k := e.Count(Keep); k > 0 {
			removed += fmt.Sprintf(" (+%d kept)", k)
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s |\n", name, e.Count(Create), changed, removed,
			tmChange(e.Totals), cpuChange(e.Totals), newFindingsCell(e.Findings))
	}
	return b.String()
}

func newFindingsCell(fs []Finding) string {
	n, errs := 0, 0
	for _, f := range fs {
		if f.New {
			n++
			if f.Severity == diag.Error && !f.Waived {
				errs++
			}
		}
	}
	if errs > 0 {
		return fmt.Sprintf("%d (%s)", n, count(errs, "error"))
	}
	return strconv.Itoa(n)
}

// worthDetails says whether an environment has anything to show beyond its
// table row.
func worthDetails(e *EnvironmentPlan) bool {
	return e.Status != Unchanged || len(e.Findings) > 0 || len(e.Resolved) > 0 || len(e.Notes) > 0 ||
		len(e.HeadBlocked) > 0 || (e.Live != nil && (e.Live.Error != "" || len(e.Live.Objects) > 0))
}

// envLine is the summary line of an environment's section.
func envLine(e *EnvironmentPlan) string {
	parts := []string{envSummary(e)}
	if e.Cluster != "" {
		parts = append([]string{"cluster " + e.Cluster}, parts...)
	}
	if e.Totals.Before != nil || e.Totals.After != nil {
		parts = append(parts, "TaskManagers "+tmChange(e.Totals), "CPU "+cpuChange(e.Totals))
	}
	if n := e.NewFindings(); n > 0 {
		parts = append(parts, count(n, "new finding"))
	}
	if e.Live != nil && len(e.Live.Objects) > 0 {
		parts = append(parts, fmt.Sprintf("live cluster differs from base in %s", count(len(e.Live.Objects), "object")))
	}
	return strings.Join(parts, " · ")
}

func envDetails(m *md, e *EnvironmentPlan) {
	var b strings.Builder
	for _, n := range e.Notes {
		b.WriteString("> " + esc(capitalize(n)) + ".\n>\n")
	}
	if b.Len() > 0 {
		m.add(strings.TrimSuffix(b.String(), ">\n") + "\n")
	}
	if len(e.HeadBlocked) > 0 && e.Status != Removed {
		m.add(fmt.Sprintf("**Blocked on head** by %s: after the merge nothing is applied or pruned here until %s fixed.\n\n",
			count(len(e.HeadBlocked), "error finding"), map[bool]string{true: "it is", false: "they are"}[len(e.HeadBlocked) == 1]))
	}
	if len(e.Findings) > 0 || len(e.Resolved) > 0 {
		title := "**Findings on head**"
		if len(e.Findings) == 0 {
			title = "**Findings**"
		}
		m.add(title + "\n\n" + findingsList(e.Findings, e.Resolved) + "\n")
	}
	if chart := capacityChart(e.Name, e.Totals); chart != "" {
		m.add(chart + "\n")
	}
	if len(e.Replacements) > 0 {
		b.Reset()
		b.WriteString("**Statements replaced**\n\n")
		for _, r := range e.Replacements {
			fmt.Fprintf(&b, "- statement `%s`: replaced (%s): `%s` → `%s`; %s\n", code(r.Statement), esc(r.Why), code(r.From), code(r.To), esc(r.Effect))
		}
		m.add(b.String() + "\n")
	}
	if len(e.State) > 0 {
		b.Reset()
		b.WriteString("**State of the jobs**\n\n")
		for _, s := range e.State {
			what := "app"
			if s.Statement {
				what = "statement"
			}
			fmt.Fprintf(&b, "- %s `%s`: %s%s\n", what, code(s.Job), stateMark(s.Effect), esc(s.Message))
		}
		m.add(b.String() + "\n")
	}
	if len(e.Apps) > 0 && e.Status != Removed { // a removed environment's apps keep running
		b.Reset()
		b.WriteString("**Sizing**\n\n| " + sizingColumn(e.Apps) + " | TaskManagers | parallelism | CPU | memory |\n|---|---|---|---|---|\n")
		for _, a := range e.Apps {
			name := "`" + code(a.App) + "`"
			if a.Statement {
				name = "statement " + name
			}
			if a.Status == Added || a.Status == Removed {
				name += " (" + string(a.Status) + ")"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", name,
				sizeField(a, func(s *Size) string { return strconv.Itoa(s.TaskManagers) }),
				sizeField(a, func(s *Size) string { return strconv.Itoa(s.Parallelism) }),
				sizeField(a, func(s *Size) string { return cores(s.CPU) }),
				sizeField(a, func(s *Size) string { return bytesBinary(s.Memory) }))
		}
		m.add(b.String() + "\n")
	}
	if len(e.Objects) > 0 {
		b.Reset()
		b.WriteString("**Objects**\n\n")
		for _, o := range e.Objects {
			fmt.Fprintf(&b, "- %s `%s`%s\n", o.Action, code(o.ID), mdObjectNote(o))
		}
		m.add(b.String() + "\n")
		for _, o := range e.Objects {
			if o.Diff == "" {
				continue
			}
			m.open(fmt.Sprintf("<details><summary>%s <code>%s</code></summary>\n\n", o.Action, htmlText(o.ID)), "</details>\n\n")
			m.fence("diff", o.Diff)
			m.close()
		}
	}
	if e.Live != nil {
		switch {
		case e.Live.Error != "":
			m.add("**Live cluster**: could not compare: " + esc(e.Live.Error) + "\n\n")
		case len(e.Live.Objects) == 0:
			m.add("**Live cluster**: matches the base.\n\n")
		default:
			b.Reset()
			b.WriteString("**Live cluster**: differs from the base; the merge overwrites these changes:\n\n")
			for _, d := range e.Live.Objects {
				fmt.Fprintf(&b, "- %s `%s`\n", d.Action, code(d.ID()))
			}
			m.add(b.String() + "\n")
			for _, d := range e.Live.Objects {
				m.open(fmt.Sprintf("<details><summary>live vs base: %s <code>%s</code></summary>\n\n", d.Action, htmlText(d.ID())), "</details>\n\n")
				m.fence("diff", d.Unified)
				m.close()
			}
		}
	}
}

// sizingColumn heads the sizing table's first column.
func sizingColumn(apps []AppChange) string {
	for _, a := range apps {
		if a.Statement {
			return "app or statement"
		}
	}
	return "app"
}

// mdObjectNote is objectNote in Markdown.
func mdObjectNote(o ObjectChange) string {
	switch {
	case o.Action == Replace && o.Replaces != "":
		return fmt.Sprintf(" (replaces `%s`: %s)", code(o.Replaces), esc(o.Why))
	case o.Action == Replace:
		return " (" + esc(o.Why) + ")"
	}
	return actionNote(o.Action)
}

// findingsList is a Markdown list of findings, new ones first, then the
// resolved ones.
func findingsList(fs []Finding, resolved []*diag.Finding) string {
	var b strings.Builder
	for _, pass := range []bool{true, false} {
		for _, f := range fs {
			if f.New != pass {
				continue
			}
			label := ""
			if f.New {
				label = "**new** "
			}
			b.WriteString("- " + label + mdFinding(f.Finding) + "\n")
		}
	}
	for _, f := range resolved {
		b.WriteString("- resolved: " + mdFinding(f) + "\n")
	}
	return b.String()
}

// mdFinding is "error `RULE` at `file:line` (app `a`, `Object`): message".
func mdFinding(f *diag.Finding) string {
	sev := string(f.Severity)
	if f.Waived {
		sev = "waived " + sev
	}
	var where []string
	if f.App != "" {
		where = append(where, "app `"+code(f.App)+"`")
	}
	if f.Object != "" {
		where = append(where, "`"+code(f.Object)+"`")
	}
	s := fmt.Sprintf("%s `%s` at `%s`", sev, code(f.Rule), code(f.Location()))
	if len(where) > 0 {
		s += " (" + strings.Join(where, ", ") + ")"
	}
	s += ": " + esc(f.Message)
	if f.Waived && f.WaivedBy != "" {
		s += " — waived: " + esc(f.WaivedBy)
	}
	return s
}

// esc makes text safe in Markdown: HTML and the characters that would
// start emphasis, code, links or table cells are escaped.
func esc(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '\\', '`', '*', '_', '[', ']', '|', '#', '~':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n', '\r':
			b.WriteByte(' ')
		default:
			if lineBreaking(r) {
				b.WriteByte(' ')
				continue
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// code makes text safe inside a backtick code span: a backtick would close
// the span, a line break (or another control character) could end the
// paragraph and let the rest be read as Markdown or HTML, a "|" would split
// a table cell. Names from overlays are not validated, so any of them may
// come from the repository.
func code(s string) string {
	return strings.NewReplacer("`", "'", "|", "\\|").Replace(oneLine(s))
}

// htmlText makes text safe inside an HTML element of the comment
// (<summary>, <code>): escaped, and on one line, so it cannot end the HTML
// block it stands in.
func htmlText(s string) string {
	return html.EscapeString(oneLine(s))
}

// oneLine replaces every line-breaking character of s by a space.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if lineBreaking(r) {
			return ' '
		}
		return r
	}, s)
}

// lineBreaking reports whether r is a control character or a Unicode line
// or paragraph separator: none belongs in a name or a one-line message.
func lineBreaking(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// md builds Markdown up to a limit. Text goes in whole blocks; a block that
// does not fit stops the output there, and the sections still open are
// closed, so the result is always well formed.
type md struct {
	b       strings.Builder
	limit   int
	closers []closer
	cut     bool
}

type closer struct {
	text    string
	written bool
}

// cutNote ends a plan that was cut.
const cutNote = "\n> **This plan is cut here**: a comment holds at most %d characters. The CI job's log (`flinksync plan --output text`) has the whole plan.\n"

// room is what is left for text, keeping space to close every open
// section and for the cut note.
func (m *md) room() int {
	n := m.limit - m.b.Len() - len(cutNote) - 16
	for _, c := range m.closers {
		if c.written {
			n -= len(c.text)
		}
	}
	return n
}

// add writes s when it fits, and reports whether it did.
func (m *md) add(s string) bool {
	if m.cut {
		return false
	}
	if len(s) > m.room() {
		m.cut = true
		return false
	}
	m.b.WriteString(s)
	return true
}

// open writes s and remembers to write end when the section is closed.
func (m *md) open(s, end string) {
	written := m.add(s)
	m.closers = append(m.closers, closer{text: end, written: written})
}

// close closes the innermost open section.
func (m *md) close() {
	c := m.closers[len(m.closers)-1]
	m.closers = m.closers[:len(m.closers)-1]
	if c.written {
		m.b.WriteString(c.text)
	}
}

// fence writes body in a code fence. A body that does not fit is cut at a
// line, with a line saying how many were left out, and the fence closed;
// the output stops after it.
func (m *md) fence(lang, body string) {
	if m.cut {
		return
	}
	if !strings.HasSuffix(body, "\n") {
		body += "\n"
	}
	// A fence must be longer than any run of backticks in the body.
	ticks := strings.Repeat("`", max(3, longestRun(body, '`')+1))
	open, end := ticks+lang+"\n", ticks+"\n"
	if m.add(open + body + end) {
		return
	}
	lines := strings.SplitAfter(body, "\n")
	room := m.room() - len(open) - len(end) - 40
	if room <= 0 {
		return // m.cut is set: nothing of this fence is written
	}
	var kept strings.Builder
	n := 0
	for _, l := range lines {
		if kept.Len()+len(l) > room {
			break
		}
		kept.WriteString(l)
		n++
	}
	rest := len(lines) - n
	if lines[len(lines)-1] == "" {
		rest--
	}
	m.b.WriteString(open + kept.String() + fmt.Sprintf("… %d more lines cut\n", rest) + end)
}

// finish closes what is open, adds the cut note if needed, and writes it all.
func (m *md) finish(w io.Writer) error {
	for len(m.closers) > 0 {
		m.close()
	}
	if m.cut {
		m.b.WriteString(fmt.Sprintf(cutNote, m.limit))
	}
	_, err := io.WriteString(w, m.b.String())
	return err
}

func longestRun(s string, c byte) int {
	best, cur := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			cur++
			best = max(best, cur)
		} else {
			cur = 0
		}
	}
	return best
}

// stateMark flags the changes that lose or delete a job's state.
func stateMark(e state.Effect) string {
	if e == state.Lost || e == state.Deleted {
		return "⚠️ "
	}
	return ""
}
