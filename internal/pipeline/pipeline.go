// Package pipeline runs the offline stages of flinksync in order, for every
// environment of a repository: model (load) → sizing → render → policy. It
// collects every finding and decides which environments are blocked: an
// environment with an error finding, or whose render failed, must not be
// touched by the sync stage.
//
// The commands (validate, size, render, apply, plan) and the daemon call
// Run; nothing here talks to a cluster or to Git.
package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/policy"
	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/sizing"
	"github.com/flinksync/flinksync/internal/state"
)

// Rule IDs for problems found after loading.
const (
	RuleSizing = "SIZE-001"   // an application cannot be sized
	RuleRender = "RENDER-001" // an environment cannot be rendered (overlay, sizing)
)

// Rules lists every rule a pass can report, for SARIF and JUnit.
func Rules() []diag.RuleInfo {
	out := append([]diag.RuleInfo(nil), model.LoadRules...)
	out = append(out,
		diag.RuleInfo{ID: RuleSizing, Severity: diag.Error, Summary: "an application cannot be sized from its workload"},
		diag.RuleInfo{ID: RuleRender, Severity: diag.Error, Summary: "an environment cannot be rendered (kustomize overlay)"})
	return append(out, policy.Rules...)
}

// Options control a pass.
type Options struct {
	// Revision is written to every object's flinksync.dev/revision annotation.
	Revision string
	// Daemon is the daemon's own policy (--policy FILE), or nil.
	Daemon *model.Policy
	// Now decides which waivers have expired; zero means time.Now.
	Now time.Time
}

// Result is everything one pass produced.
type Result struct {
	revision string
	Repo     *model.Repository
	Sizing   *sizing.Plan
	// Rendered holds the environments that rendered, by name.
	Rendered map[string]*render.Environment
	// Findings are the load, sizing, render and policy findings, sorted.
	Findings []*diag.Finding
	// Blocked names each environment that must not be synced, with why.
	Blocked map[string][]string
	// Guards are the environments' state guards in force, by name.
	Guards map[string]state.Guard
}

// Guard is environment env's state guard in force, nil when the
// repository has no such environment.
func (r *Result) Guard(env string) *state.Guard {
	g, ok := r.Guards[env]
	if !ok {
		return nil
	}
	return &g
}

// Revision is the revision the pass rendered.
func (r *Result) Revision() string { return r.revision }

// Environments returns the names of the repository's environments, sorted.
func (r *Result) Environments() []string {
	var out []string
	for _, e := range r.Repo.Environments {
		out = append(out, e.Metadata.Name)
	}
	return out
}

// Run loads the repository in fsys and runs sizing, render and policy. The
// error is non-nil only when the repository could not be read at all.
func Run(fsys fs.FS, opts Options) (*Result, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	repo, err := model.LoadFS(fsys)
	findings := model.Findings(err)
	if err != nil && findings == nil {
		return nil, err
	}
	res := &Result{revision: opts.Revision, Repo: repo, Rendered: map[string]*render.Environment{}, Blocked: map[string][]string{}}

	eff := policy.Merge(opts.Daemon, repo.Policies)
	res.Guards = make(map[string]state.Guard, len(repo.Environments))
	for _, env := range repo.Environments {
		res.Guards[env.Metadata.Name] = state.GuardOf(env, eff.RequiresTLS(env), opts.Now)
	}
	plan, err := sizing.ForRepository(repo, sizing.Limits{MaxTaskManagerCPU: eff.MaxTaskManagerCPU.AsApproximateFloat64()})
	findings = append(findings, sizingFindings(err, findings)...)
	if plan == nil {
		plan = &sizing.Plan{}
	}
	res.Sizing = plan

	size := func(env, app string) (render.Resources, error) {
		r := plan.Result(env, app)
		if r == nil {
			// Its load or sizing findings block the environment already;
			// render the rest so policy can still look at it.
			return render.Resources{}, render.ErrSkip
		}
		return Resources(r), nil
	}
	// Environments render independently: spread them over the CPUs.
	type rendered struct {
		out *render.Environment
		err error
	}
	outs := make([]rendered, len(repo.Environments))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, env := range repo.Environments {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out, err := render.Render(render.InputOf(repo, env, size), render.Options{Revision: opts.Revision, Source: fsys})
			outs[i] = rendered{out, err}
		}()
	}
	wg.Wait()
	for i, env := range repo.Environments {
		name := env.Metadata.Name
		if res.Rendered[name] != nil {
			continue // a duplicate the loader reported
		}
		if err := outs[i].err; err != nil {
			findings = append(findings, renderFindings(name, env.Origin.File, err)...)
			continue
		}
		res.Rendered[name] = outs[i].out
	}
	findings = append(findings, policy.Evaluate(policy.Input{Repo: repo, Rendered: res.Rendered, Daemon: opts.Daemon, Now: opts.Now})...)
	diag.Sort(findings)
	res.Findings = findings
	res.block()
	return res, nil
}

