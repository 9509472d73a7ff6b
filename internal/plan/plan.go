// Package plan compares two revisions of a repository for pull-request
// review: it takes the pipeline's result for a base and a head revision and
// says, per environment, which rendered objects the merge would add, change,
// replace (a field that cannot change on a live object changes, or a SQL
// statement gets a new object) and remove (pruned, or left in place), how
// the sizing of each application and streaming statement and the
// environment's CPU against its nodes move, which policy findings are new,
// and, when asked, where the live cluster already differs from the base
// (drift the merge would overwrite).
//
// Run (or Compare, given two pipeline results) builds a Result; WriteText, WriteMarkdown and WriteJSON print it.
// Output is deterministic: no timestamps, everything sorted. The package
// reads pipeline results and, for the live comparison, the sync stage; it
// knows nothing of Git (the command line reads the revisions with
// internal/source) and nothing but the command line imports it.
package plan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	gosync "sync"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/sizing"
	"github.com/flinksync/flinksync/internal/state"
	"github.com/flinksync/flinksync/internal/sync"
)

// Side is one revision and what the pipeline made of it.
type Side struct {
	// Ref is the revision as the user named it ("main", "HEAD~1").
	Ref string
	// Commit is the full commit hash Ref resolved to.
	Commit string
	// Result is the pipeline's pass over the commit's tree.
	Result *pipeline.Result
}

// Differ compares an environment's rendered objects with the live cluster;
// *sync.Syncer is one.
type Differ interface {
	Diff(ctx context.Context, env *model.Environment, out *render.Environment) ([]sync.ObjectDiff, error)
}

// Options control Run and Compare.
type Options struct {
	// Pipeline is passed to both pipeline passes of Run (the daemon's
	// policy, the clock for waivers); Run sets each side's Revision.
	Pipeline pipeline.Options
	// Live, when set, compares the base's rendered objects with the
	// cluster, for every environment of the base that rendered.
	Live Differ
	// Progress, when set, is told how many environments the live
	// comparison has done of its total.
	Progress func(done, total int)
}

// Tree is one revision's files, as internal/source.TreeFS gives them.
type Tree struct {
	Ref    string
	Commit string
	FS     fs.FS
}

// Run runs the pipeline over base and head, both at once, and compares
// them. The error is non-nil when a side cannot be read at all.
func Run(ctx context.Context, base, head Tree, opts Options) (*Result, error) {
	var sides [2]Side
	var errs [2]error
	var wg gosync.WaitGroup
	for i, t := range []Tree{base, head} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			po := opts.Pipeline
			po.Revision = t.Commit
			res, err := pipeline.Run(t.FS, po)
			if err != nil {
				errs[i] = fmt.Errorf("%s (%s): %w", t.Ref, t.Commit, err)
				return
			}
			sides[i] = Side{Ref: t.Ref, Commit: t.Commit, Result: res}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs[0], errs[1]); err != nil {
		return nil, err
	}
	return Compare(ctx, sides[0], sides[1], opts)
}

// Revision names one side of a plan.
type Revision struct {
	Ref    string `json:"ref"`
	Commit string `json:"commit"`
}

// Short is the commit's first 12 hex digits.
func (r Revision) Short() string {
	if len(r.Commit) > 12 {
		return r.Commit[:12]
	}
	return r.Commit
}

// Status is what happens to an environment.
type Status string

// The statuses of an environment and of an application's sizing.
const (
	Unchanged Status = "unchanged"
	Changed   Status = "changed"
	// Added: only on head. Removed: only on base.
	Added   Status = "added"
	Removed Status = "removed"
)

// Action is what the merge does to one rendered object.
type Action string

// The actions on objects.
const (
	// Create is an object head renders and base does not.
	Create Action = "add"
	// Update is an object both render, differently.
	Update Action = "change"
	// Replace is an object sync deletes and creates again: a field of its
	// kind that cannot change on an existing object changes, or it is a
	// statement's new object (a new name) whose old one head prunes.
	Replace Action = "replace"
	// Prune is an object base renders and head does not, in an
	// environment that prunes: sync deletes it.
	Prune Action = "remove"
	// Keep is an object base renders and head does not that stays in the
	// cluster: the environment has prune off, or the environment itself was
	// removed from Git (flinksync never prunes a whole environment).
	Keep Action = "keep"
)

