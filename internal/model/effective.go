package model

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/flinksync/flinksync/internal/diag"
)

// checkApp checks one application and builds its effective spec in each of
// its environments.
func (l *loader) checkApp(a *FlinkApplication) {
	name, o := a.Metadata.Name, a.Origin
	report := l.reporter(o, name)
	if _, ok := o.lines["spec"]; !ok {
		return // reported as a missing required field
	}
	if len(a.Spec.Environments) == 0 && !o.failed["spec.environments"] {
		l.errorf(o.File, o.LineOf("spec"), RuleRequired, "", name, "spec: missing required field \"environments\" (the environments the app runs in)")
	}
	if v := a.Spec.FlinkVersion; v != "" && !contains(flinkVersions, v) {
		report(o, "spec.flinkVersion", RuleEnum, "", "%q is not one of %s", v, strings.Join(flinkVersions, ", "))
	}
	runsIn := l.environmentList(o, a.Spec.Environments, report)
	merged := mergeOverrides(l, o, a.Spec, a.Spec.Overrides, a.Spec.Environments, runsIn, name)

	for _, env := range a.Spec.Environments {
		e := l.repo.envs[env]
		m, ok := merged[env]
		if e == nil || !ok {
			continue
		}
		eff := &EffectiveApp{Name: name, App: a, Environment: e, Spec: m.spec, Origin: m.origin}
		eff.Spec.Overrides = nil
		s := &eff.Spec
		checkIgnore(s.Ignore, eff.Origin, "spec.ignore", env, report)
		if s.Pool == "" {
			report(eff.Origin, "spec", RuleRequired, env, "missing required field \"pool\" (the compute pool the app runs with)")
		} else if p := l.repo.pools[s.Pool]; p == nil {
			report(eff.Origin, "spec.pool", RuleReference, env, "pool %q not found%s", s.Pool, l.known(KindComputePool))
		} else if !p.AllowedIn(env) {
			l.errorf(eff.Origin.File, eff.Origin.LineOf("spec.pool"), RulePoolNotAllow, env, name,
				"spec.pool: pool %q is not allowed in environment %q (the pool allows: %s); pick another pool or override it in spec.overrides.%s.pool",
				s.Pool, env, strings.Join(p.Spec.Environments, ", "), env)
		} else {
			eff.Pool = p
		}
		if s.Image == "" {
			s.Image = e.Spec.Defaults.Image
		}
		if s.Image == "" {
			report(eff.Origin, "spec", RuleRequired, env, "no image for environment %q: set spec.image here or spec.defaults.image in %s", env, e.Origin.File)
		}
		versionFromDefaults := s.FlinkVersion == ""
		if versionFromDefaults {
			s.FlinkVersion = e.Spec.Defaults.FlinkVersion
		} else if !contains(flinkVersions, s.FlinkVersion) {
			report(eff.Origin, "spec.flinkVersion", RuleEnum, env, "%q is not one of %s", s.FlinkVersion, strings.Join(flinkVersions, ", "))
		}
		if s.FlinkVersion == "" {
			report(eff.Origin, "spec", RuleRequired, env, "no flinkVersion for environment %q: set spec.flinkVersion here or spec.defaults.flinkVersion in %s", env, e.Origin.File)
		} else if e.Spec.Target == TargetCFK && contains(flinkVersions, s.FlinkVersion) && !contains(cfkFlinkVersions, s.FlinkVersion) {
			// The real CFK 3.3.0 FlinkApplication CRD refuses the others.
			file, line := eff.Origin.File, eff.Origin.LineOf("spec.flinkVersion")
			if versionFromDefaults {
				file, line = e.Origin.File, e.Origin.LineOf("spec.defaults.flinkVersion")
			}
			l.errorf(file, line, RuleEnum, env, name, "spec.flinkVersion: %q is not a Flink version CFK 3.3 runs (target: cfk takes %s)",
				s.FlinkVersion, strings.Join(cfkFlinkVersions, ", "))
		}
		if s.ImagePullPolicy == "" {
			s.ImagePullPolicy = e.Spec.Defaults.ImagePullPolicy
		}
		if s.Mode == "" {
			s.Mode = e.Spec.Defaults.Mode
		}
		if s.TaskManagers == 0 && s.Workload.RecordsPerSecond == 0 && !o.failed["spec.workload.recordsPerSecond"] && !o.failed["spec.taskManagers"] {
			report(eff.Origin, "spec.workload", RuleRequired, env, "missing required field \"recordsPerSecond\": sizing needs the workload (or set an explicit spec.taskManagers)")
		}
		applyAppDefaults(s)
		l.repo.effective[env] = append(l.repo.effective[env], eff)
	}
}

// reportFunc reports a problem at the field path of an origin, once.
type reportFunc func(origin Origin, path string, rule *diag.Rule, env, format string, args ...any)

