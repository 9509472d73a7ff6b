package statuspage

import (
	"html"
	"html/template"
	"strconv"
	"strings"
)

// appRows is the body of an environment's app table, one row per app,
// worst health first. It is written here rather than in the template
// because it is the one part of the page that grows with the repository:
// html/template spends some 30 µs a row on reflection and escaper calls,
// 30 ms for 1,000 apps; this takes about 2 µs a row (BenchmarkServe50Clients).
// Every value goes through esc (html.EscapeString), in text and in quoted
// attributes alike, and the only URL is ForgeLink's, which is https and
// built from escaped parts (TestHostileValuesAreEscaped).
func appRows(apps []App, src Source, applied string) template.HTML {
	var b strings.Builder
	b.Grow(len(apps) * 700)
	base := forgeBase(src.URL, applied)
	for _, a := range sortApps(apps) {
		appRow(&b, &a, base)
	}
	return template.HTML(b.String()) // #nosec G203 -- every value is escaped above
}

func appRow(b *strings.Builder, a *App, forge string) {
	b.WriteString(`<tr>` + "\n" + `<th scope="row">`)
	if l := forgeFile(forge, a.File, a.Line); l != "" {
		b.WriteString(`<a href="`)
		b.WriteString(esc(l))
		b.WriteString(`">`)
		b.WriteString(esc(a.Name))
		b.WriteString(`</a>`)
	} else {
		b.WriteString(esc(a.Name))
	}
	if a.Statement {
		b.WriteString(` <span class="muted">(SQL)</span>`)
	}
	if a.Pool != "" {
		b.WriteString(`<br><span class="muted">pool `)
		b.WriteString(esc(a.Pool))
		b.WriteString(`</span>`)
	}
	b.WriteString("</th>\n<td>")
	b.WriteString(healthMarks[a.health()])
	b.WriteString("</td>\n<td>")
	b.WriteString(esc(a.Message))
	b.WriteString("</td>\n")
	if a.Sized {
		b.WriteString(`<td class="num">`)
		b.WriteString(strconv.Itoa(a.TaskManagers))
		b.WriteString(" × ")
		b.WriteString(strconv.Itoa(a.Slots))
		b.WriteString(`</td><td class="num">`)
		b.WriteString(strconv.Itoa(a.Parallelism))
		b.WriteString(`</td><td class="num">`)
		b.WriteString(cpu(a.CPU))
		b.WriteString(`</td><td class="num">`)
		if a.CheckpointInterval > 0 {
			b.WriteString(esc(duration(a.CheckpointInterval)))
		} else {
			b.WriteString("–")
		}
		b.WriteString("</td>\n")
	} else {
		b.WriteString(`<td class="num">–</td><td class="num">–</td><td class="num">–</td><td class="num">–</td>` + "\n")
	}
	b.WriteString("<td>")
	if len(a.Drift) > 0 {
		b.WriteString(`<span class="drifted"><span class="sym" aria-hidden="true">` + DriftedSymbol + `</span> Drifted</span><ul class="drift">`)
		for _, d := range a.Drift {
			b.WriteString(`<li><code>`)
			b.WriteString(esc(d.Field))
			b.WriteString(`</code>: <code>`)
			b.WriteString(esc(d.Git))
			b.WriteString(`</code> → <code>`)
			b.WriteString(esc(d.Live))
			b.WriteString(`</code></li>`)
		}
		b.WriteString(`</ul>`)
	} else {
		b.WriteString(`<span class="muted">in sync</span>`)
	}
	b.WriteString("</td>\n<td>")
	switch {
	case a.StateImpact == "":
		b.WriteString(`<span class="muted">–</span>`)
	case a.LosesState:
		b.WriteString(`<strong class="h-degraded"><span aria-hidden="true">!</span> state lost:</strong> `)
		b.WriteString(esc(a.StateImpact))
	default:
		b.WriteString(esc(a.StateImpact))
	}
	b.WriteString("</td>\n</tr>\n")
}

// health is a's health, Unknown for a word the page does not know.
func (a *App) health() Health {
	if _, ok := healthMarks[a.Health]; ok {
		return a.Health
	}
	return Unknown
}

// healthMarks are the health template's output for each state, made once.
var healthMarks = func() map[Health]string {
	m := make(map[Health]string, len(Healths))
	for _, h := range Healths {
		m[h] = `<span class="health ` + h.Class() + `"><span class="sym" aria-hidden="true">` + h.Symbol() + `</span> ` + string(h) + `</span>`
	}
	return m
}()

var esc = html.EscapeString
