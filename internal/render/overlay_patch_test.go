package render

import (
	"fmt"
	"math"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/testrepo"
)

// The per-object overlay path applies map-only JSON patches to the object
// itself (mapOps); the result must be what the patch library gives through
// JSON, value types included, and anything it cannot do the same is left to
// the library, errors included.
func TestMapPatchesGiveTheLibrarysResult(t *testing.T) {
	objects := patchTestObjects(t)
	for _, c := range mapPatchCases {
		var patches []fastPatch
		for _, text := range c.patches {
			p, ok := parseFastPatch(map[string]any{"patch": text, "target": map[string]any{"kind": "FlinkDeployment"}})
			if !ok {
				t.Fatalf("%s: not a fast patch", text)
			}
			patches = append(patches, p)
		}
		for _, o := range objects {
			applied := checkMapPatches(t, patches, o)
			if applied && (o.GetName() == "orders" || o.GetName() == "odd") {
				if _, native := applyMapPatches(patches, o.Object); native != c.native {
					t.Errorf("%s on %s: applied without JSON %v, want %v", c.patches, o.GetName(), native, c.native)
				}
			}
		}
	}
}

// FuzzMapPatches applies arbitrary JSON patches both ways to the objects
// of TestMapPatchesGiveTheLibrarysResult: same result, same error.
func FuzzMapPatches(f *testing.F) {
	for _, c := range mapPatchCases {
		for _, text := range c.patches {
			f.Add(text)
		}
	}
	objects := patchTestObjects(f)
	f.Fuzz(func(t *testing.T, text string) {
		p, ok := parseFastPatch(map[string]any{"patch": text, "target": map[string]any{"kind": "FlinkDeployment"}})
		if !ok {
			return
		}
		for _, o := range objects {
			checkMapPatches(t, []fastPatch{p}, o)
		}
	})
}

// checkMapPatches checks that applyFast gives what the patch library gives
// through JSON, and leaves o as it was. It reports whether the patches
// applied.
func checkMapPatches(t *testing.T, patches []fastPatch, o *Object) bool {
	t.Helper()
	before := fmt.Sprintf("%#v", o.Object) // NaN is not DeepEqual to itself
	got, gotErr := applyFast(patches, o)
	want, wantErr := applyJSONPatches(patches, o)
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Errorf("%v on %s: error %v, want %v", patches, o.GetName(), gotErr, wantErr)
		return false
	}
	if fmt.Sprintf("%#v", o.Object) != before {
		t.Errorf("%v changed %s itself", patches, o.GetName())
	}
	if gotErr == nil && !reflect.DeepEqual(got.Object, want.Object) {
		t.Errorf("%v on %s:\n got %#v\nwant %#v", patches, o.GetName(), got.Object["spec"], want.Object["spec"])
	}
	return gotErr == nil
}

// patchTestObjects are a rendered FlinkDeployment and objects with every
// kind of value JSON changes or refuses.
func patchTestObjects(tb testing.TB) []*Object {
	var rendered *Object
	for _, o := range renderEnvTB(tb, baseFiles(), "prod").Objects {
		if o.GetKind() == "FlinkDeployment" {
			rendered = o
		}
	}
	odd := &Object{Unstructured: &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkDeployment",
		"metadata": map[string]any{"name": "odd", "labels": map[string]any{"a": "b"}},
		"spec": map[string]any{
			"half": 0.5, "whole": 2.0, "negZero": math.Copysign(0, -1), "huge": 1e21, "belowHuge": 1e21 - 1<<17,
			"top": 1 << 63 * 1.0, "bottom": -(1 << 63) * 1.0, "exact": 1<<53 - 1.0, "inexact": 1<<60 + 1<<8 + 0.0,
			"maxExact": -(1 << 53) * 1.0, "tiny": 1e-7, "small": -1.5e-300, "int": int64(5), "nilMap": map[string]any(nil),
			"nilList": []any(nil), "emptyMap": map[string]any{}, "emptyList": []any{}, "text": "héllo <&> \u2028",
			"list": []any{map[string]any{"a": 1.0}, "x"}, "null": nil, "yes": true,
			"nested": map[string]any{"deeper": map[string]any{"v": 3.0}},
		},
	}}}
	badUTF8 := odd.DeepCopy()
	badUTF8.SetName("bad-utf8")
	badUTF8.Object["spec"].(map[string]any)["text"] = "a\xffb"
	nan := odd.DeepCopy()
	nan.SetName("nan")
	nan.Object["spec"].(map[string]any)["half"] = math.NaN()
	return []*Object{rendered, odd, {Unstructured: badUTF8}, {Unstructured: nan}}
}

