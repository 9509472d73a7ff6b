package daemon

import (
	"fmt"
	"net/http"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/redact"
	"github.com/flinksync/flinksync/internal/report"
	"github.com/flinksync/flinksync/internal/state"
	"github.com/flinksync/flinksync/internal/statuspage"
	"github.com/flinksync/flinksync/internal/sync"
)

// StatusPage configures the web status page on the daemon's listener
// (/, /environments/{name}, /events): a read-only view of /api/v1/status.
type StatusPage struct {
	// Disabled turns the page off (its paths answer 404).
	Disabled bool
	// Token, when set, is the bearer token the page asks of every request
	// (Authorization: Bearer <token>); /api/v1/status, /metrics and the
	// probes are not behind it.
	Token []byte
	// Refresh is the page's meta refresh (zero: statuspage.DefaultRefresh;
	// negative: off).
	Refresh time.Duration
}

// MaxEvents is how many events the page keeps in memory: a day of passes
// of four environments checked for drift every 5 minutes is over 1,000,
// so these are the last hours of a quiet daemon, the last minutes of a
// busy one; the Kubernetes Events and the logs keep the rest.
const MaxEvents = 200

// pageState is what the page knows beyond the status: the recent events,
// and per environment the drift and the state impact of its last apply.
type pageState struct {
	mu     gosync.Mutex
	events []statuspage.Event // a ring of MaxEvents, next is the oldest
	next   int
	// drift is each environment's drift of its last pass, as keys, to tell
	// new drift from drift seen before.
	drift map[string]string
	// impacts are each environment's state impacts of its last apply that
	// had any.
	impacts map[string][]state.Impact
	// alerts are the keys of the alerts firing after the last pass.
	alerts map[string]bool
	// version counts the events: a cached page older than the last event
	// is rendered anew.
	version atomic.Uint64
}

// pageRoutes registers the status page's paths on mux, unless it is off.
func (d *Daemon) pageRoutes(mux *http.ServeMux) {
	c := d.cfg.StatusPage
	if c.Disabled {
		return
	}
	p, err := statuspage.New(statuspage.Options{Refresh: c.Refresh, Token: c.Token, Version: d.page.version.Load})
	if err != nil {
		// The templates are embedded: this fails every test, not a user.
		panic(err)
	}
	h := p.Handler(d.PageView)
	mux.Handle("GET /{$}", h)
	mux.Handle("GET /environments/{name}", h)
	mux.Handle("GET /events", h)
}

// record adds an event to the ring.
func (d *Daemon) record(e statuspage.Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Message = redact.Text(e.Message)
	p := &d.page
	defer p.version.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.events) < MaxEvents {
		p.events = append(p.events, e)
		return
	}
	p.events[p.next] = e
	p.next = (p.next + 1) % MaxEvents
}

// recent are the events, newest first.
func (d *Daemon) recent() []statuspage.Event {
	p := &d.page
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]statuspage.Event, 0, len(p.events))
	for i := range p.events {
		j := (p.next - 1 - i + 2*len(p.events)) % len(p.events)
		out = append(out, p.events[j])
	}
	return out
}

// noteWebhook records a webhook that passed its signature check; ignored
// says why it is for another ref ("" when it is not).
func (d *Daemon) noteWebhook(r *http.Request, ignored string) {
	from := strings.TrimPrefix(r.URL.Path, "/hooks/")
	what := "push"
	if ev := r.Header.Get("X-GitHub-Event"); ev != "" {
		what = ev
	}
	outcome := "pass triggered"
	switch {
	case ignored != "":
		outcome = "ignored: " + ignored
	case !d.leader.Load():
		outcome = "accepted by a standby"
	}
	d.record(statuspage.Event{Kind: statuspage.EventWebhook, Message: from + " " + what + ": " + outcome})
}

