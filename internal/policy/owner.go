package policy

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/render"
)

// owner is what a rendered Flink object was rendered from: an
// application, a SQL statement or (for a CFK FlinkComputePool or CMF
// ComputePool) a compute pool. Findings about the object's settings point
// at the owner's files.
type owner struct {
	app  *model.EffectiveApp
	st   *model.EffectiveStatement
	pool *model.ComputePool
}

// name is the application's or statement's name ("" for a pool), which
// findings carry as their App so waivers can name it.
func (w *owner) name() string {
	switch {
	case w == nil:
		return ""
	case w.app != nil:
		return w.app.Name
	case w.st != nil:
		return w.st.Name
	}
	return ""
}

// what names the owner in a message: `app "a"`, `statement "s"`, `pool "p"`.
func (w *owner) what() string {
	switch {
	case w.app != nil:
		return fmt.Sprintf("app %q", w.app.Name)
	case w.st != nil:
		return fmt.Sprintf("statement %q", w.st.Name)
	}
	return fmt.Sprintf("pool %q", w.pool.Metadata.Name)
}

// origin is the owner's source file.
func (w *owner) origin() model.Origin {
	switch {
	case w.app != nil:
		return w.app.Origin
	case w.st != nil:
		return w.st.Origin
	}
	return w.pool.Origin
}

// confLayer is one level of the model that sets Flink configuration keys.
type confLayer struct {
	origin model.Origin
	path   string
	conf   model.FlinkConfiguration
}

// layers are where the owner's configuration keys are set, most specific
// first; the environment's defaults come after them (keyOrigin).
func (w *owner) layers() []confLayer {
	var out []confLayer
	switch {
	case w == nil:
		return nil
	case w.app != nil:
		out = append(out, confLayer{w.app.Origin, "spec.flinkConfiguration", w.app.Spec.FlinkConfiguration})
	case w.st != nil:
		out = append(out, confLayer{w.st.Origin, "spec.flinkConfiguration", w.st.Spec.FlinkConfiguration},
			confLayer{w.st.Origin, "spec.properties", w.st.Spec.Properties})
	}
	if w.pool != nil {
		out = append(out, confLayer{w.pool.Origin, "spec.flinkConfiguration", w.pool.Spec.FlinkConfiguration})
	}
	return out
}

// taskManagers is the field that sets the owner's TaskManager count, and
// how a message says where the count comes from.
func (w *owner) taskManagers(n int) (path, what string) {
	switch {
	case w.app != nil && w.app.Spec.TaskManagers > 0:
		return "spec.taskManagers", fmt.Sprintf("asks for %d TaskManagers", n)
	case w.st != nil && w.st.Spec.Parallelism > 0:
		return "spec.parallelism", fmt.Sprintf("needs %d TaskManagers for its parallelism of %d on %d slot(s) each",
			n, w.st.Spec.Parallelism, slots(w.pool))
	}
	return "spec.workload", fmt.Sprintf("needs %d TaskManagers by sizing", n)
}

func slots(p *model.ComputePool) int { return max(1, p.Spec.TaskManager.Slots) }

// owners indexes an environment's applications and statements by the
// names of the objects they render to.
type owners struct {
	apps   map[string]*model.EffectiveApp
	byName map[string][]*model.EffectiveStatement // by the statement's own name
	pools  map[string]*model.ComputePool          // the pools statements use
	// hashed memoizes render.StatementName, which hashes the statement:
	// only the statements an object may have been rendered from need it.
	hashed map[*model.EffectiveStatement]string
}

// ownersOf builds (once per environment) the index of env's owners.
func (c *checker) ownersOf(env *model.Environment) *owners {
	name := env.Metadata.Name
	if ix := c.owners[name]; ix != nil {
		return ix
	}
	ix := &owners{apps: map[string]*model.EffectiveApp{}, byName: map[string][]*model.EffectiveStatement{},
		pools: map[string]*model.ComputePool{}, hashed: map[*model.EffectiveStatement]string{}}
	for _, a := range c.in.Repo.EffectiveApps(name) {
		ix.apps[a.Name] = a
	}
	for _, st := range c.in.Repo.EffectiveStatements(name) {
		ix.byName[st.Name] = append(ix.byName[st.Name], st)
		if st.Pool != nil {
			ix.pools[st.Pool.Metadata.Name] = st.Pool
		}
	}
	if c.owners == nil {
		c.owners = map[string]*owners{}
	}
	c.owners[name] = ix
	return ix
}

// statement is the statement whose render.StatementName is name, or nil,
// for an object of app. That name is the statement's own, a dash and
// model.StatementHashLength hex digits: only the statements of that own
// name can have it.
func (ix *owners) statement(name, app string) *model.EffectiveStatement {
	cut := len(name) - model.StatementHashLength - 1
	if cut < 0 || name[cut] != '-' {
		return nil
	}
	candidates := ix.byName[name[:cut]]
	if len(candidates) == 1 && app == name[:cut] && app != "" && ix.apps[app] == nil {
		// The one statement of the object's app, which ownerOf falls back
		// to when the hash differs: no need to hash it.
		return candidates[0]
	}
	var found *model.EffectiveStatement
	for _, st := range candidates {
		h, ok := ix.hashed[st]
		if !ok {
			h = render.StatementName(st)
			ix.hashed[st] = h
		}
		if h == name {
			found = st // the last, as a map by StatementName keeps
		}
	}
	return found
}

// ownerOf finds what a rendered object was rendered from, or nil (an
// object an overlay added, or one of the environment's own).
func (c *checker) ownerOf(env *model.Environment, o *object) *owner {
	if !o.ownerKnown {
		o.owner, o.ownerKnown = c.ownersOf(env).ownerOf(o), true
	}
	return o.owner
}

func (ix *owners) ownerOf(o *object) *owner {
	if o.shape == render.FlinkComputePoolGVK.Kind && !o.FromOverlay {
		if p := ix.pools[o.name]; p != nil {
			return &owner{pool: p}
		}
		return nil
	}
	var st *model.EffectiveStatement
	// Without GetLabels, which copies the map for every object.
	if kind, _, _ := unstructured.NestedFieldNoCopy(o.Object.Object, "metadata", "labels", render.LabelSQLKind); kind != nil && !o.FromOverlay {
		st = ix.statement(o.name, o.App)
	}
	if st == nil && o.App != "" {
		if a := ix.apps[o.App]; a != nil {
			return &owner{app: a, pool: a.Pool}
		}
		if sts := ix.byName[o.App]; len(sts) > 0 {
			st = sts[len(sts)-1]
		}
	}
	if st == nil {
		return nil
	}
	return &owner{st: st, pool: st.Pool}
}

// keyOrigin finds where a Flink configuration key of an object is set: its
// owner (application or statement, or their override), the pool, or the
// environment's defaults; ok is false when no level of the model sets it.
func keyOrigin(env *model.Environment, w *owner, key string) (file string, line int, ok bool) {
	for _, l := range w.layers() {
		if _, ok := l.conf[key]; ok {
			return l.origin.File, l.origin.LineOf(model.KeyPath(l.path, key)), true
		}
	}
	if _, ok := env.Spec.Defaults.FlinkConfiguration[key]; ok {
		return env.Origin.File, env.Origin.LineOf(model.KeyPath("spec.defaults.flinkConfiguration", key)), true
	}
	return "", 0, false
}
