package model

import (
	"fmt"
	"strings"
)

// IgnorePresets are the names of the built-in ignore rules an environment's
// sync.presets may list; the rules themselves belong to the sync stage.
var IgnorePresets = []string{"fko-autoscaler", "fko-webhook", "cfk"}

// checkIgnore checks the ignore rules at path (spec.sync.ignore or
// spec.ignore) of a document.
func checkIgnore(rules []IgnoreRule, o Origin, path, env string, report reportFunc) {
	for i, r := range rules {
		at := fmt.Sprintf("%s[%d]", path, i)
		if len(r.Paths) == 0 && len(r.Managers) == 0 {
			report(o, at, RuleRequired, env, "a rule ignores fields at paths, or fields set by managers: give paths or managers")
		}
		for j, p := range r.Paths {
			if err := ValidPointer(p); err != nil {
				report(o, fmt.Sprintf("%s.paths[%d]", at, j), RuleInvalidValue, env, "%q: %v", p, err)
			}
		}
		for j, m := range r.Managers {
			if strings.TrimSpace(m) == "" {
				report(o, fmt.Sprintf("%s.managers[%d]", at, j), RuleInvalidValue, env, "a field manager's name cannot be empty")
			}
		}
	}
}

// ValidPointer reports whether p is a JSON pointer (RFC 6901) into an
// object: empty or starting with "/", with "~" only in "~0" and "~1".
func ValidPointer(p string) error {
	if p == "" || p == "/" {
		return fmt.Errorf("ignoring the whole object is not a path rule: select the object with kind and name and give the paths under it")
	}
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("a JSON pointer starts with '/', e.g. /spec/flinkConfiguration/pipeline.jobvertex-parallelism-overrides")
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '~' && (i+1 == len(p) || (p[i+1] != '0' && p[i+1] != '1')) {
			return fmt.Errorf("'~' must be written ~0, and '/' inside a key ~1 (RFC 6901)")
		}
	}
	return nil
}
