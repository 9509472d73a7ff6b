package testenv

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// The real Flink Kubernetes Operator 1.15 CRDs, relative to the repository
// root, read at test time (never copied into the project):
// FlinkDeployment and FlinkSessionJob in RealFKOCRDs, the kinds of
// FKO 1.10 and later (FlinkStateSnapshot, FlinkBlueGreenDeployment) in
// RealFKOExtraCRDs.
const (
	RealFKOCRDs      = "../shared/reference/crds"
	RealFKOExtraCRDs = "../shared/reference/crds-extra"
)

// FlinkStateSnapshotGVR is FKO's FlinkStateSnapshot resource, served by
// [UseRealFKOCRDs].
var FlinkStateSnapshotGVR = schema.GroupVersionResource{Group: "flink.apache.org", Version: "v1beta1", Resource: "flinkstatesnapshots"}

// UseRealFKOCRDs serves the real FKO 1.15 CRDs, FlinkStateSnapshot among
// them, until the test ends (see [UseRealCRDs], whose rules apply: not in
// parallel with other tests of the package). It returns the kinds
// installed.
func UseRealFKOCRDs(t testing.TB, cfg *rest.Config) []string {
	t.Helper()
	kinds := UseRealCRDs(t, cfg, RealFKOCRDs)
	return append(kinds, UseRealCRDs(t, cfg, RealFKOExtraCRDs)...)
}

// SetStatus plays the operator: it writes status to the status subresource
// of the object name in ns, as FKO or CFK would. No operator runs on the
// test control plane.
func SetStatus(t testing.TB, cfg *rest.Config, gvr schema.GroupVersionResource, ns, name string, status map[string]any) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ri := dyn.Resource(gvr).Namespace(ns)
	u, err := ri.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("setting the status of %s %s/%s: %v", gvr.Resource, ns, name, err)
	}
	u.Object["status"] = status
	if _, err := ri.UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("setting the status of %s %s/%s: %v", gvr.Resource, ns, name, err)
	}
}