// notePass records what one environment's pass did: the pass, what it
// applied and pruned, drift it found that the previous pass had not, and
// the alerts that fired or resolved since. It also keeps the pass's state
// impacts when it had any, for the page's "state impact of the last
// apply".
func (d *Daemon) notePass(r *sync.Result, why string) {
	m := sync.Masked(r)
	now := time.Now()
	env := m.Environment
	ev := func(kind statuspage.EventKind, problem bool, format string, args ...any) {
		d.record(statuspage.Event{Time: now, Kind: kind, Environment: env, Problem: problem, Message: fmt.Sprintf(format, args...)})
	}
	ev(statuspage.EventPass, !m.OK(), "%s pass at %s in %s: %s", why, shortRev(m.Revision), m.Duration.Round(time.Millisecond), m.Summary())
	if n := m.Count(sync.Created) + m.Count(sync.Configured) + m.Count(sync.Replaced); n > 0 {
		ev(statuspage.EventApply, false, "applied %s: %s", shortRev(m.Revision), changed(m, sync.Created, sync.Configured, sync.Replaced))
	}
	for _, c := range m.Changes {
		if c.Action == sync.Pruned {
			ev(statuspage.EventPrune, false, "pruned %s%s", c.ID(), savepointOf(m, c.ObjectID))
		}
	}
	p := &d.page
	p.mu.Lock()
	if p.drift == nil {
		p.drift, p.impacts, p.alerts = map[string]string{}, map[string][]state.Impact{}, map[string]bool{}
	}
	keys := driftKeys(m.Drift)
	newDrift := keys != "" && keys != p.drift[env]
	p.drift[env] = keys
	if len(m.State) > 0 && !m.DryRun {
		p.impacts[env] = append([]state.Impact(nil), m.State...)
	}
	p.mu.Unlock()
	if newDrift {
		fixed := "left as it is (drift: warn)"
		if m.Count(sync.Drifted) == 0 {
			fixed = "corrected"
		}
		ev(statuspage.EventDrift, true, "%d drifted field(s), %s: %s", len(m.Drift), fixed, driftList(m.Drift, 3))
	}
	d.noteAlerts(now)
}

// noteAlerts records the alerts that fired or resolved since last time.
func (d *Daemon) noteAlerts(now time.Time) {
	active := d.alerter.Active()
	p := &d.page
	p.mu.Lock()
	seen := map[string]bool{}
	var fired []report.Alert
	for _, a := range active {
		k := a.Kind + "/" + a.Environment + "/" + a.App
		seen[k] = true
		if !p.alerts[k] {
			fired = append(fired, a)
		}
	}
	var resolved []string
	for k := range p.alerts {
		if !seen[k] {
			resolved = append(resolved, k)
		}
	}
	p.alerts = seen
	p.mu.Unlock()
	for _, a := range fired {
		d.record(statuspage.Event{Time: now, Kind: statuspage.EventAlert, Environment: a.Environment, Problem: true,
			Message: a.Kind + " firing: " + a.Summary})
	}
	for _, k := range resolved {
		kind, rest, _ := strings.Cut(k, "/")
		env, _, _ := strings.Cut(rest, "/")
		d.record(statuspage.Event{Time: now, Kind: statuspage.EventAlert, Environment: env, Message: kind + " resolved"})
	}
}

func changed(r *sync.Result, actions ...sync.Action) string {
	var parts []string
	for _, a := range actions {
		if n := r.Count(a); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, a))
		}
	}
	var names []string
	for _, c := range r.Changes {
		for _, a := range actions {
			if c.Action == a && len(names) < 5 {
				names = append(names, c.ID())
			}
		}
	}
	return strings.Join(parts, ", ") + " (" + strings.Join(names, ", ") + ")"
}

func savepointOf(r *sync.Result, id sync.ObjectID) string {
	for _, s := range r.Savepoints {
		if s.ObjectID == id {
			switch {
			case s.Path != "":
				return " after savepoint " + s.Path
			case s.Snapshot != "":
				return " (savepoint " + s.Snapshot + ": " + s.State + ")"
			}
			return " (savepoint " + s.State + ")"
		}
	}
	return ""
}

func driftKeys(ds []sync.Drift) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.Key() + "\x00" + d.Field + "\x00" + d.Live + "\x01")
	}
	return b.String()
}

