// Package policy checks a repository against the organisation's rules for
// RBAC, TLS and node CPU before anything reaches a cluster. It runs on the
// loaded model and on the final rendered objects (after kustomize overlays,
// which could inject anything), and applies waivers that expire.
//
// The rule IDs are fixed; docs/policy.md explains each. Policy reads the
// model and rendered objects; it knows nothing of the cluster or Git.
package policy

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/render"
)

// Rule describes one policy rule.
type Rule = diag.RuleInfo

// RuleByID returns the rule with id, and whether there is one.
func RuleByID(id string) (Rule, bool) {
	for _, r := range Rules {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}

// DefaultMaxTaskManagerCPU is the most CPU a TaskManager may have when no
// policy says otherwise: the field guide's "at most 8 CPU cores per Flink node".
var DefaultMaxTaskManagerCPU = resource.MustParse("8")

// CertificateWarningWindow is how close to expiry a certificate raises TLS-007.
const CertificateWarningWindow = 30 * 24 * time.Hour

// Input is everything a policy pass looks at.
type Input struct {
	Repo *model.Repository
	// Rendered holds the rendered objects per environment; an environment
	// missing here failed to render and only its model is checked.
	Rendered map[string]*render.Environment
	// Daemon is the daemon's own policy (--policy FILE), or nil.
	Daemon *model.Policy
	// Now decides which waivers have expired.
	Now time.Time
}

// Effective is the policy in force: the daemon's, tightened by the
// repository's Policy documents.
type Effective struct {
	MaxTaskManagerCPU resource.Quantity
	requireTLS        map[string]bool
	unwaivable        map[string]bool
	waivers           []waiver
}

type waiver struct {
	model.Waiver
	file string
	line int
	// fromRepo is false for the daemon's own waivers.
	fromRepo bool
}

// BuiltinUnwaivable are the rules no waiver suppresses, the daemon's own
// included, whatever any policy says: cluster-scoped objects (RBAC-001),
// over-broad Roles (RBAC-002), objects outside the environment's namespace or
// namespaces shared between environments (RBAC-004, which prune's safety
// rests on) and bindings to ClusterRoles or other namespaces (RBAC-005).
var BuiltinUnwaivable = []string{RBAC001.ID(), RBAC002.ID(), RBAC004.ID(), RBAC005.ID()}

func builtinUnwaivable(rule string) bool {
	for _, id := range BuiltinUnwaivable {
		if id == rule {
			return true
		}
	}
	return false
}

// Merge builds the policy in force. A repository can lower the CPU limit,
// add environments that require TLS and add unwaivable rules; it can never
// raise or remove what the daemon set.
func Merge(daemon *model.Policy, repo []*model.Policy) *Effective {
	e := &Effective{MaxTaskManagerCPU: DefaultMaxTaskManagerCPU.DeepCopy(), requireTLS: map[string]bool{}, unwaivable: map[string]bool{}}
	for _, id := range BuiltinUnwaivable {
		e.unwaivable[id] = true
	}
	add := func(p *model.Policy, fromRepo bool) {
		if p == nil {
			return
		}
		if q := p.Spec.MaxTaskManagerCPU; q.Set && q.Cmp(e.MaxTaskManagerCPU) < 0 {
			e.MaxTaskManagerCPU = q.Quantity.DeepCopy()
		}
		for _, env := range p.Spec.RequireTLS {
			e.requireTLS[env] = true
		}
		for _, id := range p.Spec.Unwaivable {
			e.unwaivable[id] = true
		}
		for i, w := range p.Spec.Waivers {
			e.waivers = append(e.waivers, waiver{Waiver: w, file: p.Origin.File,
				line: p.Origin.LineOf(fmt.Sprintf("spec.waivers[%d]", i)), fromRepo: fromRepo})
		}
	}
	add(daemon, false)
	for _, p := range repo {
		add(p, true)
	}
	return e
}

// RequiresTLS reports whether TLS is mandatory in env.
func (e *Effective) RequiresTLS(env *model.Environment) bool {
	return e.requireTLS[env.Metadata.Name] || (env.Spec.TLS != nil && env.Spec.TLS.Required)
}

// Evaluate runs every rule and applies waivers. Findings come back sorted.
//
// Environments are checked independently, spread over the CPUs as
// pipeline.Run renders them; each one's findings are appended in the
// environment's order, so the result is the same as one at a time.
func Evaluate(in Input) []*diag.Finding {
	eff := Merge(in.Daemon, in.Repo.Policies)
	c := &checker{in: in, eff: eff}
	c.namespaces()
	perEnv := make([][]*diag.Finding, len(in.Repo.Environments))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, env := range in.Repo.Environments {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			ec := &checker{in: in, eff: eff}
			ec.environment(env)
			perEnv[i] = ec.findings
		}()
	}
	wg.Wait()
	for _, fs := range perEnv {
		c.findings = append(c.findings, fs...)
	}
	c.applyWaivers()
	diag.Sort(c.findings)
	return c.findings
}

// checker collects the findings of a pass. Evaluate gives each
// environment its own, so nothing in it is shared between goroutines.
type checker struct {
	in       Input
	eff      *Effective
	findings []*diag.Finding
	// owners indexes the environment's apps and statements (ownersOf).
	owners map[string]*owners
	// keys memoizes what the checks ask of a configuration key (keyOf):
	// thousands of objects share a few dozen keys.
	keys map[string]*keyInfo
	// masked memoizes whether redact would mask a value (secretInline).
	masked map[string]bool
}

