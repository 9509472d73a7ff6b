package sizing

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/model"
)

// SIZE001 is the rule of an application or DML statement that cannot be
// sized: the finding is at the field at fault.
var SIZE001 = diag.NewRule("SIZE-001", diag.Error, "an application cannot be sized from its workload")

// AppError is a sizing error of one application in one environment, placed
// at the file and line of the field at fault.
type AppError struct {
	File        string
	Line        int
	Environment string
	App         string
	Err         error
}

// Error formats the error as "file:line: environment E: app A: problem".
func (e *AppError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	return fmt.Sprintf("%s: environment %s: app %s: %v", loc, e.Environment, e.App, e.Err)
}

// Unwrap returns the underlying error, usually an *InputError.
func (e *AppError) Unwrap() error { return e.Err }

// ForApp sizes an effective application: the app's workload and explicit
// count, its pool's shape, its environment's nodes, and the checkpoint
// settings of its app, pool and environment configuration. It fails when
// the loader left the app without a pool or environment.
func ForApp(app *model.EffectiveApp, limits Limits) (*Result, error) {
	return forApp(app, limits, &scratch{})
}

func forApp(app *model.EffectiveApp, limits Limits, sc *scratch) (*Result, error) {
	if app == nil {
		return nil, errors.New("sizing: no application")
	}
	fail := func(file string, line int, env string, err error) error {
		return &AppError{File: file, Line: line, Environment: env, App: app.Name, Err: err}
	}
	if app.Environment == nil {
		return nil, fail(app.Origin.File, app.Origin.Line, "", errors.New("the app has no environment (see the load findings)"))
	}
	env := app.Environment
	envName := env.Metadata.Name
	if app.Pool == nil {
		return nil, fail(app.Origin.File, app.Origin.LineOf("spec.pool"), envName,
			fmt.Errorf("spec.pool: the app has no usable pool %q in this environment (see the load findings)", app.Spec.Pool))
	}
	pool := app.Pool
	in := Input{
		Environment: envName, App: app.Name, Pool: pool.Metadata.Name,
		Workload: app.Spec.Workload, Shape: pool.Spec, Nodes: env.Spec.Nodes,
		TaskManagers: app.Spec.TaskManagers, Limits: limits,
		Configuration: []ConfigLayer{
			layer(LevelApp, app.Origin, "spec.flinkConfiguration", app.Spec.FlinkConfiguration),
			layer(LevelPool, pool.Origin, "spec.flinkConfiguration", pool.Spec.FlinkConfiguration),
			layer(LevelEnvironment, env.Origin, "spec.defaults.flinkConfiguration", env.Spec.Defaults.FlinkConfiguration),
		},
	}
	r, err := size(&in, sc)
	if err == nil {
		return r, nil
	}
	var ie *InputError
	if !errors.As(err, &ie) {
		return nil, fail(app.Origin.File, app.Origin.Line, envName, err)
	}
	// Place the error at the field's line, in the file it belongs to.
	var o model.Origin
	var path string
	switch ie.Object {
	case LevelPool:
		o, path = pool.Origin, "spec."+ie.Field
		if ie.Where != "" {
			path = "spec.flinkConfiguration"
		}
	case LevelEnvironment:
		o, path = env.Origin, "spec."+ie.Field
		if ie.Where != "" {
			path = "spec.defaults.flinkConfiguration"
		}
	case LevelPolicy:
		return nil, fail("", 0, envName, err)
	default:
		o, path = app.Origin, "spec."+ie.Field
		if ie.Where != "" {
			path = "spec.flinkConfiguration"
		}
	}
	plain := *ie
	plain.Where = ""
	return nil, fail(o.File, o.LineOf(path), envName, &plain)
}

// ForStatement sizes a DML statement in an environment as an application
// of its pool: its workload, or its explicit parallelism (TaskManagers of
// the pool's slots enough to run it). DDL statements are not sized: they
// run once and finish.
func ForStatement(st *model.EffectiveStatement, limits Limits) (*Result, error) {
	return forStatement(st, limits, &scratch{})
}

func forStatement(st *model.EffectiveStatement, limits Limits, sc *scratch) (*Result, error) {
	if st == nil || st.Kind != model.SQLDML {
		return nil, errors.New("sizing: only DML statements are sized")
	}
	app := statementAsApp(st)
	r, err := forApp(app, limits, sc)
	if r != nil {
		r.Statement = true
	}
	return r, err
}

