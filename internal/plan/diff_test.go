package plan

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/flinksync/flinksync/internal/render"
)

// TestMaskedYAMLKeepsEveryLine: the YAML taken from sync's diff is the
// object's YAML exactly, blank lines inside block scalars included.
func TestMaskedYAMLKeepsEveryLine(t *testing.T) {
	obj := map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "x", "namespace": "n", "annotations": map[string]any{render.AnnRevision: "abc"}},
		"data":     map[string]any{"script": "set -eu\n\necho one\n\n\necho two\n", "empty": ""},
	}
	want, _ := yaml.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "x", "namespace": "n"},
		"data":     map[string]any{"script": "set -eu\n\necho one\n\n\necho two\n", "empty": ""},
	})
	if got := maskedYAML("ConfigMap/n/x", obj); got != string(want) {
		t.Errorf("got:\n%q\nwant:\n%q", got, want)
	}
}

func TestMaskedYAMLMasksSecrets(t *testing.T) {
	obj := map[string]any{
		"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "s", "namespace": "n"},
		"data": map[string]any{"password": "c2VjcmV0"},
	}
	got := maskedYAML("Secret/n/s", obj)
	if strings.Contains(got, "c2VjcmV0") || !strings.Contains(got, "password: <masked hmac:") {
		t.Errorf("secret data must be masked:\n%s", got)
	}
}

func TestUnifiedAddedHasNoStrayLines(t *testing.T) {
	obj := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "x"}}
	d := unified("ConfigMap//x", nil, obj)
	want := "--- base/ConfigMap//x\n+++ head/ConfigMap//x\n@@ -0,0 +1,4 @@\n+apiVersion: v1\n+kind: ConfigMap\n+metadata:\n+  name: x\n"
	if d != want {
		t.Errorf("got:\n%s\nwant:\n%s", d, want)
	}
	if !sameObject(obj, map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "x", "annotations": map[string]any{render.AnnRevision: "r2"}}}) {
		t.Errorf("the revision annotation alone must not make objects differ")
	}
	if sameObject(obj, map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "x", "annotations": map[string]any{"other": "r2"}}}) {
		t.Errorf("another annotation must make objects differ")
	}
}
