package pipeline

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

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
		for _, o := range out.Objects {
			if o.GroupVersionKind().Group == testenv.CFKGroup && !kinds[o.GetKind()] {
				t.Errorf("%s: no real CFK CRD for kind %s", o.ID(), o.GetKind())
			}
		}
		testenv.CheckCFK(t, cfg, "environment "+name, out.Objects, checked)
	}
	testenv.RequireChecked(t, checked, "FlinkEnvironment", "FlinkApplication")

	// The real schema is the judge it claims to be, and the project's test
	// CRDs (TestProjectCFKCRDsAgreeWithTheRealOnes) decide these the same.
	checkCFKJudgement(t, cfg, "the real schema")
}

// TestProjectCFKCRDsAgreeWithTheRealOnes: the project's own CFK test CRDs,
// which every other test runs against, refuse and accept the fields
// flinksync renders as the real CFK 3.3.0 CRDs do (same cases as above).
func TestProjectCFKCRDsAgreeWithTheRealOnes(t *testing.T) {
	checkCFKJudgement(t, testenv.Config(t), "the project's test CRDs")
}

// checkCFKJudgement dry-runs objects that the real CFK 3.3.0 CRDs refuse
// (at the path given) or accept, on the fields flinksync renders.
func checkCFKJudgement(t *testing.T, cfg *rest.Config, judge string) {
	t.Helper()
	obj := func(kind string, spec map[string]any) *render.Object {
		return &render.Object{Unstructured: &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": render.FlinkApplicationGVK.GroupVersion().String(), "kind": kind,
			"metadata": map[string]any{"name": "probe", "namespace": "default"},
			"spec":     spec,
		}}}
	}
	app := func(resource map[string]any, set map[string]any) *render.Object {
		spec := map[string]any{
			"flinkEnvironment": "probe",
			"flinkVersion":     "v1_20",
			"jobManager":       map[string]any{"resource": resource, "replicas": int64(1)},
			"taskManager":      map[string]any{"resource": resource, "replicas": int64(2)},
		}
		for k, v := range set {
			spec[k] = v
		}
		return obj("FlinkApplication", spec)
	}
	ok := map[string]any{"cpu": int64(1), "memory": "1024m"}
	rest := func(cmfRest map[string]any) *render.Object {
		r := map[string]any{"endpoint": "https://cmf:8080", "authentication": map[string]any{"type": "mtls"}}
		for k, v := range cmfRest {
			r[k] = v
		}
		return obj("CMFRestClass", map[string]any{"cmfRest": r})
	}
	for _, tc := range []struct {
		name   string
		obj    *render.Object
		reject string // a path in the error; "" when accepted
	}{
		{"number cpu", app(map[string]any{"cpu": 0.5, "memory": "1024m"}, nil), "resource.cpu"},
		{"cpu not a quantity", app(map[string]any{"cpu": "half", "memory": "1024m"}, nil), "resource.cpu"},
		{"undeclared field", app(ok, map[string]any{"noSuchField": "x"}), "noSuchField"},
		{"whole cpu", app(ok, nil), ""},
		{"milli cpu", app(map[string]any{"cpu": "500m", "memory": "1536m"}, nil), ""},
		{"decimal string cpu", app(map[string]any{"cpu": "0.5", "memory": "2048m"}, nil), ""},
		// Flink reads "2g", but it is no Kubernetes quantity: render writes "2048m".
		{"memory in Flink's g", app(map[string]any{"cpu": int64(1), "memory": "2g"}, nil), "resource.memory"},
		{"Flink version CFK does not run", app(ok, map[string]any{"flinkVersion": "v1_17"}), "spec.flinkVersion"},
		{"empty flinkEnvironment", app(ok, map[string]any{"flinkEnvironment": ""}), "spec.flinkEnvironment"},
		{"empty cmfRestClassRef name", app(ok, map[string]any{"cmfRestClassRef": map[string]any{"name": ""}}), "spec.cmfRestClassRef.name"},
		{"environment without namespace", obj("FlinkEnvironment", map[string]any{"cmfRestClassRef": map[string]any{"name": "x"}}), "spec.kubernetesNamespace"},
		{"environment", obj("FlinkEnvironment", map[string]any{"kubernetesNamespace": "flink-eu",
			"flinkApplicationDefaults": map[string]any{"spec": map[string]any{"flinkConfiguration": map[string]any{"a": "b"}}},
			"cmfRestClassRef":          map[string]any{"name": "x", "namespace": "y"}}), ""},
		{"CMF endpoint not a URL", rest(map[string]any{"endpoint": "cmf:8080"}), "spec.cmfRest.endpoint"},
		{"CMF TLS secret not a name", rest(map[string]any{"tls": map[string]any{"secretRef": "Bad_Name"}}), "spec.cmfRest.tls.secretRef"},
		{"CMFRestClass", rest(map[string]any{"tls": map[string]any{"secretRef": "cmf-tls"}}), ""},
	} {
		f := dryRunAll(t, cfg, []*render.Object{tc.obj}, nil)
		switch {
		case tc.reject == "" && len(f) > 0:
			t.Errorf("%s: %s must accept it, got %v", tc.name, judge, f)
		case tc.reject != "" && (len(f) != 1 || !strings.Contains(f[0], tc.reject)):
			t.Errorf("%s: %s must refuse it at %s, got %v", tc.name, judge, tc.reject, f)
		}
	}
}
