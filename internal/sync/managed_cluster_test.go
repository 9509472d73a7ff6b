package sync

import (
	"context"
	"os"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flinksync/flinksync/internal/pipeline"
)

// patchAs merge-patches a FlinkDeployment of env as another field manager
// would (kubectl patch, a script).
func (f *fixture) patchAs(manager, env, name, patch string) {
	f.t.Helper()
	if _, err := f.dyn.Resource(fdGVR).Namespace(f.ns(env)).Patch(context.Background(), name, types.MergePatchType, []byte(patch),
		metav1.PatchOptions{FieldManager: manager}); err != nil {
		f.t.Fatal(err)
	}
}

// observe is drift and diff of one environment, changing nothing.
func (f *fixture) observe(env string) (*Result, []ObjectDiff) {
	f.t.Helper()
	res, err := pipeline.Run(os.DirFS(f.dir), pipeline.Options{Revision: "rev1"})
	if err != nil {
		f.t.Fatal(err)
	}
	e := res.Repo.Environment(env)
	obs := f.syncer.Sync(context.Background(), e, res.Rendered[env], Options{Mode: ModeObserve})
	diffs, err := f.syncer.Diff(context.Background(), e, res.Rendered[env])
	if err != nil {
		f.t.Fatal(err)
	}
	return obs, diffs
}

func flinkConf(u *unstructured.Unstructured, key string) (string, bool) {
	v, ok, _ := unstructured.NestedString(u.Object, "spec", "flinkConfiguration", key)
	return v, ok
}

// TestAddedKeyIsDriftAndCorrectRemovesIt: a key another field manager adds
// to spec.flinkConfiguration (Git does not declare it) is drift, named in
// drift and shown by diff; drift: correct removes it and converges, drift:
// warn leaves it and keeps reporting it.
func TestAddedKeyIsDriftAndCorrectRemovesIt(t *testing.T) {
	f := newFixture(t) // dev: drift warn; staging: correct
	ctx := context.Background()
	mustOK(t, f.pass(ctx, Options{}))
	const key, field = "taskmanager.debug.memory.log", `spec.flinkConfiguration["taskmanager.debug.memory.log"]`
	for _, env := range []string{"dev", "staging"} {
		f.patchAs("kubectl-patch", env, "orders-enrich", `{"spec":{"flinkConfiguration":{"`+key+`":"true"}}}`)
		obs, diffs := f.observe(env)
		if len(obs.Drift) != 1 || obs.Drift[0].Name != "orders-enrich" || obs.Drift[0].Field != field ||
			obs.Drift[0].Live != "true" || obs.Drift[0].Desired != notInGit {
			t.Fatalf("%s: drift must name the added key, got %+v", env, obs.Drift)
		}
		if len(diffs) != 1 || !strings.Contains(diffs[0].Unified, "-    "+key+": \"true\"") {
			t.Fatalf("%s: diff must show the added key going away, got %+v", env, diffs)
		}
	}
	before := f.writes.Load()
	r := f.pass(ctx, Options{})
	mustOK(t, r)
	if v, ok := flinkConf(f.fd("staging", "orders-enrich"), key); ok {
		t.Errorf("correct mode must remove the added key, it is still %q", v)
	}
	if v, ok := flinkConf(f.fd("dev", "orders-enrich"), key); !ok || v != "true" {
		t.Errorf("warn mode must leave the added key, got %q %v", v, ok)
	}
	if r["dev"].Count(Drifted) != 1 || len(r["dev"].Drift) != 1 || r["dev"].Drift[0].Field != field {
		t.Errorf("warn mode reports the added key: %s %+v", r["dev"].Summary(), r["dev"].Drift)
	}
	if r["staging"].Count(Configured) != 1 || len(r["staging"].Drift) != 1 {
		t.Errorf("staging corrects one object: %s", r["staging"].Summary())
	}
	// The patch that removes the key, the apply after it, and the
	// inventory recording the upgrade the correction starts (FKO restarts
	// the job for a spec change: upgrade.go follows it); nothing else.
	if got := f.writes.Load() - before; got != 3 {
		t.Errorf("correcting one added key takes a patch, an apply and the inventory's upgrade mark, got %d writes", got)
	}
	if obs, _ := f.observe("staging"); len(obs.Drift) != 0 {
		t.Errorf("after correction there is no drift: %+v", obs.Drift)
	}
	before = f.writes.Load()
	mustOK(t, f.pass(ctx, Options{}))
	if got := f.writes.Load() - before; got != 0 {
		t.Errorf("the next pass must write nothing, got %d writes", got)
	}
}