func (c *checker) add(rule *diag.Rule, env, app, file string, line int, object, format string, args ...any) *diag.Finding {
	f := rule.Atf(file, line, format, args...).For(env, app)
	f.Object = object
	c.findings = append(c.findings, f)
	return f
}

// addAt reports a finding about a rendered object. Render never produces an
// object that breaks the rules addAt reports: an object that does was added
// or changed by the environment's kustomize overlay, so the finding points
// at the overlay. Without an overlay it points at the object's source.
func (c *checker) addAt(rule *diag.Rule, env string, o *render.Object, format string, args ...any) *diag.Finding {
	file, line := o.File, o.Line
	if out := c.in.Rendered[env]; !o.FromOverlay && out != nil && out.Overlay != "" {
		file, line = out.Overlay, 1
	}
	return c.add(rule, env, o.App, file, line, o.ID(), format, args...)
}

// namespaces reports environments that share a namespace (RBAC-004): an
// error on one cluster, where they would prune each other's objects; a
// warning across clusters, which are safe apart only if their names do
// not point at the same Kubernetes cluster.
func (c *checker) namespaces() {
	byNS := map[string][]*model.Environment{}
	for _, e := range c.in.Repo.Environments {
		byNS[e.Spec.Namespace] = append(byNS[e.Spec.Namespace], e)
	}
	for ns, envs := range byNS {
		if len(envs) < 2 {
			continue
		}
		for _, e := range envs {
			var same, elsewhere []string
			for _, o := range envs {
				switch {
				case o == e:
				case o.Spec.Cluster == e.Spec.Cluster:
					same = append(same, o.Metadata.Name)
				default:
					elsewhere = append(elsewhere, fmt.Sprintf("%s (cluster %s)", o.Metadata.Name, clusterName(o)))
				}
			}
			sort.Strings(same)
			sort.Strings(elsewhere)
			if len(same) > 0 {
				c.add(RBAC004, e.Metadata.Name, "", e.Origin.File, e.Origin.LineOf("spec.namespace"), "",
					"namespace %q on cluster %s is shared with environment(s) %s; give each environment its own namespace", ns, clusterName(e), strings.Join(same, ", "))
				continue
			}
			f := c.add(RBAC004, e.Metadata.Name, "", e.Origin.File, e.Origin.LineOf("spec.namespace"), "",
				"namespace %q is also the namespace of %s: safe only while cluster %s and those are different Kubernetes clusters (two names for one cluster would make the environments prune each other's objects); prefer distinct namespaces", ns, strings.Join(elsewhere, ", "), clusterName(e))
			f.Severity = diag.Warning
		}
	}
}

// clusterName is an environment's cluster as messages name it.
func clusterName(e *model.Environment) string {
	if e.Spec.Cluster == "" {
		return "default"
	}
	return e.Spec.Cluster
}

func (c *checker) environment(env *model.Environment) {
	name := env.Metadata.Name
	if env.Spec.Nodes.Count > 0 && env.Spec.Nodes.Count < 3 {
		c.add(CPU005, name, "", env.Origin.File, env.Origin.LineOf("spec.nodes.count"), "",
			"only %d node(s): Flink on Kubernetes wants at least 3 so a node loss does not stop every job; raise spec.nodes.count", env.Spec.Nodes.Count)
	}
	if env.Spec.ServiceAccount == "default" {
		c.add(RBAC003, name, "", env.Origin.File, env.Origin.LineOf("spec.serviceAccount"), "",
			"Flink pods would run as the namespace's default service account; name a dedicated one in spec.serviceAccount (e.g. flink)")
	}
	c.tlsEnvironment(env)
	c.poolShapes(env)
	c.statementSQL(env)
	c.catalogs(env)
	out := c.in.Rendered[name]
	if out == nil {
		return
	}
	objs := objectsOf(out)
	c.rbacObjects(env, objs)
	c.flinkObjects(env, out, objs)
	c.capacity(env, objs)
}

func (c *checker) applyWaivers() {
	today := c.in.Now.UTC().Truncate(24 * time.Hour)
	var extra []*diag.Finding
	for _, w := range c.eff.waivers {
		if builtinUnwaivable(w.Rule) {
			extra = append(extra, WAIVER002.Atf(w.file, w.line, "the waiver for %s does not apply: flinksync never waives %s (prune and isolation between environments rest on it); fix the finding instead", w.Rule, w.Rule).For(w.Environment, w.App))
			continue
		}
		if c.eff.unwaivable[w.Rule] && w.fromRepo {
			extra = append(extra, WAIVER002.Atf(w.file, w.line, "the waiver for %s does not apply: the daemon's policy marks %s unwaivable; fix the finding instead", w.Rule, w.Rule).For(w.Environment, w.App))
			continue
		}
		if today.After(w.Expires.Time) {
			extra = append(extra, WAIVER001.Atf(w.file, w.line, "the waiver for %s expired on %s (%s); its findings count again: fix them or renew the waiver", w.Rule, w.Expires, w.Reason).For(w.Environment, w.App))
			continue
		}
		for _, f := range c.findings {
			if f.Waived || f.Rule != w.Rule || (w.Environment != "" && w.Environment != f.Environment) || (w.App != "" && w.App != f.App) {
				continue
			}
			f.Waived = true
			f.WaivedBy = fmt.Sprintf("%s:%d until %s: %s", w.file, w.line, w.Expires, w.Reason)
		}
	}
	c.findings = append(c.findings, extra...)
}
