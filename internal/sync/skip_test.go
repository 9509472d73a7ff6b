package sync

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/render"
)

// When an apply stage fails, the pass stops before the next stage: the
// objects of later stages were not written and are reported as skipped,
// never as created; the objects reported created exist.
func TestFailedStageReportsLaterObjectsAsSkipped(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ns := f.ns("dev")
	res := f.run()
	env, out := res.Repo.Environment("dev"), *res.Rendered["dev"]
	// A ConfigMap (apply stage 14, before every FlinkDeployment) the API
	// server rejects: data values must be strings.
	broken := &render.Object{Unstructured: &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "broken", "namespace": ns},
		"data":     map[string]any{"replicas": int64(3)},
	}}}
	withBroken := out
	withBroken.Objects = append(append([]*render.Object{}, out.Objects...), broken)

	r := f.syncer.Sync(ctx, env, &withBroken, Options{})
	if r.OK() {
		t.Fatalf("a failed write must fail the pass: %s", r.Summary())
	}
	if c := changeOf(t, r, "ConfigMap", ns, "broken"); c.Action != Failed {
		t.Fatalf("the rejected object fails: %+v", c)
	}
	deployments := 0
	for _, c := range r.Changes {
		if c.Kind != "FlinkDeployment" {
			continue
		}
		deployments++
		if c.Action != Skipped || !strings.Contains(c.Message, "earlier apply stage failed") {
			t.Errorf("%s: an object after the failed stage must be reported skipped, got %s %q", c.ID(), c.Action, c.Message)
		}
		if f.get(fdGVR, ns, c.Name) != nil {
			t.Errorf("%s exists, yet the stage after a failure must not run", c.ID())
		}
	}
	if deployments == 0 {
		t.Fatal("the environment renders no FlinkDeployment")
	}
	for _, c := range r.Changes {
		if c.Action == Created && c.Kind == "ServiceAccount" && f.get(saGVR, ns, c.Name) == nil {
			t.Errorf("%s is reported created but does not exist", c.ID())
		}
	}
	if !strings.Contains(r.Summary(), "not applied after a failure") || r.Count(Created)+r.Count(Skipped)+r.Count(Failed) != len(withBroken.Objects) {
		t.Errorf("the counts must add up: %s", r.Summary())
	}

	// Without the broken object the next pass writes the rest.
	r = f.syncer.Sync(ctx, env, &out, Options{})
	mustOK(t, map[string]*Result{"dev": r})
	if f.get(fdGVR, ns, "orders-enrich") == nil {
		t.Errorf("the next pass must apply what was skipped: %s", r.Summary())
	}
}
