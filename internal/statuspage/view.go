// Package statuspage renders the daemon's read-only status page: an
// overview of every environment (/), one page per environment
// (/environments/{name}) and the recent events (/events), as HTML from
// html/template with the stylesheet embedded, no script and no asset from
// elsewhere. A meta refresh keeps it true.
//
// It knows only its own view model (View and the types below), which the
// daemon fills from the state it already holds (the same data as
// /api/v1/status, masked); it imports nothing of the daemon, the cluster or
// Git, so it cannot add data of its own, and it has no handler that changes
// anything.
package statuspage

import "time"

// View is everything one page shows.
type View struct {
	// Generated is when the view was taken.
	Generated time.Time
	// Leader is false on a standby replica, whose state is not the
	// leader's (it does not sync).
	Leader bool
	Source Source
	// Head is the branch head the daemon last rendered.
	Head         string
	Environments []Environment
	// Alerts are the alerts firing now.
	Alerts []Alert
	// Events are the recent events, newest first.
	Events []Event
}

// Source is the Git remote, its URL already free of credentials.
type Source struct {
	URL, Ref string
	OK       bool
	Error    string
	LastPoll time.Time
}

// Environment is one environment as its last pass left it.
type Environment struct {
	Name    string
	Cluster string // "default" for the default cluster
	Target  string // fko, cfk, cmf
	// Namespace is the environment's namespace.
	Namespace string
	// DriftMode is correct or warn.
	DriftMode string
	// Applied is the revision last applied without errors ("" before the
	// first); Head is the branch head (View.Head).
	Applied, Head string
	LastPass      time.Time
	Duration      time.Duration
	// Result is success, failed or blocked ("" before the first pass).
	Result  string
	Summary string
	// InRepository is false once the environment's file left Git.
	InRepository bool
	// Blocked says why the environment is not synced; Errors are the last
	// pass's errors.
	Blocked, Errors []string
	Failures        int
	Findings        []Finding
	Apps            []App
	// OtherDrift is drift on objects that are not an app or statement
	// (a pool, a catalog, a Service).
	OtherDrift []Drift
	Pools      []Pool
	Capacity   Capacity
}

// Finding is a load, policy or live finding of an environment.
type Finding struct {
	Rule, Severity string
	File           string
	Line           int
	Object         string
	Message        string
	// Blocking is true for an error that keeps the environment blocked.
	Blocking bool
}

// Location is "file:line", "file" or "".
func (f Finding) Location() string {
	switch {
	case f.File != "" && f.Line > 0:
		return f.File + ":" + itoa(f.Line)
	default:
		return f.File
	}
}

// App is one application or SQL statement.
type App struct {
	Name string
	// Statement is true for a SQL statement.
	Statement bool
	Pool      string
	// File and Line are where Git declares it, for a link to the forge.
	File   string
	Line   int
	Health Health
	// Message is the operator's words (lifecycle, job state, last error).
	Message string
	// Sized is false when the sizing has no figures for it.
	Sized               bool
	TaskManagers, Slots int
	Parallelism         int
	// CPU is the app's total CPU request (TaskManagers and JobManager).
	CPU                float64
	CheckpointInterval time.Duration
	// Drift are its fields that differ from Git, values masked.
	Drift []Drift
	// StateImpact is what the last pass did to its state ("" if nothing);
	// LosesState is true when state went without a savepoint.
	StateImpact string
	LosesState  bool
}

// Drift is one field that differs between Git and the cluster.
type Drift struct {
	Object, Field, Git, Live string
}

// Pool is a compute pool of an environment: the apps on it and, for a
// CFK pool, its health.
type Pool struct {
	Name string
	// TaskManagerCPU is the CPU of one of its TaskManagers.
	TaskManagerCPU float64
	Apps           int
	TaskManagers   int
	CPU            float64
	// Health is set for a pool the operator reports on (CFK).
	Health  Health
	Message string
}

// Capacity is the CPU and memory the environment's apps request against
// its nodes (the sizing's totals).
type Capacity struct {
	Known               bool
	CPU, CapacityCPU    float64
	Memory, CapacityMem int64
	Nodes, NodesNeeded  int
}

// Percent is the CPU used, 0 to 100 and more.
func (c Capacity) Percent() float64 {
	if c.CapacityCPU <= 0 {
		return 0
	}
	return 100 * c.CPU / c.CapacityCPU
}

// Alert is one firing alert.
type Alert struct {
	Kind, Environment, App, Summary string
	Since                           time.Time
}

// Event is one thing that happened: a pass, an apply, a prune, drift, an
// alert sent, a webhook received, a leader change.
type Event struct {
	Time        time.Time
	Kind        EventKind
	Environment string
	// Message says what happened, masked.
	Message string
	// Problem is true for a failure, a block, drift or a firing alert.
	Problem bool
}

// EventKind names the kinds of Event.
type EventKind string

// The event kinds.
const (
	EventPass    EventKind = "pass"
	EventApply   EventKind = "apply"
	EventPrune   EventKind = "prune"
	EventDrift   EventKind = "drift"
	EventAlert   EventKind = "alert"
	EventWebhook EventKind = "webhook"
	EventLeader  EventKind = "leader"
)