// Result is the plan from base to head.
type Result struct {
	Base Revision `json:"base"`
	Head Revision `json:"head"`
	// Live says whether the cluster was compared with the base.
	Live bool `json:"live"`
	// Environments are those of base and head, by name.
	Environments []*EnvironmentPlan `json:"environments"`
	// Findings are head's findings that name no environment (a file that
	// does not parse, a repository policy), new ones marked.
	Findings []Finding `json:"findings"`
	// Resolved are base's findings naming no environment that head no
	// longer has.
	Resolved []*diag.Finding `json:"resolved"`
}

// EnvironmentPlan is what the merge does to one environment.
type EnvironmentPlan struct {
	Name string `json:"name"`
	// Namespace, Target and Cluster are head's (base's for a removed
	// environment); Cluster is "" for the default cluster.
	Namespace string       `json:"namespace"`
	Target    model.Target `json:"target"`
	Cluster   string       `json:"cluster,omitempty"`
	Status    Status       `json:"status"`
	// Prune is head's sync.prune: whether removed objects are deleted.
	Prune bool `json:"prune"`
	// Objects are the rendered objects that differ, in apply order.
	Objects []ObjectChange `json:"objects"`
	// Apps are the applications and DML statements whose sizing differs,
	// by name.
	Apps []AppChange `json:"apps"`
	// Replacements are the SQL statements whose objects are replaced, by
	// name.
	Replacements []Replacement `json:"replacements"`
	// State is what the merge does to each changed or removed job's state.
	State  []StateImpact `json:"state"`
	Totals TotalsChange  `json:"totals"`
	// Findings are head's findings in this environment, new ones marked;
	// Resolved are base's that head no longer has.
	Findings []Finding       `json:"findings"`
	Resolved []*diag.Finding `json:"resolved"`
	// BaseBlocked and HeadBlocked say why the pipeline blocked the
	// environment on each side: a blocked head is not applied after the
	// merge.
	BaseBlocked []string `json:"baseBlocked,omitempty"`
	HeadBlocked []string `json:"headBlocked,omitempty"`
	// Notes explain what a reviewer might not expect.
	Notes []string `json:"notes,omitempty"`
	// Live is how the cluster differs from the base, with --live.
	Live *LiveDiff `json:"live,omitempty"`
}

// ObjectChange is one rendered object that the merge adds, changes or
// removes.
type ObjectChange struct {
	ID string `json:"id"` // Kind/namespace/name
	sync.ObjectID
	App    string `json:"app,omitempty"`
	Action Action `json:"action"`
	// Replaces is the old object's name, when a replace gives the object a
	// new name (a statement's).
	Replaces string `json:"replaces,omitempty"`
	// Why says why an object is replaced.
	Why string `json:"why,omitempty"`
	// Diff is a unified diff from base to head, secret values masked (the
	// whole object for an added one; empty for removed ones).
	Diff string `json:"diff,omitempty"`
}

// AppChange is one application or DML statement whose sizing differs.
type AppChange struct {
	App string `json:"app"`
	// Statement is true when App names a FlinkStatement.
	Statement bool   `json:"statement,omitempty"`
	Status    Status `json:"status"`
	Before    *Size  `json:"before,omitempty"`
	After     *Size  `json:"after,omitempty"`
}

// Size is what sizing decided for an application in an environment.
type Size struct {
	TaskManagers int `json:"taskManagers"`
	Parallelism  int `json:"parallelism"`
	// CPU and Memory are all the app's pods: TaskManagers and JobManager.
	CPU    float64 `json:"cpu"`
	Memory int64   `json:"memory"`
}

// TotalsChange is an environment's totals on each side (nil where the
// environment does not exist or could not be sized).
type TotalsChange struct {
	Before *Totals `json:"before,omitempty"`
	After  *Totals `json:"after,omitempty"`
}

// Totals is an environment's sizing summed, against its nodes.
type Totals struct {
	Apps         int     `json:"apps"`
	TaskManagers int     `json:"taskManagers"`
	CPU          float64 `json:"cpu"`
	Memory       int64   `json:"memory"`
	// CapacityCPU and CapacityMemory are the environment's nodes × the
	// node's CPU and memory.
	CapacityCPU    float64 `json:"capacityCPU"`
	CapacityMemory int64   `json:"capacityMemory"`
	Nodes          int     `json:"nodes"`
	NodesNeeded    int     `json:"nodesNeeded"`
}

// Finding is a head finding, marked when base did not have it.
type Finding struct {
	*diag.Finding
	New bool `json:"new"`
}

// LiveDiff is how the cluster differs from the base's rendered objects:
// what the merge would overwrite or create, and what the cluster holds
// that base would prune.
type LiveDiff struct {
	Objects []sync.ObjectDiff `json:"objects"`
	// Error says why the cluster could not be compared.
	Error string `json:"error,omitempty"`
}