// TestIgnoreRulesHideFromDriftDiffAndCorrect: an environment's rule (a
// path Git declares and a manager), an app's own rule and the
// fko-autoscaler preset hide their fields from drift and diff, and a
// drift: correct pass leaves them as they are live, while it still
// removes what no rule covers. Without the preset, the autoscaler's key
// is drift.
func TestIgnoreRulesHideFromDriftDiffAndCorrect(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.edit("environments/staging.yaml", "    drift: correct\n", `    drift: correct
    ignore:
      - kind: FlinkDeployment
        name: orders-enrich
        paths: [/spec/taskManager/replicas]
      - managers: [team-scaler]
`)
	f.edit("apps/orders-enrich.yaml", "  overrides:\n", "  ignore:\n    - paths: [/metadata/annotations/example.com~1on-call]\n  overrides:\n")
	mustOK(t, f.pass(ctx, Options{}))
	f.patchAs("kubectl-edit", "staging", "orders-enrich", `{"spec":{"taskManager":{"replicas":17}}}`)
	f.patchAs("team-scaler", "staging", "orders-enrich", `{"spec":{"flinkConfiguration":{"team.note":"scaled by hand"}}}`)
	f.patchAs("someone", "staging", "orders-enrich", `{"metadata":{"annotations":{"example.com/on-call":"ana"}}}`)
	f.patchAs("autoscaler", "staging", "orders-enrich",
		`{"spec":{"job":{"autoscalerResetNonce":3},"flinkConfiguration":{"pipeline.jobvertex-parallelism-overrides":"aa:4,bb:2"}}}`)
	if obs, diffs := f.observe("staging"); len(obs.Drift) != 0 || len(diffs) != 0 {
		t.Fatalf("every change is ignored: drift %+v, diffs %+v", obs.Drift, diffs)
	}

	// One change no rule covers: the pass corrects it and only it.
	f.patchAs("kubectl-patch", "staging", "orders-enrich", `{"metadata":{"labels":{"debug":"on"}},"spec":{"flinkConfiguration":{"pipeline.max-parallelism":"360"}}}`)
	obs, diffs := f.observe("staging")
	if len(obs.Drift) != 2 || len(diffs) != 1 || strings.Contains(diffs[0].Unified, "replicas") || strings.Contains(diffs[0].Unified, "overrides") {
		t.Fatalf("only the label and max-parallelism are drift: %+v\n%+v", obs.Drift, diffs)
	}
	mustOK(t, f.pass(ctx, Options{}))
	u := f.fd("staging", "orders-enrich")
	if got, _, _ := unstructured.NestedInt64(u.Object, "spec", "taskManager", "replicas"); got != 17 {
		t.Errorf("an ignored path is never reverted: replicas %d", got)
	}
	for key, want := range map[string]string{"team.note": "scaled by hand", "pipeline.jobvertex-parallelism-overrides": "aa:4,bb:2", "pipeline.max-parallelism": "720"} {
		if got, _ := flinkConf(u, key); got != want {
			t.Errorf("flinkConfiguration[%s] = %q, want %q", key, got, want)
		}
	}
	if got, _, _ := unstructured.NestedInt64(u.Object, "spec", "job", "autoscalerResetNonce"); got != 3 {
		t.Errorf("the preset keeps autoscalerResetNonce: %d", got)
	}
	if u.GetAnnotations()["example.com/on-call"] != "ana" || u.GetLabels()["debug"] != "" {
		t.Errorf("the app's rule keeps its annotation, the label goes: %v %v", u.GetAnnotations(), u.GetLabels())
	}
	if obs, _ := f.observe("staging"); len(obs.Drift) != 0 {
		t.Errorf("converged: %+v", obs.Drift)
	}

	// Without the presets the autoscaler's fields are drift.
	f.edit("environments/staging.yaml", "    ignore:\n", "    presets: []\n    ignore:\n")
	obs, _ = f.observe("staging")
	var fields []string
	for _, d := range obs.Drift {
		fields = append(fields, d.Field)
	}
	want := []string{`spec.flinkConfiguration["pipeline.jobvertex-parallelism-overrides"]`, "spec.job.autoscalerResetNonce"}
	if strings.Join(fields, " ") != strings.Join(want, " ") {
		t.Errorf("presets: [] reports the autoscaler's fields: got %q, want %q", fields, want)
	}
}

// TestRemovalWaitsWhenTheObjectChanged: the patch that removes what another
// manager added tests the resourceVersion the pass read. When the object
// changed after the read, nothing is removed and the object fails for this
// pass, saying why; the next pass removes it.
func TestRemovalWaitsWhenTheObjectChanged(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	mustOK(t, f.pass(ctx, Options{}))
	f.patchAs("kubectl-patch", "staging", "orders-enrich", `{"spec":{"flinkConfiguration":{"x.added":"1"}}}`)
	res, err := pipeline.Run(os.DirFS(f.dir), pipeline.Options{Revision: "rev1"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.syncer.read(ctx, res.Repo.Environment("staging"), res.Rendered["staging"])
	if err != nil {
		t.Fatal(err)
	}
	f.patchAs("someone", "staging", "orders-enrich", `{"spec":{"flinkConfiguration":{"y.later":"2"}}}`)
	if !f.syncer.apply(ctx, st, false) {
		t.Fatal("the pass must fail the object that changed after it was read")
	}
	for _, p := range st.objects {
		if p.obj.GetName() == "orders-enrich" && (p.action != Failed || !strings.Contains(p.message, "x.added") || !strings.Contains(p.message, "changed since")) {
			t.Errorf("the failure must name the field and why: %s %q", p.action, p.message)
		}
	}
	u := f.fd("staging", "orders-enrich")
	if _, ok := flinkConf(u, "x.added"); !ok {
		t.Error("nothing is removed from an object that changed after the read")
	}
	mustOK(t, f.pass(ctx, Options{}))
	u = f.fd("staging", "orders-enrich")
	for _, key := range []string{"x.added", "y.later"} {
		if v, ok := flinkConf(u, key); ok {
			t.Errorf("the next pass removes %s, still %q", key, v)
		}
	}
}
