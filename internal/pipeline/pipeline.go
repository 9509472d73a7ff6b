// Package pipeline runs the offline stages of flinksync in order, for every
// environment of a repository: model (load) → sizing → render → policy. It
// collects every finding and decides which environments are blocked: an
// environment with an error finding, or whose render failed, must not be
// touched by the sync stage.
//
// The stages keep one contract (see internal/diag): each returns its value,
// its findings ([]*diag.Finding: file, line, rule, severity, message) and an
// error that means only "could not run". Run chains them without looking
// inside an error: it appends findings, and stops only on an error. Its own
// Result carries the findings (Result.Findings) and its error is, again,
// only for a repository that cannot be read at all. A new kind or target
// adds findings under its rules; Run does not change.
//
// The commands (validate, size, render, apply, plan) and the daemon call
// Run; nothing here talks to a cluster or to Git.
package pipeline

import (
	"fmt"
	"io/fs"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/policy"
	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/sizing"
	"github.com/flinksync/flinksync/internal/state"
)

// The rules of the stages after loading, by the names the commands use.
var (
	RuleSizing = sizing.SIZE001.ID()   // an application cannot be sized
	RuleRender = render.RENDER001.ID() // an environment cannot be rendered (overlay, sizing)
)

// Rules lists every rule a pass can report, for SARIF and JUnit.
func Rules() []diag.RuleInfo {
	out := append([]diag.RuleInfo(nil), model.LoadRules...)
	out = append(out, sizing.SIZE001.Info(), render.RENDER001.Info())
	return append(out, policy.Rules...)
}

// Options control a pass.
type Options struct {
	// Revision is written to every object's flinksync.dev/revision annotation.
	Revision string
	// RevisionOf, when set, gives Revision once the repository is loaded:
	// the CLI works out whether the work tree is dirty (a walk of every
	// file) while the repository loads.
	RevisionOf func() string
	// Daemon is the daemon's own policy (--policy FILE), or nil.
	Daemon *model.Policy
	// Now decides which waivers have expired; zero means time.Now.
	Now time.Time
	// Loaded, when set, is called with the repository once it is loaded,
	// before it is sized and rendered, on the caller's goroutine: the CLI
	// starts reading the clusters then (sync.Syncer.Prefetch). It must not
	// change the repository.
	Loaded func(*model.Repository)
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
// error is non-nil only when the repository could not be read at all, or a
// stage could not run; every problem in the repository is in
// Result.Findings.
func Run(fsys fs.FS, opts Options) (*Result, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	repo, findings, err := model.LoadFS(fsys)
	if err != nil {
		return nil, err
	}
	if opts.Loaded != nil {
		opts.Loaded(repo)
	}
	if opts.RevisionOf != nil {
		opts.Revision = opts.RevisionOf()
	}
	res := &Result{revision: opts.Revision, Repo: repo, Rendered: map[string]*render.Environment{}, Blocked: map[string][]string{}}

	eff := policy.Merge(opts.Daemon, repo.Policies)
	res.Guards = make(map[string]state.Guard, len(repo.Environments))
	for _, env := range repo.Environments {
		res.Guards[env.Metadata.Name] = state.GuardOf(env, eff.RequiresTLS(env), opts.Now)
	}
	plan, sized, err := sizing.ForRepository(repo, sizing.Limits{MaxTaskManagerCPU: eff.MaxTaskManagerCPU.AsApproximateFloat64()})
	if err != nil {
		return nil, err
	}
	findings = append(findings, notAgain(sized, findings)...)
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
		out      *render.Environment
		findings []*diag.Finding
		err      error
	}
	outs := make([]rendered, len(repo.Environments))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, env := range repo.Environments {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out, fs, err := render.Render(render.InputOf(repo, env, size), render.Options{Revision: opts.Revision, Source: fsys})
			outs[i] = rendered{out, fs, err}
		}()
	}
	wg.Wait()
	for i, env := range repo.Environments {
		name := env.Metadata.Name
		if res.Rendered[name] != nil {
			continue // a duplicate the loader reported
		}
		if err := outs[i].err; err != nil {
			return nil, fmt.Errorf("environment %s: %w", name, err)
		}
		findings = append(findings, outs[i].findings...)
		if outs[i].out != nil {
			res.Rendered[name] = outs[i].out
		}
	}
	findings = append(findings, policy.Evaluate(policy.Input{Repo: repo, Rendered: res.Rendered, Daemon: opts.Daemon, Now: opts.Now})...)
	diag.Sort(findings)
	res.Findings = findings
	res.block()
	return res, nil
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

// notAgain drops the sizing findings of apps that already have load
// findings: their sizing failed because of those.
func notAgain(sized, load []*diag.Finding) []*diag.Finding {
	if len(sized) == 0 {
		return nil
	}
	loadBad := map[string]bool{}
	for _, f := range load {
		loadBad[f.App] = true
	}
	out := make([]*diag.Finding, 0, len(sized))
	for _, f := range sized {
		if f.App == "" || !loadBad[f.App] {
			out = append(out, f)
		}
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