// Count is how many objects the merge acts on with a.
func (e *EnvironmentPlan) Count(a Action) int {
	n := 0
	for _, o := range e.Objects {
		if o.Action == a {
			n++
		}
	}
	return n
}

// NewFindings counts head's findings in the environment that base did not
// have (waived ones included).
func (e *EnvironmentPlan) NewFindings() int { return countNew(e.Findings) }

// Changed reports whether the merge changes anything: an object, or the
// environment itself.
func (r *Result) Changed() bool {
	for _, e := range r.Environments {
		if e.Status != Unchanged {
			return true
		}
	}
	return false
}

// LiveDiffers reports whether the cluster differs from the base in some
// environment.
func (r *Result) LiveDiffers() bool {
	for _, e := range r.Environments {
		if e.Live != nil && len(e.Live.Objects) > 0 {
			return true
		}
	}
	return false
}

// LiveErrors lists the environments whose cluster could not be compared,
// with why.
func (r *Result) LiveErrors() []string {
	var out []string
	for _, e := range r.Environments {
		if e.Live != nil && e.Live.Error != "" {
			out = append(out, fmt.Sprintf("environment %s: %s", e.Name, e.Live.Error))
		}
	}
	return out
}

// AllFindings returns head's findings: repository-wide, then per environment.
func (r *Result) AllFindings() []Finding {
	out := append([]Finding(nil), r.Findings...)
	for _, e := range r.Environments {
		out = append(out, e.Findings...)
	}
	return out
}

// AtLeast counts head's findings, waived ones left out, of severity min or
// worse (an error is worse than a warning).
func (r *Result) AtLeast(min diag.Severity) int {
	n := 0
	for _, f := range r.AllFindings() {
		if !f.Waived && rank(f.Severity) >= rank(min) {
			n++
		}
	}
	return n
}

func rank(s diag.Severity) int {
	if s == diag.Error {
		return 2
	}
	return 1
}

func countNew(fs []Finding) int {
	n := 0
	for _, f := range fs {
		if f.New {
			n++
		}
	}
	return n
}

// Compare builds the plan from base to head. With opts.Live it also asks
// the cluster, environment by environment; a failure there is recorded in
// the environment's Live.Error, and Compare stops early only when ctx is
// done.
func Compare(ctx context.Context, base, head Side, opts Options) (*Result, error) {
	r := &Result{
		Base: Revision{Ref: base.Ref, Commit: base.Commit}, Head: Revision{Ref: head.Ref, Commit: head.Commit},
		Live: opts.Live != nil, Environments: []*EnvironmentPlan{}, Findings: []Finding{}, Resolved: []*diag.Finding{},
	}
	b, h := base.Result, head.Result

	names := map[string]bool{}
	for _, e := range b.Repo.Environments {
		names[e.Metadata.Name] = true
	}
	for _, e := range h.Repo.Environments {
		names[e.Metadata.Name] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)

	newF, resolved := matchFindings(b.Findings, h.Findings)
	for _, f := range resolved {
		if f.Environment == "" || !names[f.Environment] {
			r.Resolved = append(r.Resolved, f)
		}
	}
	for i, f := range h.Findings {
		if f.Environment == "" || !names[f.Environment] {
			r.Findings = append(r.Findings, Finding{Finding: f, New: newF[i]})
		}
	}

	for _, name := range sorted {
		e := compareEnvironment(name, b, h)
		for i, f := range h.Findings {
			if f.Environment == name {
				e.Findings = append(e.Findings, Finding{Finding: f, New: newF[i]})
			}
		}
		for _, f := range resolved {
			if f.Environment == name {
				e.Resolved = append(e.Resolved, f)
			}
		}
		guard(e, h)
		if opts.Live != nil {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			e.Live = live(ctx, opts.Live, name, b)
			if opts.Progress != nil {
				opts.Progress(len(r.Environments)+1, len(sorted))
			}
		}
		r.Environments = append(r.Environments, e)
	}
	return r, nil
}

// clusterName is how the plan names a cluster: "default" for none.
func clusterName(c string) string {
	if c == "" {
		return "default"
	}
	return c
}