// statementAsApp is the application a statement sizes as.
func statementAsApp(st *model.EffectiveStatement) *model.EffectiveApp {
	app := &model.EffectiveApp{Name: st.Name, Environment: st.Environment, Pool: st.Pool, Origin: st.Origin,
		Spec: model.AppSpec{Pool: st.Spec.Pool, Workload: st.Spec.Workload, FlinkConfiguration: st.Spec.FlinkConfiguration}}
	if p := st.Spec.Parallelism; p > 0 && st.Pool != nil {
		slots := max(1, st.Pool.Spec.TaskManager.Slots)
		app.Spec.TaskManagers = (p + slots - 1) / slots
	}
	return app
}

// layer names a configuration by its file and line, when it holds a key
// sizing reads (the others never show in an explanation).
func layer(level Level, o model.Origin, path string, conf model.FlinkConfiguration) ConfigLayer {
	l := ConfigLayer{Level: level, Config: conf}
	for _, k := range [...]string{KeyCheckpointInterval, KeyIncremental, KeyIncrementalLegacy, KeyStateBackend, KeyStateBackendLegacy} {
		if _, ok := conf[k]; ok {
			l.Where = o.File + ":" + strconv.Itoa(o.LineOf(path))
			break
		}
	}
	return l
}

// EnvironmentTotals sums the sizing of an environment's applications and
// sets it against the environment's nodes (policy CPU-004, CPU-005).
type EnvironmentTotals struct {
	Environment  string `json:"environment"`
	Apps         int    `json:"apps"`
	TaskManagers int    `json:"taskManagers"`
	// TaskManagerCPU and JobManagerCPU are the CPU of all TaskManagers and
	// all JobManagers; TotalCPU and TotalMemory are the environment's request.
	TaskManagerCPU float64 `json:"taskManagerCPU"`
	JobManagerCPU  float64 `json:"jobManagerCPU"`
	TotalCPU       float64 `json:"totalCPU"`
	TotalMemory    int64   `json:"totalMemory"`
	// NodesNeeded is every pod of the environment bin-packed onto its node
	// shape, at least MinNodes (0 when nothing runs).
	NodesNeeded int `json:"nodesNeeded"`
	// Unplaced counts pods that fit on no node.
	Unplaced int `json:"unplaced,omitempty"`
	// Nodes, NodeCPU and NodeMemory are the environment's nodes.
	Nodes      int     `json:"nodes"`
	NodeCPU    float64 `json:"nodeCPU"`
	NodeMemory int64   `json:"nodeMemory"`
	// CapacityCPU and CapacityMemory are nodes × the node's CPU and memory.
	CapacityCPU    float64 `json:"capacityCPU"`
	CapacityMemory int64   `json:"capacityMemory"`
}

// Plan is the sizing of a repository: every application in every
// environment, by environment name then app name, and each environment's
// totals, by name.
type Plan struct {
	Results      []*Result            `json:"results"`
	Environments []*EnvironmentTotals `json:"environments"`
}

// Result returns the sizing of app in env, or nil.
func (p *Plan) Result(env, app string) *Result {
	i := sort.Search(len(p.Results), func(i int) bool {
		r := p.Results[i]
		return r.Environment > env || (r.Environment == env && r.App >= app)
	})
	if i < len(p.Results) && p.Results[i].Environment == env && p.Results[i].App == app {
		return p.Results[i]
	}
	return nil
}

// Environment returns the totals of env, or nil.
func (p *Plan) Environment(env string) *EnvironmentTotals {
	for _, t := range p.Environments {
		if t.Environment == env {
			return t
		}
	}
	return nil
}

