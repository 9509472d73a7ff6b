package sync

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/render"
)

func TestOwnerRule(t *testing.T) {
	const ns = "flink-dev"
	ours := map[string]string{render.LabelManagedBy: render.ManagedByValue, render.LabelEnvironment: "dev", LabelApplySetPart: ApplySetID(ns)}
	with := func(change func(l map[string]string)) map[string]string {
		l := map[string]string{}
		for k, v := range ours {
			l[k] = v
		}
		change(l)
		return l
	}
	obj := func(ns string, labels map[string]string, ann map[string]string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ServiceAccount"}}
		u.SetNamespace(ns)
		u.SetName("x")
		u.SetLabels(labels)
		u.SetAnnotations(ann)
		u.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: "kubectl-create"}})
		return u
	}
	dev := owner{env: "dev", ns: ns}
	renamed := owner{env: "qa", ns: ns, predecessor: "dev"}
	for _, tc := range []struct {
		name   string
		own    owner
		live   *unstructured.Unstructured
		why    string // "" when the object is the owner's
		adopts bool
	}{
		{"ours", dev, obj(ns, ours, nil), "", false},
		{"no labels", dev, obj(ns, nil, nil), "not flinksync's (written by kubectl-create)", false},
		{"other environment", dev, obj(ns, with(func(l map[string]string) { l[render.LabelEnvironment] = "prod" }), nil), `environment "prod"`, false},
		{"labels without the ApplySet mark", dev, obj(ns, with(func(l map[string]string) { delete(l, LabelApplySetPart) }), nil), "not the mark", false},
		{"the mark of another namespace", dev, obj(ns, with(func(l map[string]string) { l[LabelApplySetPart] = ApplySetID("elsewhere") }), nil), "not the mark", false},
		{"another namespace", dev, obj("elsewhere", ours, nil), `namespace "elsewhere"`, false},
		{"adopted by annotation", dev, obj(ns, nil, map[string]string{AnnAdopt: "dev"}), "not flinksync's", true},
		{"annotated for another environment", dev, obj(ns, nil, map[string]string{AnnAdopt: "prod"}), "not flinksync's", false},
		{"the predecessor's, after an adopted rename", renamed, obj(ns, ours, nil), "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			why := tc.own.why(tc.live)
			if (tc.why == "") != (why == "") || !strings.Contains(why, tc.why) {
				t.Errorf("why = %q, want %q", why, tc.why)
			}
			if got := tc.own.adopts(tc.live); got != tc.adopts {
				t.Errorf("adopts = %v", got)
			}
		})
	}
}

func TestOrphanMessageListsAFewObjects(t *testing.T) {
	o := Orphan{Environment: "qa", Namespace: "flink-qa", MovedTo: "flink-qa2"}
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		o.Objects = append(o.Objects, "FlinkDeployment flink-qa/"+n)
	}
	want := "environment qa moved from namespace flink-qa to flink-qa2; 7 object(s) in flink-qa are no longer managed: " +
		"FlinkDeployment flink-qa/a, FlinkDeployment flink-qa/b, FlinkDeployment flink-qa/c, FlinkDeployment flink-qa/d, FlinkDeployment flink-qa/e and 2 more; " +
		"delete them (and ConfigMap flink-qa/flinksync-inventory) or move the environment back"
	if got := o.message(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// BenchmarkOwnerCheck is the cost the ownership rule adds to a pass, per
// live object.
func BenchmarkOwnerCheck(b *testing.B) {
	const ns = "flink-dev"
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ServiceAccount"}}
	u.SetNamespace(ns)
	u.SetLabels(map[string]string{render.LabelManagedBy: render.ManagedByValue, render.LabelEnvironment: "dev", LabelApplySetPart: ApplySetID(ns)})
	own := owner{env: "dev", ns: ns}
	for i := 0; i < b.N; i++ {
		if !own.owns(u) {
			b.Fatal("not owned")
		}
	}
}