// guard runs head's state guard on the environment's state impacts: a
// state-losing change nobody acknowledged is a STATE-001 finding, placed at
// the app's or statement's document when head still has it, and under
// enforce it blocks head (sync refuses it the same way after the merge).
func guard(e *EnvironmentPlan, h *pipeline.Result) {
	g, ok := h.Guards[e.Name]
	if !ok || h.Repo.Environment(e.Name) == nil {
		return
	}
	type at struct {
		file string
		line int
	}
	where := map[string]at{}
	for _, a := range h.Repo.EffectiveApps(e.Name) {
		where["app/"+a.Name] = at{a.App.Origin.File, a.App.Origin.LineOf("spec.job.upgradeMode")}
	}
	for _, s := range h.Repo.EffectiveStatements(e.Name) {
		where["statement/"+s.Name] = at{s.Statement.Origin.File, s.Statement.Origin.Line}
	}
	for _, f := range g.Check(e.State) {
		kind := "app/"
		if f.Rule == state.RuleStateLoss {
			for _, i := range e.State {
				if i.Job == f.App && i.Statement {
					kind = "statement/"
				}
			}
			if o, ok := where[kind+f.App]; ok {
				f.File, f.Line = o.file, o.line
			}
			if f.Severity == diag.Error && !f.Waived {
				e.HeadBlocked = append(e.HeadBlocked, fmt.Sprintf("%s: %s", f.Rule, f.Message))
			}
		}
		e.Findings = append(e.Findings, Finding{Finding: f, New: true})
	}
}

// live compares the base's rendered objects of one environment with the
// cluster.
func live(ctx context.Context, d Differ, name string, b *pipeline.Result) *LiveDiff {
	env := b.Repo.Environment(name)
	if env == nil {
		return nil // new on head: nothing live belongs to it yet
	}
	out := b.Rendered[name]
	if out == nil {
		return &LiveDiff{Objects: []sync.ObjectDiff{}, Error: "the base does not render, so there is nothing to compare the cluster with"}
	}
	diffs, err := d.Diff(ctx, env, out)
	if err != nil {
		return &LiveDiff{Objects: []sync.ObjectDiff{}, Error: err.Error()}
	}
	if diffs == nil {
		diffs = []sync.ObjectDiff{}
	}
	return &LiveDiff{Objects: diffs}
}

// compareEnvironment compares one environment's objects and sizing.
func compareEnvironment(name string, b, h *pipeline.Result) *EnvironmentPlan {
	be, he := b.Repo.Environment(name), h.Repo.Environment(name)
	e := &EnvironmentPlan{Name: name, Objects: []ObjectChange{}, Apps: []AppChange{}, Replacements: []Replacement{}, State: []StateImpact{}, Findings: []Finding{}, Resolved: []*diag.Finding{},
		BaseBlocked: b.Blocked[name], HeadBlocked: h.Blocked[name]}
	spec := he
	if spec == nil {
		spec = be
	}
	e.Namespace, e.Target, e.Cluster = spec.Spec.Namespace, spec.Spec.Target, spec.Spec.Cluster
	if be != nil && he != nil && be.Spec.Cluster != he.Spec.Cluster {
		e.Notes = append(e.Notes, fmt.Sprintf("the environment moves from cluster %s to cluster %s: its objects on %s stay there (flinksync never prunes across clusters); the new cluster starts without them", clusterName(be.Spec.Cluster), clusterName(he.Spec.Cluster), clusterName(be.Spec.Cluster)))
	}
	e.Prune = he != nil && he.Spec.Sync.PruneEnabled()
	e.Totals = TotalsChange{Before: totals(b.Sizing, name, be != nil), After: totals(h.Sizing, name, he != nil)}
	e.Apps = compareSizing(b.Sizing, h.Sizing, name)

	bo, ho := b.Rendered[name], h.Rendered[name]
	switch {
	case be == nil:
		e.Status = Added
		e.Notes = append(e.Notes, fmt.Sprintf("new environment: namespace %s must exist before the first sync (flinksync never creates namespaces)", e.Namespace))
	case he == nil:
		e.Status = Removed
		e.Notes = append(e.Notes, fmt.Sprintf("removed from Git: flinksync never prunes a whole environment on its own, so every object it applied in namespace %s stays until removed on purpose", be.Spec.Namespace))
	}
	if be != nil && he != nil && be.Spec.Namespace != he.Spec.Namespace {
		e.Notes = append(e.Notes, fmt.Sprintf("the namespace moves from %s to %s: the objects in %s stay there (flinksync never prunes across namespaces)", be.Spec.Namespace, he.Spec.Namespace, be.Spec.Namespace))
	}
	switch {
	case he != nil && ho == nil:
		e.Notes = append(e.Notes, "head does not render (see the findings): its objects cannot be compared, and nothing is applied until it renders")
		if e.Status == "" {
			e.Status = Changed
		}
		return e
	case be != nil && bo == nil && he != nil:
		e.Notes = append(e.Notes, "base does not render (see the findings): head's objects are compared with nothing")
	}
	var baseObjs, headObjs []*render.Object
	if bo != nil {
		baseObjs = bo.Objects
	}
	if ho != nil {
		headObjs = ho.Objects
	}
	if he != nil && !e.Prune {
		e.Notes = append(e.Notes, "prune is off (spec.sync.prune: false): objects removed from Git stay in the cluster")
	}
	// What sync would prune: objects of this environment's inventory, which
	// lives in head's namespace, when prune is on.
	pruned := func(o *render.Object) bool { return e.Prune && o.GetNamespace() == he.Spec.Namespace }
	objs, reps, notes := compareObjects(baseObjs, headObjs, pruned)
	e.Objects, e.Notes = objs, append(e.Notes, notes...)
	if reps != nil {
		e.Replacements = reps
	}
	if st := stateImpacts(name, e.Objects, e.Replacements, baseObjs, headObjs, b, h); st != nil {
		e.State = st
	}
	if e.Status == "" {
		e.Status = Unchanged
		if len(e.Objects) > 0 {
			e.Status = Changed
		}
	}
	return e
}

