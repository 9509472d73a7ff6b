package sync

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

func TestOwnedBy(t *testing.T) {
	yes := true
	ref := func(kind, name, uid string, controller bool) metav1.OwnerReference {
		r := metav1.OwnerReference{APIVersion: "flink.apache.org/v1beta1", Kind: kind, Name: name, UID: types.UID(uid)}
		if controller {
			r.Controller = &yes
		}
		return r
	}
	obj := func(refs ...metav1.OwnerReference) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkDeployment"}}
		u.SetOwnerReferences(refs)
		return u
	}
	ours := map[types.UID]bool{"u-ours": true}
	for _, tc := range []struct {
		name string
		live *unstructured.Unstructured
		ours map[types.UID]bool
		want string
	}{
		{"no owner", obj(), ours, ""},
		{"a Blue/Green child", obj(ref("FlinkBlueGreenDeployment", "orders", "u-bg", true)), ours, "FlinkBlueGreenDeployment orders (its controller)"},
		{"an owner that is not the controller", obj(ref("ConfigMap", "keep", "u-cm", false)), ours, "ConfigMap keep"},
		{"an owner flinksync applies in this pass", obj(ref("FlinkDeployment", "parent", "u-ours", false)), ours, ""},
		{"ours and another", obj(ref("FlinkDeployment", "parent", "u-ours", false), ref("FlinkApplication", "app", "u-cfk", true)), ours, "FlinkApplication app (its controller)"},
		{"prune counts every owner", obj(ref("FlinkDeployment", "parent", "u-ours", false)), nil, "FlinkDeployment parent"},
	} {
		if got := ownedBy(tc.live, tc.ours); got != tc.want {
			t.Errorf("%s: ownedBy = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// setOwner makes kind/name, in the cluster, owned by owner (as the
// Blue/Green controller or CMF would make what they create).
func (f *fixture) setOwner(gvr schema.GroupVersionResource, ns, name string, owner *unstructured.Unstructured) {
	f.t.Helper()
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"ownerReferences": []map[string]any{{
		"apiVersion": owner.GetAPIVersion(), "kind": owner.GetKind(), "name": owner.GetName(), "uid": string(owner.GetUID()), "controller": true,
	}}}})
	if _, err := f.dyn.Resource(gvr).Namespace(ns).Patch(context.Background(), name, types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: "blue-green-controller"}); err != nil {
		f.t.Fatal(err)
	}
}

// A FlinkDeployment that flinksync applied (its labels, the ApplySet mark,
// listed in the inventory) and that another controller then took as its
// child is neither corrected nor pruned: the pass reports a conflict
// naming the owner while Git still declares it, and keeps it, retained
// with the owner named, once Git no longer does.
func TestOwnedObjectIsNeverCorrectedOrPruned(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const env = "staging" // drift: correct
	ns := f.ns(env)
	mustOK(t, map[string]*Result{env: f.syncEnv(ctx, env, Options{})})
	f.create(cmGVR, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "blue-green-parent", "namespace": ns},
	}})
	parent := f.get(cmGVR, ns, "blue-green-parent")
	f.setOwner(fdGVR, ns, "orders-enrich", parent)
	patch := []byte(`{"spec":{"taskManager":{"replicas":17}}}`)
	if _, err := f.dyn.Resource(fdGVR).Namespace(ns).Patch(ctx, "orders-enrich", types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: "blue-green-controller"}); err != nil {
		t.Fatal(err)
	}

	r := f.syncEnv(ctx, env, Options{})
	c := changeOf(t, r, "FlinkDeployment", ns, "orders-enrich")
	if c.Action != Conflict || !strings.Contains(c.Message, "owned by ConfigMap blue-green-parent") {
		t.Errorf("an owned object must not be corrected: %s %q", c.Action, c.Message)
	}
	if got, _, _ := unstructured.NestedInt64(f.fd(env, "orders-enrich").Object, "spec", "taskManager", "replicas"); got != 17 {
		t.Errorf("the owner's replicas were overwritten: %d", got)
	}
	if !inInventory(t, f, ns, "FlinkDeployment", "orders-enrich") {
		t.Fatalf("the inventory must still list orders-enrich (the case prune must get right)")
	}

	f.remove("apps/orders-enrich.yaml")
	r = f.syncEnv(ctx, env, Options{})
	c = changeOf(t, r, "FlinkDeployment", ns, "orders-enrich")
	if c.Action != Retained || !strings.Contains(c.Message, "owned by ConfigMap blue-green-parent (its controller)") {
		t.Errorf("an owned object must be retained, naming its owner: %s %q", c.Action, c.Message)
	}
	if r.Count(Pruned) != 0 {
		t.Errorf("pruned %d object(s): %+v", r.Count(Pruned), r.Changes)
	}
	if f.get(fdGVR, ns, "orders-enrich") == nil {
		t.Fatalf("the owned FlinkDeployment was deleted")
	}
	if inInventory(t, f, ns, "FlinkDeployment", "orders-enrich") {
		t.Errorf("the inventory must stop listing an object another controller owns")
	}
}
