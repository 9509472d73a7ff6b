package render

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// YAML writes the objects as one YAML stream, each document starting with
// "---". Keys are sorted, so the bytes are the same on every run.
func YAML(objs []*Object) ([]byte, error) {
	var buf bytes.Buffer
	for _, o := range objs {
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", o.ID(), err)
		}
		buf.WriteString("---\n")
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

// FileName is the file an object is written to under its environment's
// folder: "<kind>-<name>.yaml", lower case, with the namespace when the
// object is not in the environment's namespace.
func FileName(o *Object, namespace string) string {
	name := strings.ToLower(o.GetKind()) + "-" + o.GetName()
	if ns := o.GetNamespace(); ns != "" && ns != namespace {
		name = ns + "-" + name
	}
	return name + ".yaml"
}

// WriteDir writes one file per object under dir/<environment>/, replacing
// what an earlier render left there.
func WriteDir(dir string, envs []*Environment) error {
	for _, e := range envs {
		d := filepath.Join(dir, e.Name)
		if err := os.RemoveAll(d); err != nil {
			return err
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		for _, o := range e.Objects {
			b, err := yaml.Marshal(o.Object)
			if err != nil {
				return fmt.Errorf("%s: %v", o.ID(), err)
			}
			if err := os.WriteFile(filepath.Join(d, FileName(o, e.Namespace)), b, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}