// totals converts an environment's sizing totals; nil when the side has no
// such environment.
func totals(p *sizing.Plan, env string, exists bool) *Totals {
	if !exists || p == nil {
		return nil
	}
	t := p.Environment(env)
	if t == nil {
		return nil
	}
	return &Totals{Apps: t.Apps, TaskManagers: t.TaskManagers, CPU: t.TotalCPU, Memory: t.TotalMemory,
		CapacityCPU: t.CapacityCPU, CapacityMemory: t.CapacityMemory, Nodes: t.Nodes, NodesNeeded: t.NodesNeeded}
}

// compareSizing lists the apps and DML statements of env whose sizing
// differs.
func compareSizing(b, h *sizing.Plan, env string) []AppChange {
	before, after := sizes(b, env), sizes(h, env)
	apps := map[string]bool{}
	for a := range before {
		apps[a] = true
	}
	for a := range after {
		apps[a] = true
	}
	names := make([]string, 0, len(apps))
	for a := range apps {
		names = append(names, a)
	}
	sort.Strings(names)
	out := []AppChange{}
	for _, a := range names {
		bs, hs := before[a], after[a]
		switch {
		case bs == nil:
			out = append(out, AppChange{App: a, Statement: hs.statement, Status: Added, After: &hs.Size})
		case hs == nil:
			out = append(out, AppChange{App: a, Statement: bs.statement, Status: Removed, Before: &bs.Size})
		case bs.Size != hs.Size:
			out = append(out, AppChange{App: a, Statement: hs.statement, Status: Changed, Before: &bs.Size, After: &hs.Size})
		}
	}
	return out
}

// sized is one side's sizing of an app or a DML statement.
type sized struct {
	Size
	statement bool
}

func sizes(p *sizing.Plan, env string) map[string]*sized {
	out := map[string]*sized{}
	if p == nil {
		return out
	}
	i := sort.Search(len(p.Results), func(i int) bool { return p.Results[i].Environment >= env })
	for ; i < len(p.Results) && p.Results[i].Environment == env; i++ {
		r := p.Results[i]
		out[r.App] = &sized{Size: Size{TaskManagers: r.TaskManagers, Parallelism: r.Parallelism, CPU: r.TotalCPU, Memory: r.TotalMemory}, statement: r.Statement}
	}
	return out
}

// findingKey identifies a finding across revisions: lines move, so the
// file and line are left out.
func findingKey(f *diag.Finding) string {
	return strings.Join([]string{f.Rule, f.Environment, f.App, f.Object, f.Message}, "\x00")
}

// matchFindings marks each head finding new when base has no finding with
// the same key (as many times), and returns base's findings head no longer
// has.
func matchFindings(base, head []*diag.Finding) (isNew []bool, resolved []*diag.Finding) {
	left := map[string][]*diag.Finding{}
	for _, f := range base {
		k := findingKey(f)
		left[k] = append(left[k], f)
	}
	isNew = make([]bool, len(head))
	for i, f := range head {
		k := findingKey(f)
		if len(left[k]) > 0 {
			left[k] = left[k][1:]
			continue
		}
		isNew[i] = true
	}
	for _, f := range base {
		k := findingKey(f)
		if len(left[k]) > 0 && left[k][0] == f {
			resolved = append(resolved, f)
			left[k] = left[k][1:]
		}
	}
	return isNew, resolved
}