// mapPatchCases are patches, and whether they are applied without JSON (to
// an object that JSON leaves as it is).
var mapPatchCases = []struct {
	patches []string
	native  bool
}{
	{[]string{`[{"op": "add", "path": "/spec/podTemplate", "value": {"spec": {"tolerations": [{"key": "k", "value": 1}]}}}]`}, true},
	{[]string{`[{"op": "add", "path": "/spec/seven", "value": 7}, {"op": "add", "path": "/spec/sevenFloat", "value": 7.0}, {"op": "add", "path": "/spec/big", "value": 12345678901234567890}]`}, true},
	{[]string{`[{"op": "replace", "path": "/spec/job", "value": "s"}, {"op": "replace", "path": "/spec/missing", "value": [1, 2.5, null]}]`}, true},
	{[]string{`[{"op": "remove", "path": "/spec/image"}]`}, true},
	{[]string{`[{"op": "add", "path": "/spec/a~1b", "value": 1}, {"op": "add", "path": "/spec/c~0d~01", "value": 2}]`}, true},
	{[]string{`[{"op": "add", "path": "spec/relative", "value": 1}, {"op": "add", "path": "/spec/", "value": "empty key"}]`}, true},
	{[]string{`[{"op": "add", "path": "/spec/p", "value": {"a": 1}}]`, `[{"op": "add", "path": "/spec/p/b", "value": 2}, {"op": "remove", "path": "/spec/p/a"}]`}, true},
	{[]string{`[{"op": "add", "path": "/spec/nested/deeper/w", "value": {"x": [true]}}]`}, true},
	// Left to the library: a missing key to remove, a missing or null
	// map on the way, a list on the way, other operations, a null value.
	{[]string{`[{"op": "remove", "path": "/spec/missing"}]`}, false},
	{[]string{`[{"op": "add", "path": "/spec/nowhere/x", "value": 1}]`}, false},
	{[]string{`[{"op": "add", "path": "/spec/nilMap/x", "value": 1}]`}, false},
	{[]string{`[{"op": "add", "path": "/spec/list/0/a", "value": 2}]`}, false},
	{[]string{`[{"op": "add", "path": "/spec/list/-", "value": 2}]`}, false},
	{[]string{`[{"op": "copy", "from": "/spec/image", "path": "/spec/copied"}]`}, false},
	{[]string{`[{"op": "test", "path": "/spec/image", "value": "nope"}]`}, false},
	{[]string{`[{"op": "add", "path": "/spec/x", "value": 1}]`, `[{"op": "move", "from": "/spec/x", "path": "/spec/y"}]`}, false},
	{[]string{`[{"op": "add", "path": "/spec/null", "value": null}]`}, false},
}

// renderEnvTB renders environment env of files without an overlay.
func renderEnvTB(tb testing.TB, files map[string]string, env string) *Environment {
	tb.Helper()
	repo := testrepo.Clean[*model.Repository](tb)(model.LoadFS(testrepo.FS(files)))
	return testrepo.Clean[*Environment](tb)(Render(InputOf(repo, repo.Environment(env), fixedSize), Options{Revision: "r"}))
}
