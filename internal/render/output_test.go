package render

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func object(kind, ns, name string) *Object {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetAPIVersion("v1")
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return &Object{Unstructured: u}
}

// render --out stays inside its folder whatever the objects are called
// (defence in depth: render refuses such names from overlays already).
func TestWriteDirStaysInsideItsFolder(t *testing.T) {
	for _, o := range []*Object{
		object("ConfigMap", "flink-prod", "x/../../../escaped"),
		object("ConfigMap", "../../escaped", "x"),
		object("ConfigMap", "flink-prod", `..\..\escaped`),
	} {
		base := t.TempDir()
		out := filepath.Join(base, "out")
		err := WriteDir(out, []*Environment{{Name: "prod", Namespace: "flink-prod", Objects: []*Object{object("ConfigMap", "flink-prod", "ok"), o}}})
		if err == nil || !strings.Contains(err.Error(), "cannot be a file name") {
			t.Errorf("%s: want an error, got %v", o.ID(), err)
		}
		filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !strings.HasPrefix(p, filepath.Join(out, "prod")+string(filepath.Separator)) {
				t.Errorf("%s: wrote %s outside %s", o.ID(), p, out)
			}
			return nil
		})
	}
	out := t.TempDir()
	if err := WriteDir(out, []*Environment{{Name: "../prod", Objects: []*Object{object("ConfigMap", "", "x")}}}); err == nil {
		t.Errorf("an environment name with a separator must be refused")
	}
	err := WriteDir(out, []*Environment{{Name: "prod", Namespace: "a", Objects: []*Object{object("ConfigMap", "b", "x"), object("ConfigMap", "b", "x")}}})
	if err == nil || !strings.Contains(err.Error(), "both be written") {
		t.Errorf("two objects sharing a file must be refused, got %v", err)
	}
	if err := WriteDir(out, []*Environment{{Name: "prod", Namespace: "a", Objects: []*Object{object("ConfigMap", "a", "x")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "prod", "configmap-x.yaml")); err != nil {
		t.Errorf("the plain case writes its file: %v", err)
	}
}
