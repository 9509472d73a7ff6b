package sync

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/render"
)

var (
	saGVR          = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
	clusterRoleGVR = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}
)

// run runs the pipeline over the fixture's repository.
func (f *fixture) run() *pipeline.Result {
	f.t.Helper()
	res, err := pipeline.Run(os.DirFS(f.dir), pipeline.Options{Revision: "rev1", Now: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

// syncEnv runs the pipeline and syncs one environment.
func (f *fixture) syncEnv(ctx context.Context, env string, opts Options) *Result {
	f.t.Helper()
	res := f.run()
	opts.Blocked = res.Blocked[env]
	return f.syncer.Sync(ctx, res.Repo.Environment(env), res.Rendered[env], opts)
}

// create makes obj in the cluster as another tool would (kubectl create).
func (f *fixture) create(gvr schema.GroupVersionResource, obj *unstructured.Unstructured) {
	f.t.Helper()
	if _, err := f.dyn.Resource(gvr).Namespace(obj.GetNamespace()).Create(context.Background(), obj, metav1.CreateOptions{FieldManager: "kubectl-create"}); err != nil {
		f.t.Fatal(err)
	}
}

// get reads an object; nil when it does not exist.
func (f *fixture) get(gvr schema.GroupVersionResource, ns, name string) *unstructured.Unstructured {
	f.t.Helper()
	u, err := f.dyn.Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return u
}

// annotate sets one annotation on a live object, as kubectl annotate would.
func (f *fixture) annotate(gvr schema.GroupVersionResource, ns, name, key, value string) {
	f.t.Helper()
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{key: value}}})
	if _, err := f.dyn.Resource(gvr).Namespace(ns).Patch(context.Background(), name, types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: "kubectl-annotate"}); err != nil {
		f.t.Fatal(err)
	}
}

// changeOf finds the change of one object in a result.
func changeOf(t *testing.T, r *Result, kind, ns, name string) Change {
	t.Helper()
	for _, c := range r.Changes {
		if c.ID() == kind+"/"+ns+"/"+name {
			return c
		}
	}
	t.Fatalf("no change for %s/%s/%s in %+v", kind, ns, name, r.Changes)
	return Change{}
}

func inInventory(t *testing.T, f *fixture, ns, kind, name string) bool {
	t.Helper()
	inv, err := f.syncer.readInventory(context.Background(), ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range inv {
		if (kind == "" || e.Kind == kind) && e.Name == name {
			return true
		}
	}
	return false
}

func managedByUs(u *unstructured.Unstructured) bool {
	return u.GetLabels()[render.LabelManagedBy] == render.ManagedByValue
}

// A ServiceAccount a team made by hand, named in the environment's
// spec.serviceAccount, is not taken over, so a later change never prunes
// it; annotated flinksync.dev/adopt=dev it is taken over, and then pruned
// like any object of the environment.
func TestForeignServiceAccountIsNeitherTakenOverNorPruned(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ns := f.ns("dev")
	mustOK(t, map[string]*Result{"dev": f.syncEnv(ctx, "dev", Options{})})
	f.create(saGVR, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ServiceAccount",
		"metadata": map[string]any{"name": "team-sa", "namespace": ns, "labels": map[string]any{"team": "payments"}},
	}})

	f.edit("environments/dev.yaml", "serviceAccount: flink", "serviceAccount: team-sa")
	r := f.syncEnv(ctx, "dev", Options{})
	c := changeOf(t, r, "ServiceAccount", ns, "team-sa")
	if r.OK() || c.Action != Conflict {
		t.Fatalf("a foreign ServiceAccount must be a conflict and the pass not OK: %s, %+v", r.Summary(), c)
	}
	for _, want := range []string{"ServiceAccount " + ns + "/team-sa exists", "not flinksync's", "kubectl-create", "flinksync.dev/adopt=dev"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("the conflict must say %q: %s", want, c.Message)
		}
	}
	if sa := f.get(saGVR, ns, "team-sa"); managedByUs(sa) || sa.GetLabels()[LabelApplySetPart] != "" {
		t.Errorf("the ServiceAccount was written: labels %v", sa.GetLabels())
	}
	if inInventory(t, f, ns, "ServiceAccount", "team-sa") {
		t.Errorf("a foreign object must not enter the inventory")
	}
	if r.Count(Pruned) != 0 {
		t.Errorf("a pass with a refused object prunes nothing: %+v", r.Changes)
	}

	// Git goes back to its own ServiceAccount: the team's one stays.
	f.edit("environments/dev.yaml", "serviceAccount: team-sa", "serviceAccount: flink")
	r = f.syncEnv(ctx, "dev", Options{})
	mustOK(t, map[string]*Result{"dev": r})
	if f.get(saGVR, ns, "team-sa") == nil {
		t.Fatalf("the foreign ServiceAccount was pruned: %+v", r.Changes)
	}

	// The team hands it over.
	f.annotate(saGVR, ns, "team-sa", AnnAdopt, "dev")
	f.edit("environments/dev.yaml", "serviceAccount: flink", "serviceAccount: team-sa")
	r = f.syncEnv(ctx, "dev", Options{})
	mustOK(t, map[string]*Result{"dev": r})
	if c := changeOf(t, r, "ServiceAccount", ns, "team-sa"); c.Action != Configured || !strings.Contains(c.Message, "adopted") {
		t.Errorf("an annotated object is adopted: %+v", c)
	}
	sa := f.get(saGVR, ns, "team-sa")
	if !managedByUs(sa) || sa.GetLabels()[LabelApplySetPart] != ApplySetID(ns) || !inInventory(t, f, ns, "ServiceAccount", "team-sa") {
		t.Fatalf("the adopted ServiceAccount must be flinksync's now: labels %v", sa.GetLabels())
	}
	r = f.syncEnv(ctx, "dev", Options{})
	// The label the team set, which Git does not declare, is drift now (dev
	// warns: reported, left alone); the annotation that handed it over is not.
	if !r.OK() || r.Count(Unchanged) != len(r.Changes)-1 || len(r.Drift) != 1 || r.Drift[0].Field != "metadata.labels.team" {
		t.Errorf("after adoption the next pass writes nothing and reports the team's label: %s %+v", r.Summary(), r.Changes)
	}
	f.edit("environments/dev.yaml", "serviceAccount: team-sa", "serviceAccount: flink")
	r = f.syncEnv(ctx, "dev", Options{})
	if c := changeOf(t, r, "ServiceAccount", ns, "team-sa"); c.Action != Pruned {
		t.Errorf("an adopted object is pruned once Git drops it: %+v", c)
	}
}