// renderFindings places a render error of environment env: an overlay's at
// its kustomization line, an app's or statement's at the line of its
// document, anything else at the environment's file.
func renderFindings(env, envFile string, err error) []*diag.Finding {
	finding := func(file string, line int, app, msg string) *diag.Finding {
		return &diag.Finding{Rule: RuleRender, Severity: diag.Error, File: file, Line: max(line, 1), Environment: env, App: app, Message: msg}
	}
	if oe, ok := errors.AsType[*render.OverlayError](err); ok {
		return []*diag.Finding{finding(oe.File, oe.Line, "", oe.Err.Error())}
	}
	if re, ok := errors.AsType[*render.RenderError](err); ok {
		out := make([]*diag.Finding, 0, len(re.Errors))
		for _, se := range re.Errors {
			_, name, _ := strings.Cut(se.What, " ")
			out = append(out, finding(se.File, se.Line, name, fmt.Sprintf("cannot render %s: %v", se.What, se.Err)))
		}
		return out
	}
	return []*diag.Finding{finding(envFile, 1, "", err.Error())}
}

// Resources converts a sizing result into what render needs.
func Resources(r *sizing.Result) render.Resources {
	return render.Resources{
		TaskManagers: r.TaskManagers, Slots: r.SlotsPerTaskManager,
		TaskManagerCPU: r.TaskManagerCPU, TaskManagerMemory: r.TaskManagerMemory,
		JobManagerCPU: r.JobManagerCPU, JobManagerMemory: r.JobManagerMemory,
		CheckpointInterval: r.CheckpointIntervalDuration,
	}
}

// sizingFindings turns sizing errors into findings at the field at fault.
// Apps that already have load findings are skipped: their sizing failed
// because of those.
func sizingFindings(err error, load []*diag.Finding) []*diag.Finding {
	if err == nil {
		return nil
	}
	loadBad := map[string]bool{}
	for _, f := range load {
		loadBad[f.App] = true
	}
	var out []*diag.Finding
	var errs []error
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		errs = u.Unwrap()
	} else if u, ok := err.(interface{ WrappedErrors() []error }); ok {
		errs = u.WrappedErrors()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		f := &diag.Finding{Rule: RuleSizing, Severity: diag.Error, Message: e.Error()}
		var ae *sizing.AppError
		if errors.As(e, &ae) {
			if loadBad[ae.App] {
				continue
			}
			f.Environment, f.App, f.File, f.Line = ae.Environment, ae.App, ae.File, ae.Line
			f.Message = "cannot size: " + ae.Err.Error()
		}
		out = append(out, f)
	}
	return out
}

// block marks the environments an error finding concerns.
//
// A load error blocks by the file it is in: every environment the file
// could affect (model.Reach), whatever the finding names, because the
// content in error cannot be trusted to say where the app runs (a misspelled
// `environments:` names none, and the app would vanish, and be pruned, from
// all of them). A later finding (sizing, render, policy) blocks the
// environment it names, or every environment its app runs in, or all of
// them when it names neither: losing a sync is better than applying a
// half-read repository.
func (r *Result) block() {
	all := r.Environments()
	loadRule := map[string]bool{}
	for _, ri := range model.LoadRules {
		loadRule[ri.ID] = true
	}
	for _, f := range r.Findings {
		if !f.Blocks() {
			continue
		}
		var envs []string
		switch {
		case loadRule[f.Rule]:
			reach := r.Repo.Reach(f.File)
			envs = reach.Environments
			if reach.All {
				envs = all
			}
			if f.Environment != "" && r.Repo.Environment(f.Environment) != nil {
				envs = append(envs, f.Environment)
			}
		case f.Environment != "":
			envs = []string{f.Environment}
		case f.App != "" && r.Repo.App(f.App) != nil:
			envs = r.Repo.App(f.App).Spec.Environments
			if len(envs) == 0 {
				envs = all
			}
		default:
			envs = all
		}
		seen := map[string]bool{}
		for _, e := range envs {
			if seen[e] {
				continue
			}
			seen[e] = true
			r.Blocked[e] = append(r.Blocked[e], fmt.Sprintf("%s %s: %s", f.Location(), f.Rule, f.Message))
		}
	}
	for e := range r.Blocked {
		sort.Strings(r.Blocked[e])
	}
}
