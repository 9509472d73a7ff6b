package statuspage

import (
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

func itoa(n int) string { return strconv.Itoa(n) }

// Counts are how many of an environment's apps are in each state, and how
// many have drifted fields.
type Counts struct {
	By      map[Health]int
	Drifted int
	Total   int
}

// Counts counts e's apps.
func (e Environment) Counts() Counts {
	c := Counts{By: make(map[Health]int, len(Healths))}
	for i := range e.Apps {
		c.By[e.Apps[i].Health]++
		if len(e.Apps[i].Drift) > 0 {
			c.Drifted++
		}
	}
	c.Total = len(e.Apps)
	return c
}

// DriftCount is how many drifted fields e has.
func (e Environment) DriftCount() int {
	n := len(e.OtherDrift)
	for i := range e.Apps {
		n += len(e.Apps[i].Drift)
	}
	return n
}

// Rollout says how the applied revision stands to the branch head:
// "current", "behind", "blocked" or "never" (no pass applied yet).
func (e Environment) Rollout() string {
	switch {
	case len(e.Blocked) > 0:
		return "blocked"
	case e.Applied == "":
		return "never"
	case e.Head != "" && e.Applied != e.Head:
		return "behind"
	}
	return "current"
}

// Problem is the environment's newest problem in a line ("" when none):
// what blocks it, else its pass's first error, else a degraded app, else
// drift.
func (e Environment) Problem() string {
	switch {
	case len(e.Blocked) > 0:
		return "blocked: " + e.Blocked[0]
	case len(e.Errors) > 0:
		return e.Errors[0]
	}
	for _, h := range []Health{Degraded, Missing} {
		for i := range e.Apps {
			if a := &e.Apps[i]; a.Health == h {
				return a.Name + ": " + string(h) + ": " + a.Message
			}
		}
	}
	for i := range e.Apps {
		if a := &e.Apps[i]; len(a.Drift) > 0 {
			return fmt.Sprintf("%s: %s drifted (Git %s, live %s)", a.Name, a.Drift[0].Field, a.Drift[0].Git, a.Drift[0].Live)
		}
	}
	if len(e.OtherDrift) > 0 {
		d := e.OtherDrift[0]
		return fmt.Sprintf("%s: %s drifted (Git %s, live %s)", d.Object, d.Field, d.Git, d.Live)
	}
	return ""
}

// severity orders environments for the overview: failed or blocked first,
// then drifted, then with a degraded app, then the rest.
func (e Environment) severity() int {
	c := e.Counts()
	switch {
	case e.Result == "failed" || e.Result == "blocked" || len(e.Blocked) > 0:
		return 0
	case c.Drifted > 0 || len(e.OtherDrift) > 0:
		return 1
	case c.By[Degraded] > 0 || c.By[Missing] > 0:
		return 2
	case c.By[Progressing] > 0 || c.By[Unknown] > 0:
		return 3
	}
	return 4
}

// sortOverview puts problems first, then by name.
func sortOverview(envs []Environment) []Environment {
	out := append([]Environment(nil), envs...)
	sev := make(map[string]int, len(out))
	for i := range out {
		sev[out[i].Name] = out[i].severity()
	}
	sort.SliceStable(out, func(i, j int) bool {
		if a, b := sev[out[i].Name], sev[out[j].Name]; a != b {
			return a < b
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// sortApps puts the worst health first, drifted before the rest of their
// state, then by name.
func sortApps(apps []App) []App {
	out := append([]App(nil), apps...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		if ra, rb := a.Health.rank(), b.Health.rank(); ra != rb {
			return ra < rb
		}
		if da, db := len(a.Drift) > 0, len(b.Drift) > 0; da != db {
			return da
		}
		return a.Name < b.Name
	})
	return out
}

// ago is t relative to now: "just now", "42 s ago", "3 min ago",
// "5 h ago", "2 d ago"; "never" for the zero time.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%d s ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d d ago", int(d.Hours()/24))
}

// utc is t in UTC to the second, for title attributes and <time>.
func utc(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// iso is t for a <time datetime> attribute.
func iso(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// cpu is a CPU figure as people write it: "3", "2.5", "0.25".
func cpu(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

// memory is bytes in Gi or Mi.
func memory(b int64) string {
	const mi, gi = 1 << 20, 1 << 30
	switch {
	case b >= gi:
		return strconv.FormatFloat(math.Round(float64(b)/gi*10)/10, 'f', -1, 64) + " Gi"
	case b > 0:
		return strconv.FormatInt(b/mi, 10) + " Mi"
	}
	return "0"
}

// duration is a short duration as people say it: "450ms", "1.2s",
// "10 s", "2 min", "1h30m0s"; "–" for zero.
func duration(d time.Duration) string {
	switch {
	case d <= 0:
		return "–"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d%time.Hour == 0:
		return itoa(int(d/time.Hour)) + " h"
	case d%time.Minute == 0:
		return itoa(int(d/time.Minute)) + " min"
	case d%time.Second == 0 && d < time.Hour:
		return itoa(int(d/time.Second)) + " s"
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// short is a commit hash cut to 7 characters, as Git shows it.
func short(rev string) string {
	if len(rev) > 7 {
		return rev[:7]
	}
	return rev
}

// percent is the bar's width: 0 to 100.
func percent(p float64) string {
	return strconv.FormatFloat(math.Round(math.Max(0, math.Min(100, p))*10)/10, 'f', -1, 64)
}

// ForgeLink is the web address of file at line in revision rev of the
// repository at remote, when remote is on GitHub or GitLab (github.com,
// gitlab.com); "" otherwise. Remote is an HTTPS or SSH clone URL.
func ForgeLink(remote, rev, file string, line int) string {
	return forgeFile(forgeBase(remote, rev), file, line)
}

// forgeBase is the address files of rev are under, with a trailing slash
// ("" when remote is on no known forge).
func forgeBase(remote, rev string) string {
	host, path := splitRemote(remote)
	if path == "" || rev == "" {
		return ""
	}
	switch host {
	case "github.com":
		return "https://github.com/" + escapePath(path) + "/blob/" + url.PathEscape(rev) + "/"
	case "gitlab.com":
		return "https://gitlab.com/" + escapePath(path) + "/-/blob/" + url.PathEscape(rev) + "/"
	}
	return ""
}

// forgeFile is file at line under base ("" without either).
func forgeFile(base, file string, line int) string {
	if base == "" || file == "" {
		return ""
	}
	u := base + escapePath(file)
	if line > 0 {
		u += "#L" + itoa(line)
	}
	return u
}

// splitRemote is the host and "owner/repo" of a clone URL
// (https://host/owner/repo.git, ssh://git@host/owner/repo.git,
// git@host:owner/repo.git).
func splitRemote(remote string) (host, path string) {
	if u, err := url.Parse(remote); err == nil && u.Host != "" {
		host, path = u.Hostname(), u.Path
	} else if at := strings.Index(remote, "@"); at >= 0 {
		rest := remote[at+1:]
		h, p, ok := strings.Cut(rest, ":")
		if !ok {
			return "", ""
		}
		host, path = h, p
	} else {
		return "", ""
	}
	path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	if strings.Count(path, "/") < 1 {
		return "", ""
	}
	return strings.ToLower(host), path
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}