// reporter returns the reportFunc of the document at o, named name: a
// problem on a line of the base spec is the document's, not one
// environment's, and is reported once.
func (l *loader) reporter(o Origin, name string) reportFunc {
	seen := map[string]bool{}
	return func(origin Origin, path string, rule *diag.Rule, env, format string, args ...any) {
		line := origin.LineOf(path)
		if line == o.LineOf(path) {
			env = ""
		}
		msg := path + ": " + fmt.Sprintf(format, args...)
		key := fmt.Sprintf("%s\x00%d\x00%s\x00%s", origin.File, line, rule.ID(), msg)
		if seen[key] {
			return
		}
		seen[key] = true
		l.errorf(origin.File, line, rule, env, name, "%s", msg)
	}
}

// environmentList checks a document's spec.environments (listed twice,
// not declared) and returns the environments it names.
func (l *loader) environmentList(o Origin, envs []string, report reportFunc) map[string]bool {
	runsIn := map[string]bool{}
	for i, env := range envs {
		path := fmt.Sprintf("spec.environments[%d]", i)
		if runsIn[env] {
			report(o, path, RuleDuplicate, "", "environment %q is listed twice", env)
			continue
		}
		runsIn[env] = true
		if l.repo.envs[env] == nil {
			report(o, path, RuleReference, "", "environment %q not found%s", env, l.known(KindEnvironment))
		}
	}
	return runsIn
}

// mergedSpec is a spec with one environment's override merged over it.
type mergedSpec[T any] struct {
	spec   T
	origin Origin
}

// mergeOverrides checks each spec.overrides.<env> of a document against the
// spec type T, at the override's own lines, and returns, for every
// environment of runsIn whose override (if any) is sound, the spec with the
// override merged over it. Findings are labelled with name as their app.
func mergeOverrides[T any](l *loader, o Origin, base T, overrides map[string]Override, envs []string, runsIn map[string]bool, name string) map[string]mergedSpec[T] {
	envNames := make([]string, 0, len(overrides))
	for env := range overrides {
		envNames = append(envNames, env)
	}
	sort.Strings(envNames)
	badOverride := map[string]bool{}
	merged := map[string]mergedSpec[T]{}
	for _, env := range envNames {
		ov := overrides[env]
		path := joinKey("spec.overrides", env)
		if !runsIn[env] {
			rule := RuleInvalidValue
			if l.repo.envs[env] == nil {
				rule = RuleReference
			}
			l.errorf(o.File, o.LineOf(path), rule, env, name, "%s: %q does not run in environment %q (spec.environments: %s)", path, name, env, strings.Join(envs, ", "))
			continue
		}
		// The override is decoded over a copy of the base spec: its
		// findings are placed at its own lines, and the result is the
		// merged spec (mergeNodes' semantics, in one decode).
		d := &decoder{file: o.File, env: env, app: name, lenient: true, overlay: true, lines: map[string]int{}}
		for i := 0; i+1 < len(ov.node.Content); i += 2 {
			if k := ov.node.Content[i].Value; k == "environments" || k == "overrides" {
				d.fail(ov.node.Content[i].Line, path, RuleUnknownField, fmt.Sprintf("%q cannot be overridden per environment", k))
			}
		}
		spec := base
		d.decode(ov.node, reflect.ValueOf(&spec).Elem(), path)
		if len(d.findings) > 0 {
			badOverride[env] = true
			l.findings = append(l.findings, d.findings...)
			continue
		}
		if runsIn[env] {
			merged[env] = mergedSpec[T]{spec: spec, origin: overlayOrigin(o, d.lines, path)}
		}
	}
	out := make(map[string]mergedSpec[T], len(runsIn))
	for env := range runsIn {
		if badOverride[env] {
			continue
		}
		if m, ok := merged[env]; ok {
			out[env] = m
			continue
		}
		out[env] = mergedSpec[T]{spec: base, origin: o}
	}
	return out
}

// overlayOrigin is the origin of a spec with an override merged over it:
// the document's lines, with the override's own (recorded under path,
// "spec.overrides.<env>") in place of those of the fields it sets.
func overlayOrigin(o Origin, override map[string]int, path string) Origin {
	lines := make(map[string]int, len(override))
	for k, v := range override {
		if k == path {
			continue
		}
		if rest, ok := strings.CutPrefix(k, path); ok && (rest[0] == '.' || rest[0] == '[') {
			lines["spec"+rest] = v
		}
	}
	return Origin{File: o.File, Line: o.Line, lines: lines, under: o.lines}
}

// applyAppDefaults fills the defaults of an effective spec; each is listed
// in docs/repo-format.md.
func applyAppDefaults(s *AppSpec) {
	if s.Mode == "" {
		s.Mode = ModeNative
	}
	if s.Job.UpgradeMode == "" {
		s.Job.UpgradeMode = "stateless"
	}
	if s.Job.State == "" {
		s.Job.State = "running"
	}
	applyWorkloadDefaults(&s.Workload)
}

// applyWorkloadDefaults fills the defaults of a workload.
func applyWorkloadDefaults(w *Workload) {
	if w.AvgRecordBytes == 0 {
		w.AvgRecordBytes = DefaultAvgRecordBytes
	}
	if w.Complexity == "" {
		w.Complexity = ComplexityMedium
	}
	if !w.Latency.Set {
		w.Latency = DefaultLatency
	}
	if w.Skew == "" {
		w.Skew = SkewLow
	}
	if !w.RecoveryTarget.Set {
		w.RecoveryTarget = DefaultRecoveryTarget
	}
}
