package render

import (
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// Compact keeps every object as it was, in new maps and lists the render's
// objects do not share, with equal strings stored once.
func TestCompactKeepsTheObjectsAndSharesStrings(t *testing.T) {
	files := baseFiles()
	files["apps/payments.yaml"] = strings.ReplaceAll(app, "orders", "payments")
	for _, env := range []string{"prod", "eu"} {
		e := renderEnv(t, files, env, Options{Revision: "0123456789abcdef0123456789abcdef01234567"})
		before := make([]Object, len(e.Objects))
		for i, o := range e.Objects {
			before[i] = *o
			before[i].Unstructured = &unstructured.Unstructured{Object: runtime.DeepCopyJSON(o.Object)}
		}
		old := e.Objects
		e.Compact()
		if len(e.Objects) != len(before) || len(before) < 2 {
			t.Fatalf("%s: %d objects after Compact, %d before", env, len(e.Objects), len(before))
		}
		revs := map[unsafe.Pointer]bool{}
		for i, o := range e.Objects {
			if !reflect.DeepEqual(*o, before[i]) {
				t.Errorf("%s: object %d changed by Compact:\n%v\nwas\n%v", env, i, o.Object, before[i].Object)
			}
			// A change to the compact object leaves the render's as it was.
			unstructured.SetNestedField(o.Object, "changed", "metadata", "labels", "probe")
			if _, found, _ := unstructured.NestedString(old[i].Object, "metadata", "labels", "probe"); found {
				t.Errorf("%s: object %d shares its labels with the render's", env, i)
			}
			if rev := o.GetAnnotations()[AnnRevision]; rev != "" {
				revs[unsafe.Pointer(unsafe.StringData(rev))] = true
			}
		}
		if len(revs) != 1 {
			t.Errorf("%s: the revision is stored %d times, want once", env, len(revs))
		}
	}
}