// ForRepository sizes every effective application of every environment of
// repo. An application that cannot be sized is left out of the plan and
// reported as a SIZE-001 finding at the field at fault; the totals count
// the applications that were sized. The error is for a repository that
// cannot be sized at all (there is none yet).
func ForRepository(repo *model.Repository, limits Limits) (*Plan, []*diag.Finding, error) {
	if repo == nil {
		return nil, nil, errors.New("sizing: no repository")
	}
	envs := append([]*model.Environment(nil), repo.Environments...)
	sort.SliceStable(envs, func(i, j int) bool { return envs[i].Metadata.Name < envs[j].Metadata.Name })
	// Every pair, in the plan's order; DML statements size as apps.
	var pairs []*model.EffectiveApp
	statement := map[*model.EffectiveApp]bool{}
	var firstOf []int // the index of each environment's first pair, and one past the end
	for i, env := range envs {
		if i > 0 && envs[i-1].Metadata.Name == env.Metadata.Name {
			envs[i] = nil // a duplicate the loader reported
			continue
		}
		firstOf = append(firstOf, len(pairs))
		apps := append([]*model.EffectiveApp(nil), repo.EffectiveApps(env.Metadata.Name)...)
		for _, st := range repo.EffectiveStatements(env.Metadata.Name) {
			if st.Kind == model.SQLDML {
				a := statementAsApp(st)
				statement[a] = true
				apps = append(apps, a)
			}
		}
		sort.SliceStable(apps, func(i, j int) bool { return apps[i].Name < apps[j].Name })
		pairs = append(pairs, apps...)
	}
	firstOf = append(firstOf, len(pairs))

	// Size the pairs on every CPU; each writes only its own slot, so the
	// plan does not depend on the scheduling.
	results := make([]*Result, len(pairs))
	errs := make([]error, len(pairs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(1, len(pairs)/64)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := &scratch{}
			for i := int(next.Add(1) - 1); i < len(pairs); i = int(next.Add(1) - 1) {
				results[i], errs[i] = forApp(pairs[i], limits, sc)
				if results[i] != nil {
					results[i].Statement = statement[pairs[i]]
				}
			}
		}()
	}
	wg.Wait()

	p := &Plan{Results: make([]*Result, 0, len(pairs))}
	var findings []*diag.Finding
	e := 0
	for _, env := range envs {
		if env == nil {
			continue
		}
		var sized []*Result
		for i := firstOf[e]; i < firstOf[e+1]; i++ {
			if errs[i] != nil {
				findings = append(findings, finding(errs[i]))
				continue
			}
			sized = append(sized, results[i])
		}
		e++
		p.Results = append(p.Results, sized...)
		p.Environments = append(p.Environments, Totals(env.Metadata.Name, env.Spec.Nodes, sized))
	}
	return p, findings, nil
}

// finding is the SIZE-001 finding of an application's sizing error, at the
// field at fault when the error is an *AppError (forApp's always are).
func finding(err error) *diag.Finding {
	ae, ok := errors.AsType[*AppError](err)
	if !ok {
		return SIZE001.At("", 0, err.Error())
	}
	return SIZE001.At(ae.File, ae.Line, "cannot size: "+ae.Err.Error()).For(ae.Environment, ae.App)
}

// Totals sums the results of one environment and packs all their pods onto
// its nodes.
func Totals(env string, nodes model.Nodes, results []*Result) *EnvironmentTotals {
	t := &EnvironmentTotals{Environment: env, Apps: len(results), Nodes: nodes.Count}
	nodeCPU, nodeMem := nodes.CPU.AsApproximateFloat64(), nodes.Memory.AsApproximateFloat64()
	node := pod{cpu: milliFloor(min(nodeCPU, MaxCPU)), mem: int64(math.Ceil(min(nodeMem, MaxMemory)))}
	t.NodeCPU, t.NodeMemory = float64(node.cpu)/1000, node.mem
	t.CapacityCPU = float64(node.cpu) / 1000 * float64(max(0, nodes.Count))
	t.CapacityMemory = node.mem * int64(max(0, nodes.Count))
	// Identical pods are packed together: group them by shape.
	groups := map[pod]int{}
	var tmMilli, jmMilli int64
	for _, r := range results {
		tm := pod{milli(r.TaskManagerCPU), r.TaskManagerMemory}
		jm := pod{milli(r.JobManagerCPU), r.JobManagerMemory}
		groups[tm] += r.TaskManagers
		groups[jm]++
		t.TaskManagers += r.TaskManagers
		tmMilli += int64(r.TaskManagers) * tm.cpu
		jmMilli += jm.cpu
		t.TotalMemory += r.TotalMemory
	}
	t.TaskManagerCPU, t.JobManagerCPU = float64(tmMilli)/1000, float64(jmMilli)/1000
	t.TotalCPU = float64(tmMilli+jmMilli) / 1000
	if len(results) == 0 {
		return t
	}
	list := make([]podGroup, 0, len(groups))
	for shape, n := range groups {
		list = append(list, podGroup{shape, n})
	}
	// pack sorts by size; a stable order for equal sizes keeps it deterministic.
	sort.Slice(list, func(i, j int) bool {
		if list[i].shape.cpu != list[j].shape.cpu {
			return list[i].shape.cpu > list[j].shape.cpu
		}
		return list[i].shape.mem > list[j].shape.mem
	})
	packed, unplaced := pack(list, node)
	t.NodesNeeded, t.Unplaced = max(MinNodes, packed), unplaced
	return t
}
