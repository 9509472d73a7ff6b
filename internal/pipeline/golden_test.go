package pipeline

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flinksync/flinksync/internal/render"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

const example = "../../examples/repo-layout"

// fixedNow keeps waiver expiry stable in tests.
var fixedNow = time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)

func runExample(t testing.TB, revision string) *Result {
	t.Helper()
	res, err := Run(os.DirFS(example), Options{Revision: revision, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestGoldenRender compares the rendered objects of examples/repo-layout
// with testdata/golden/<env>.yaml. Run `go test ./internal/pipeline -update`
// after a deliberate change and review the diff.
func TestGoldenRender(t *testing.T) {
	res := runExample(t, "0123456789abcdef0123456789abcdef01234567")
	if len(res.Blocked) > 0 {
		t.Fatalf("the example must not be blocked: %v", res.Blocked)
	}
	for _, name := range res.Environments() {
		got, err := render.YAML(res.Rendered[name].Objects)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", "golden", name+".yaml")
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./internal/pipeline -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: rendered output differs from %s; run with -update and review the diff", name, path)
		}
	}
}

func TestRenderTwiceIsByteIdentical(t *testing.T) {
	a, b := runExample(t, "r1"), runExample(t, "r1")
	for _, name := range a.Environments() {
		ya, _ := render.YAML(a.Rendered[name].Objects)
		yb, _ := render.YAML(b.Rendered[name].Objects)
		if !bytes.Equal(ya, yb) {
			t.Errorf("%s: two renders differ", name)
		}
	}
}

func TestOverlayOfProdShowsUp(t *testing.T) {
	res := runExample(t, "")
	prod := res.Rendered["prod"]
	if prod.Overlay != "overlays/prod/kustomization.yaml" {
		t.Fatalf("prod overlay not applied: %q", prod.Overlay)
	}
	n := 0
	for _, o := range prod.Objects {
		if o.GetLabels()["cost-center"] != "data-platform" {
			t.Errorf("%s lacks the overlay's label", o.ID())
		}
		if o.GetKind() == "FlinkDeployment" {
			n++
			tol, ok, _ := nestedSlice(o.Object, "spec", "podTemplate", "spec", "tolerations")
			if !ok || len(tol) != 1 {
				t.Errorf("%s lacks the overlay's toleration", o.ID())
			}
		}
	}
	if n == 0 {
		t.Fatal("no FlinkDeployment in prod")
	}
	for _, o := range res.Rendered["staging"].Objects {
		if _, ok := o.GetLabels()["cost-center"]; ok {
			t.Errorf("the prod overlay leaked into staging: %s", o.ID())
		}
	}
}

func nestedSlice(obj map[string]any, path ...string) ([]any, bool, error) {
	cur := any(obj)
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false, nil
		}
		if cur, ok = m[p]; !ok {
			return nil, false, nil
		}
	}
	s, ok := cur.([]any)
	return s, ok, nil
}
