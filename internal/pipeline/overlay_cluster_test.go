package pipeline_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/sync"
	"github.com/flinksync/flinksync/internal/testenv"
)

// An object an overlay adds is applied with flinksync's labels, so it is
// inventoried like the rest, and pruned once the overlay drops it, on a
// real API server.
func TestOverlayObjectIsLabelledAndPruned(t *testing.T) {
	cfg := testenv.Config(t)
	dir := t.TempDir()
	testenv.CopyTree(t, "../../examples/repo-layout", dir, testenv.UniqueNamespaces(t, cfg, "-ovl"))
	kust := filepath.Join(dir, "overlays/prod/kustomization.yaml")
	orig, err := os.ReadFile(kust)
	if err != nil {
		t.Fatal(err)
	}
	write := func(p string, data []byte) {
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(kust, append(append([]byte{}, orig...), "resources:\n- extra.yaml\n"...))
	write(filepath.Join(dir, "overlays/prod/extra.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: flink-prod-ovl\ndata: {a: b}\n"))

	s, err := sync.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pass := func() *sync.Result {
		t.Helper()
		res, err := pipeline.Run(os.DirFS(dir), pipeline.Options{Revision: "rev1", Now: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		if b := res.Blocked["prod"]; len(b) > 0 {
			t.Fatalf("prod blocked: %v", b)
		}
		r := s.Sync(ctx, res.Repo.Environment("prod"), res.Rendered["prod"], sync.Options{})
		if len(r.Errors) > 0 {
			t.Fatalf("sync: %v", r.Errors)
		}
		return r
	}
	pass()
	ns := "flink-prod-ovl"
	kc := kubernetes.NewForConfigOrDie(cfg)
	cm, err := kc.CoreV1().ConfigMaps(ns).Get(ctx, "extra", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l := cm.Labels; l[render.LabelManagedBy] != render.ManagedByValue || l[render.LabelEnvironment] != "prod" {
		t.Fatalf("the overlay's ConfigMap lacks flinksync's labels: %v", l)
	}

	write(kust, orig)
	r := pass()
	pruned := false
	for _, c := range r.Changes {
		pruned = pruned || (c.Kind == "ConfigMap" && c.Name == "extra" && c.Action == sync.Pruned)
	}
	if _, err := kc.CoreV1().ConfigMaps(ns).Get(ctx, "extra", metav1.GetOptions{}); !pruned || !apierrors.IsNotFound(err) {
		t.Fatalf("the ConfigMap the overlay no longer adds must be pruned: pruned=%v, get: %v (%+v)", pruned, err, r.Changes)
	}
}
