package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// dryRunAll server-side applies every object (of kinds, when not nil) with
// dryRun=All and returns the failures, one line each.
func dryRunAll(t *testing.T, cfg *rest.Config, objs []*render.Object, kinds map[string]bool) []string {
	t.Helper()
	var us []*unstructured.Unstructured
	for _, o := range objs {
		if kinds == nil || kinds[o.GetKind()] {
			us = append(us, o.Unstructured)
		}
	}
	return testenv.DryRunApply(t, cfg, us)
}

// TestRenderedObjectsAcceptedByAPIServer: every Kubernetes object rendered
// for examples/repo-layout passes a server-side dry-run apply on a real API
// server with the project's CRDs. A target: cmf environment renders CMF's
// REST payloads, not Kubernetes objects: the CMF stand-in checks those
// against CMF's API description (cmd/flinksync's TestExampleCMFEnvironment).
func TestRenderedObjectsAcceptedByAPIServer(t *testing.T) {
	cfg := testenv.Config(t)
	res := runExample(t, "abc")
	n := 0
	for _, name := range res.Environments() {
		out := res.Rendered[name]
		if len(out.Objects) > 0 && render.IsCMF(out.Objects[0].Unstructured) {
			continue
		}
		testenv.CreateNamespace(t, cfg, out.Namespace)
		if f := dryRunAll(t, cfg, out.Objects, nil); len(f) > 0 {
			t.Errorf("environment %s: rejected:\n  %s", name, strings.Join(f, "\n  "))
		}
		n += len(out.Objects)
	}
	if n < 30 {
		t.Fatalf("only %d objects rendered", n)
	}
}

// TestRenderedFKOObjectsAcceptedByRealFKOSchema replaces the project's
// FlinkDeployment and FlinkSessionJob CRDs with the real operator 1.15 CRDs
// from ../shared/reference/crds (present beside the checkout in CI) and
// dry-runs every rendered FlinkDeployment against them.
func TestRenderedFKOObjectsAcceptedByRealFKOSchema(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "..", "shared", "reference", "crds")
	files, _ := filepath.Glob(filepath.Join(dir, "*.yml"))
	if len(files) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must have the real FKO CRDs in %s", dir)
		}
		t.Skipf("the real FKO CRDs are not at %s (CI has them beside the checkout)", dir)
	}
	cfg := testenv.Config(t)
	ext, err := apiextclient.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var real apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(data, &real); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		cur, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, real.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ours := cur.DeepCopy()
		t.Cleanup(func() { restoreCRD(t, ext, ours) })
		cur.Spec = real.Spec
		if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("installing the real %s: %v", real.Name, err)
		}
	}
	waitRealSchema(t, cfg)
	res := runExample(t, "abc")
	fd := 0
	for _, name := range res.Environments() {
		out := res.Rendered[name]
		testenv.CreateNamespace(t, cfg, out.Namespace)
		for _, o := range out.Objects {
			if o.GetKind() == "FlinkDeployment" {
				fd++
			}
		}
		if f := dryRunAll(t, cfg, out.Objects, map[string]bool{"FlinkDeployment": true, "FlinkSessionJob": true}); len(f) > 0 {
			t.Errorf("environment %s: rejected by the real FKO schema:\n  %s", name, strings.Join(f, "\n  "))
		}
	}
	if fd == 0 {
		t.Fatal("no FlinkDeployment was checked")
	}
	// The real schema is strict too: an undeclared field is refused.
	bad := &render.Object{Unstructured: &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkDeployment",
		"metadata": map[string]any{"name": "bad", "namespace": "flink-dev"},
		"spec":     map[string]any{"flinkVersion": "v1_20", "noSuchField": "x"},
	}}}
	if f := dryRunAll(t, cfg, []*render.Object{bad}, nil); len(f) != 1 || !strings.Contains(f[0], "noSuchField") {
		t.Errorf("the real schema must refuse an undeclared field, got %v", f)
	}
}

func restoreCRD(t *testing.T, ext apiextclient.Interface, ours *apiextensionsv1.CustomResourceDefinition) {
	ctx := context.Background()
	cur, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, ours.Name, metav1.GetOptions{})
	if err != nil {
		t.Errorf("restoring %s: %v", ours.Name, err)
		return
	}
	cur.Spec = ours.Spec
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Errorf("restoring %s: %v", ours.Name, err)
	}
}

// waitRealSchema waits until the API server validates FlinkDeployments with
// the real schema: it accepts spec.ingress.tls, which only the real CRD
// declares.
func waitRealSchema(t *testing.T, cfg *rest.Config) {
	t.Helper()
	probe := &render.Object{Unstructured: &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkDeployment",
		"metadata": map[string]any{"name": "probe", "namespace": "default"},
		"spec":     map[string]any{"flinkVersion": "v1_20", "ingress": map[string]any{"template": "x", "tls": []any{}}},
	}}}
	var last []string
	err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		last = dryRunAll(t, cfg, []*render.Object{probe}, nil)
		return len(last) == 0, nil
	})
	if err != nil {
		t.Fatalf("the real FKO schema is not served: %v", last)
	}
}
