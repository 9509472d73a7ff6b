package pipeline

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/testenv"
)

// TestRenderedCFKObjectsAcceptedByRealCFKSchema serves the real CFK 3.3.0
// CRDs from ../shared/reference/cfk-3.3.0/crds (beside the checkout; CI has
// them, and the test fails there without them) instead of the project's test
// CRDs, and server-side dry-runs every CFK object rendered for
// examples/repo-layout against them.
func TestRenderedCFKObjectsAcceptedByRealCFKSchema(t *testing.T) {
	cfg := testenv.Config(t)
	kinds := map[string]bool{}
	for _, k := range testenv.UseRealCRDs(t, cfg, testenv.RealCFKCRDs) {
		kinds[k] = true
	}
	for _, k := range []string{"CMFRestClass", "FlinkEnvironment", "FlinkApplication"} { // the kinds render makes
		if !kinds[k] {
			t.Fatalf("the real CFK CRDs lack %s", k)
		}
	}
	res := runExample(t, "abc")
	checked := map[string]int{}
	for _, name := range res.Environments() {
		out := res.Rendered[name]
		var cfk []*render.Object
		for _, o := range out.Objects {
			if o.GroupVersionKind().Group == render.FlinkApplicationGVK.Group {
				if !kinds[o.GetKind()] {
					t.Errorf("%s: no real CFK CRD for kind %s", o.ID(), o.GetKind())
					continue
				}
				cfk = append(cfk, o)
				checked[o.GetKind()]++
			}
		}
		if len(cfk) == 0 {
			continue
		}
		testenv.CreateNamespace(t, cfg, out.Namespace)
		if f := dryRunAll(t, cfg, cfk, nil); len(f) > 0 {
			t.Errorf("environment %s: rejected by the real CFK 3.3.0 schema:\n  %s", name, strings.Join(f, "\n  "))
		}
	}
	if checked["FlinkApplication"] == 0 || checked["FlinkEnvironment"] == 0 {
		t.Fatalf("the example must render a FlinkEnvironment and FlinkApplications; checked %v", checked)
	}

	// The real schema is the judge it claims to be: it refuses a number CPU
	// and an undeclared field, and takes whole and milli CPUs.
	app := func(resource map[string]any, extra string) *render.Object {
		spec := map[string]any{
			"flinkEnvironment": "probe",
			"jobManager":       map[string]any{"resource": resource},
		}
		if extra != "" {
			spec[extra] = "x"
		}
		return &render.Object{Unstructured: &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": render.FlinkApplicationGVK.GroupVersion().String(), "kind": "FlinkApplication",
			"metadata": map[string]any{"name": "probe", "namespace": "default"},
			"spec":     spec,
		}}}
	}
	for _, tc := range []struct {
		name   string
		obj    *render.Object
		reject string
	}{
		{"number cpu", app(map[string]any{"cpu": 0.5, "memory": "1024m"}, ""), "spec.jobManager.resource.cpu"},
		{"undeclared field", app(map[string]any{"cpu": int64(1)}, "noSuchField"), "noSuchField"},
		{"whole cpu", app(map[string]any{"cpu": int64(1), "memory": "1024m"}, ""), ""},
		{"milli cpu", app(map[string]any{"cpu": "500m", "memory": "1536m"}, ""), ""},
	} {
		f := dryRunAll(t, cfg, []*render.Object{tc.obj}, nil)
		switch {
		case tc.reject == "" && len(f) > 0:
			t.Errorf("%s: the real schema must accept it, got %v", tc.name, f)
		case tc.reject != "" && (len(f) != 1 || !strings.Contains(f[0], tc.reject)):
			t.Errorf("%s: the real schema must refuse it at %s, got %v", tc.name, tc.reject, f)
		}
	}
}
