package render

import (
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
)

// Callers change rendered objects, and render works some parts out once per
// environment or pool (TLS keys, the environment's and pool's Flink
// configuration, an overlay's labels and patch values) and copies them into
// each object. So: changing any map or list of one object leaves every
// other object of the environment as it was.
func TestObjectsShareNoMapOrList(t *testing.T) {
	twoApps := func(files map[string]string) map[string]string {
		files["apps/payments.yaml"] = strings.ReplaceAll(app, "orders", "payments")
		return files
	}
	// overlayMany has labels, annotations and JSON patches that add, replace
	// and remove values: with small chunks, the per-object overlay path.
	const overlayMany = `labels:
- pairs: {cost-center: data}
commonAnnotations: {team: platform}
patches:
- target: {kind: FlinkDeployment}
  patch: |-
    - op: add
      path: /spec/podTemplate
      value: {spec: {tolerations: [{key: dedicated, operator: Equal, value: flink, effect: NoSchedule}]}}
    - op: replace
      path: /spec/flinkConfiguration/from.env
      value: {nested: [a, b]}
    - op: remove
      path: /spec/job/entryClass
`
	for name, tc := range map[string]struct {
		files map[string]string
		env   string
		chunk int
	}{
		"fko apps with TLS":                  {twoApps(baseFiles()), "prod", overlayChunk},
		"fko apps with TLS and an overlay":   {twoApps(withOverlay(overlayLabelAndToleration)), "prod", overlayChunk},
		"fko apps, overlay object by object": {twoApps(withOverlay(overlayMany)), "prod", 1},
		"fko SQL with TLS":                   {withTLS(fkoSQLFiles()), "dev", overlayChunk},
		"cfk apps and SQL with TLS":          {twoApps(CFKTestRepos()["sqlTLS"]), "eu", overlayChunk},
	} {
		t.Run(name, func(t *testing.T) {
			defer func(n int) { overlayChunk = n }(overlayChunk)
			overlayChunk = tc.chunk
			changed := renderEnv(t, tc.files, tc.env, Options{Revision: "r"}).Objects
			// Copies taken before any change: objects sharing a map with
			// any other (or with a package variable) show up.
			fresh := make([]map[string]any, len(changed))
			for i, o := range changed {
				fresh[i] = runtime.DeepCopyJSON(o.Object)
			}
			if len(changed) < 4 {
				t.Fatalf("%d objects: too few to compare", len(changed))
			}
			for i, o := range changed {
				scribble(o.Object)
				for j, other := range changed[i+1:] { // those not yet changed
					if !reflect.DeepEqual(other.Object, fresh[i+1+j]) {
						t.Fatalf("changing %s changed %s", o.ID(), other.ID())
					}
				}
				if reflect.DeepEqual(o.Object, fresh[i]) {
					t.Fatalf("%s did not change", o.ID())
				}
			}
		})
	}
}

// scribble changes every map and list in v: a key added to each map, the
// first item of each list replaced (or the list's items scribbled on).
func scribble(v any) {
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			scribble(e)
		}
		x["scribbled"] = true
	case []any:
		for _, e := range x {
			scribble(e)
		}
		if len(x) > 0 {
			if _, nested := x[0].(map[string]any); !nested {
				x[0] = "scribbled"
			}
		}
	}
}