// An object in Git (as an overlay would add it) that forges flinksync's
// labels, even the ApplySet mark, does not take over an existing object of
// another owner; nor may Git declare flinksync's own inventory.
func TestForgedLabelsInGitDoNotTakeOverAForeignObject(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ns := f.ns("dev")
	f.create(cmGVR, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "team-config", "namespace": ns},
		"data":     map[string]any{"owner": "payments"},
	}})
	res := f.run()
	env, out := res.Repo.Environment("dev"), *res.Rendered["dev"]
	forged := func(name string, data map[string]any) *render.Object {
		return &render.Object{FromOverlay: true, Unstructured: &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": name, "namespace": ns, "labels": map[string]any{
				render.LabelManagedBy: render.ManagedByValue, render.LabelEnvironment: "dev", LabelApplySetPart: ApplySetID(ns)}},
			"data": data,
		}}}
	}
	forgedInv, _ := json.Marshal([]Entry{{ObjectID: ObjectID{Kind: "ConfigMap", Namespace: ns, Name: "team-config"}}})
	withForged := out
	withForged.Objects = append(append([]*render.Object{}, out.Objects...),
		forged("team-config", map[string]any{"owner": "payments"}),
		forged(InventoryName, map[string]any{inventoryKey: string(forgedInv)}))
	// And a FlinkDeployment of the same name as another team's running job.
	for _, o := range out.Objects {
		if o.GetKind() == "FlinkDeployment" {
			theirs := o.DeepCopy()
			theirs.SetName("team-job")
			theirs.SetLabels(map[string]string{"team": "payments"})
			f.create(fdGVR, theirs)
			mine := &render.Object{Unstructured: o.DeepCopy()}
			mine.SetName("team-job")
			withForged.Objects = append(withForged.Objects, mine)
			break
		}
	}

	r := f.syncer.Sync(ctx, env, &withForged, Options{})
	if r.OK() {
		t.Fatalf("the pass must not be OK: %s", r.Summary())
	}
	if c := changeOf(t, r, "ConfigMap", ns, "team-config"); c.Action != Conflict || !strings.Contains(c.Message, "flinksync.dev/adopt=dev") {
		t.Errorf("forged labels must not take the object over: %+v", c)
	}
	if c := changeOf(t, r, "ConfigMap", ns, InventoryName); c.Action != Conflict || !strings.Contains(c.Message, "inventory") {
		t.Errorf("Git may not declare the inventory: %+v", c)
	}
	if c := changeOf(t, r, "FlinkDeployment", ns, "team-job"); c.Action != Conflict {
		t.Errorf("another team's FlinkDeployment must not be taken over: %+v", c)
	}
	for _, h := range r.Health {
		if h.App == "team-job" && (h.Health != Unknown || !strings.Contains(h.Message, "not flinksync's")) {
			t.Errorf("the health of another team's job is not reported as ours: %+v", h)
		}
	}
	if fd := f.get(fdGVR, ns, "team-job"); managedByUs(fd) {
		t.Errorf("the foreign FlinkDeployment was written: %v", fd.GetLabels())
	}
	if cm := f.get(cmGVR, ns, "team-config"); managedByUs(cm) {
		t.Errorf("the foreign ConfigMap was written: %v", cm.GetLabels())
	}
	if inInventory(t, f, ns, "ConfigMap", "team-config") {
		t.Errorf("the foreign ConfigMap entered the inventory")
	}

	// The overlay object goes away: the foreign ConfigMap stays.
	r = f.syncer.Sync(ctx, env, &out, Options{})
	mustOK(t, map[string]*Result{"dev": r})
	if f.get(cmGVR, ns, "team-config") == nil {
		t.Fatalf("the foreign ConfigMap was pruned: %+v", r.Changes)
	}
}

var cmGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// An inventory edited by hand to list objects in another namespace, a
// cluster-scoped object, and an object that wears flinksync's labels
// without its ApplySet mark: prune deletes none of them.
func TestHandEditedInventoryNeverPrunesOutsideTheEnvironment(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ns, other := f.ns("dev"), f.ns("staging")
	mustOK(t, map[string]*Result{"dev": f.syncEnv(ctx, "dev", Options{})})
	labels := map[string]string{render.LabelManagedBy: render.ManagedByValue, render.LabelEnvironment: "dev", LabelApplySetPart: ApplySetID(ns)}

	copyFD := func(ns, name string, labels map[string]string) {
		obj := f.fd("dev", "orders-enrich").DeepCopy()
		obj.SetNamespace(ns)
		obj.SetName(name)
		obj.SetResourceVersion("")
		obj.SetUID("")
		obj.SetManagedFields(nil)
		obj.SetLabels(labels)
		unstructured.RemoveNestedField(obj.Object, "status")
		f.create(fdGVR, obj)
	}
	copyFD(other, "victim", labels)
	copyFD(ns, "lookalike", map[string]string{render.LabelManagedBy: render.ManagedByValue, render.LabelEnvironment: "dev"})
	crName := "flinksync-victim" + f.suffix
	cr := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
		"metadata": map[string]any{"name": crName}, "rules": []any{}}}
	cr.SetLabels(labels)
	f.create(clusterRoleGVR, cr)
	t.Cleanup(func() {
		_ = f.dyn.Resource(clusterRoleGVR).Delete(context.Background(), crName, metav1.DeleteOptions{})
	})

	inv, err := f.syncer.readInventory(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []Entry{
		{ObjectID: ObjectID{Group: "flink.apache.org", Kind: "FlinkDeployment", Namespace: other, Name: "victim"}},
		{ObjectID: ObjectID{Group: "flink.apache.org", Kind: "FlinkDeployment", Namespace: ns, Name: "lookalike"}},
		{ObjectID: ObjectID{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: crName}},
		{ObjectID: ObjectID{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole", Namespace: ns, Name: crName}},
	} {
		inv[e.Key()] = e
	}
	raw, _ := json.Marshal(inv.sorted())
	patch, _ := json.Marshal(map[string]any{"data": map[string]string{inventoryKey: string(raw)}})
	if _, err := f.dyn.Resource(cmGVR).Namespace(ns).Patch(ctx, InventoryName, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}

	r := f.syncEnv(ctx, "dev", Options{})
	if r.Count(Pruned) != 0 {
		t.Errorf("nothing may be pruned: %+v", r.Changes)
	}
	if f.get(fdGVR, other, "victim") == nil || f.get(fdGVR, ns, "lookalike") == nil || f.get(clusterRoleGVR, "", crName) == nil {
		t.Fatalf("prune deleted an object outside the environment: %+v", r.Changes)
	}
	for id, want := range map[string]string{
		"FlinkDeployment/" + other + "/victim": "outside the environment's namespace",
		"FlinkDeployment/" + ns + "/lookalike": "not the mark flinksync writes",
		"ClusterRole//" + crName:               "outside the environment's namespace",
		"ClusterRole/" + ns + "/" + crName:     "cluster-scoped",
	} {
		found := false
		for _, c := range r.Changes {
			if c.ID() == id {
				found = true
				if c.Action != Retained || !strings.Contains(c.Message, want) {
					t.Errorf("%s: want retained, %q: %+v", id, want, c)
				}
			}
		}
		if !found {
			t.Errorf("%s: not reported", id)
		}
	}
	for _, name := range []string{"victim", "lookalike", crName} {
		if inInventory(t, f, ns, "", name) {
			t.Errorf("%s must be dropped from the inventory", name)
		}
	}
}
