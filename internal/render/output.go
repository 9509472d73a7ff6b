package render

import (
	"bytes"
	"fmt"
	"os"
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
// what an earlier render left there. It writes through an os.Root opened at
// dir, so no object, whatever its kind, name or namespace, can make it
// write or remove anything outside dir; a name that is not one plain file
// name, or two objects that would share a file, are errors.
func WriteDir(dir string, envs []*Environment) error { return WriteDirProgress(dir, envs, nil) }

// WriteDirProgress is WriteDir telling progress, when set, how many of an
// environment's objects are written.
func WriteDirProgress(dir string, envs []*Environment, progress func(env string, done, total int)) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, e := range envs {
		if !plainFileName(e.Name) {
			return fmt.Errorf("environment %q cannot be a folder name", e.Name)
		}
		if err := root.RemoveAll(e.Name); err != nil {
			return err
		}
		if err := root.Mkdir(e.Name, 0o755); err != nil {
			return err
		}
		written := make(map[string]string, len(e.Objects))
		for _, o := range e.Objects {
			name := FileName(o, e.Namespace)
			if !plainFileName(name) {
				return fmt.Errorf("%s: %q cannot be a file name", o.ID(), name)
			}
			if other, dup := written[name]; dup {
				return fmt.Errorf("%s and %s would both be written to %s/%s", other, o.ID(), e.Name, name)
			}
			written[name] = o.ID()
			b, err := yaml.Marshal(o.Object)
			if err != nil {
				return fmt.Errorf("%s: %v", o.ID(), err)
			}
			if err := root.WriteFile(e.Name+"/"+name, b, 0o644); err != nil {
				return err
			}
			if progress != nil {
				progress(e.Name, len(written), len(e.Objects))
			}
		}
	}
	return nil
}

// plainFileName reports whether name is one file name in a folder: no
// separator, not "." or "..", no NUL.
func plainFileName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\\\x00")
}