func driftList(ds []sync.Drift, n int) string {
	var parts []string
	for i, d := range ds {
		if i == n {
			parts = append(parts, fmt.Sprintf("and %d more", len(ds)-n))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %s (Git %s, live %s)", d.ID(), d.Field, d.Desired, d.Live))
	}
	return strings.Join(parts, "; ")
}

func shortRev(rev string) string {
	if len(rev) > 7 {
		return rev[:7]
	}
	return rev
}

// PageView is the status page's view: the status (Snapshot, masked) with
// the sizing totals, targets and sources of the revision in force, the
// state impacts of each environment's last apply, and the recent events.
func (d *Daemon) PageView() statuspage.View {
	s := d.Snapshot()
	d.mu.Lock()
	head, res := d.revision, d.current
	durations := make(map[string]time.Duration, len(d.envs))
	for name, st := range d.envs {
		if st.last != nil {
			durations[name] = st.last.Duration
		}
	}
	d.mu.Unlock()
	d.page.mu.Lock()
	impacts := make(map[string][]state.Impact, len(d.page.impacts))
	for k, v := range d.page.impacts {
		impacts[k] = v
	}
	d.page.mu.Unlock()

	v := statuspage.View{Generated: time.Now(), Leader: s.Leader, Head: head, Events: d.recent(),
		Source: statuspage.Source{URL: s.Source.URL, Ref: s.Source.Ref, OK: s.Source.OK, Error: s.Source.Error, LastPoll: s.Source.LastPoll}}
	if d.cfg.Remote == nil {
		v.Source.OK = true
	}
	for _, a := range s.Alerts {
		v.Alerts = append(v.Alerts, statuspage.Alert{Kind: a.Kind, Environment: a.Environment, App: a.App, Summary: redact.Text(a.Summary), Since: a.StartsAt})
	}
	for i := range s.Environments {
		v.Environments = append(v.Environments, pageEnvironment(&s.Environments[i], head, res, durations[s.Environments[i].Name], impacts[s.Environments[i].Name]))
	}
	return v
}

// pageEnvironment is one environment of the view.
func pageEnvironment(e *EnvironmentStatus, head string, res *pipeline.Result, took time.Duration, impacts []state.Impact) statuspage.Environment {
	out := statuspage.Environment{Name: e.Name, Cluster: e.Cluster, Applied: e.AppliedRevision, Head: head, LastPass: e.LastPass, Duration: took,
		Result: e.Result, Summary: e.Summary, InRepository: e.InRepository, Blocked: e.Blocked, Errors: e.Errors, Failures: e.ConsecutiveFail}
	if res != nil {
		if env := res.Repo.Environment(e.Name); env != nil {
			out.Target, out.Namespace, out.DriftMode = string(env.Spec.Target), env.Spec.Namespace, string(env.Spec.Sync.Drift)
			if out.DriftMode == "" {
				out.DriftMode = "correct"
			}
		}
		if res.Sizing != nil {
			if t := res.Sizing.Environment(e.Name); t != nil {
				out.Capacity = statuspage.Capacity{Known: true, CPU: t.TotalCPU, CapacityCPU: t.CapacityCPU, Memory: t.TotalMemory,
					CapacityMem: t.CapacityMemory, Nodes: t.Nodes, NodesNeeded: t.NodesNeeded}
			}
		}
	}
	for _, f := range e.Findings {
		out.Findings = append(out.Findings, statuspage.Finding{Rule: f.Rule, Severity: string(f.Severity), File: f.File, Line: f.Line,
			Object: f.Object, Message: f.Message, Blocking: f.Severity == diag.Error && !f.Waived})
	}
	apps, index := pageApps(e, res)
	pools := map[string]*statuspage.Pool{}
	var poolOrder []string
	pool := func(name string) *statuspage.Pool {
		if p := pools[name]; p != nil {
			return p
		}
		p := &statuspage.Pool{Name: name}
		if res != nil {
			if mp := res.Repo.Pool(name); mp != nil {
				p.TaskManagerCPU = mp.Spec.TaskManager.CPU.AsApproximateFloat64()
			}
		}
		pools[name] = p
		poolOrder = append(poolOrder, name)
		return p
	}
	for _, a := range apps {
		if a.Pool != "" {
			p := pool(a.Pool)
			p.Apps++
			p.TaskManagers += a.TaskManagers
			p.CPU += a.CPU
		}
	}
	for _, h := range e.Health {
		if h.Kind == sync.HealthPool {
			p := pool(strings.TrimPrefix(h.App, sync.HealthPool+"/"))
			p.Health, p.Message = pageHealth(h), h.Message
		}
	}
	for _, name := range poolOrder {
		out.Pools = append(out.Pools, *pools[name])
	}
	for _, dr := range e.Drift {
		pd := statuspage.Drift{Object: dr.ID(), Field: dr.Field, Git: dr.Desired, Live: dr.Live}
		if i, ok := index[dr.Name]; ok && dr.Kind != "FlinkComputePool" {
			apps[i].Drift = append(apps[i].Drift, pd)
		} else {
			out.OtherDrift = append(out.OtherDrift, pd)
		}
	}
	for _, im := range impacts {
		if i, ok := index[im.Job]; ok {
			apps[i].StateImpact, apps[i].LosesState = redact.Text(im.Message), im.LosesState
		}
	}
	out.Apps = apps
	return out
}

// pageApps are e's apps and statements: those the sizing has, then those
// only the health has (a DDL statement, a session cluster), with their
// health; index is each one's position by name.
func pageApps(e *EnvironmentStatus, res *pipeline.Result) (apps []statuspage.App, index map[string]int) {
	index = map[string]int{}
	add := func(a statuspage.App) int {
		if res != nil {
			if ma := res.Repo.App(a.Name); ma != nil && !a.Statement {
				a.File, a.Line = ma.Origin.File, ma.Origin.Line
			} else if ms := res.Repo.Statement(a.Name); ms != nil {
				a.File, a.Line = ms.Origin.File, ms.Origin.Line
			}
		}
		index[a.Name] = len(apps)
		apps = append(apps, a)
		return len(apps) - 1
	}
	for _, r := range e.Sizing {
		add(statuspage.App{Name: r.App, Statement: r.Statement, Pool: r.Pool, Sized: true, TaskManagers: r.TaskManagers,
			Slots: r.SlotsPerTaskManager, Parallelism: r.Parallelism, CPU: r.TotalCPU,
			CheckpointInterval: time.Duration(r.CheckpointInterval * float64(time.Second))})
	}
	checked := map[string]bool{}
	for _, h := range e.Health {
		if h.Kind == sync.HealthPool {
			continue
		}
		i, ok := index[h.App]
		if !ok {
			i = add(statuspage.App{Name: h.App, Statement: h.Kind == sync.HealthStatement})
		}
		apps[i].Health, apps[i].Message = pageHealth(h), redact.Text(h.Message)
		checked[h.App] = true
	}
	for i := range apps {
		if checked[apps[i].Name] {
			continue
		}
		apps[i].Health = statuspage.Unknown
		switch {
		case len(e.Blocked) > 0:
			apps[i].Message = "not checked: the environment is blocked"
		case e.LastPass.IsZero():
			apps[i].Message = "not checked yet: no pass so far"
		default:
			apps[i].Message = "not checked: the last pass stopped before health"
		}
	}
	return apps, index
}

// pageHealth is h in Argo CD's words. sync says Healthy for a job
// suspended as Git says (lifecycle SUSPENDED), a statement stopped on
// purpose (phase STOPPED) and a pool suspended on purpose (phase
// SUSPENDED): Argo CD calls those Suspended. It says Unknown, "no status
// yet", for an object that is not in the cluster at all: Argo CD's
// Missing.
func pageHealth(h sync.AppHealth) statuspage.Health {
	switch h.Health {
	case sync.Healthy:
		if strings.HasPrefix(h.Message, "lifecycle SUSPENDED") || strings.HasPrefix(h.Message, "phase STOPPED") || strings.HasPrefix(h.Message, "phase SUSPENDED") {
			return statuspage.Suspended
		}
		return statuspage.Healthy
	case sync.Progressing:
		return statuspage.Progressing
	case sync.Degraded:
		return statuspage.Degraded
	case sync.Unknown:
		if h.Message == "no status yet" {
			return statuspage.Missing
		}
	}
	return statuspage.Unknown
}
