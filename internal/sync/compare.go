package sync

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/flinksync/flinksync/internal/redact"
	"github.com/flinksync/flinksync/internal/render"
)

// FieldDiff is one field whose desired and live values differ.
type FieldDiff struct {
	Field   string `json:"field"`
	Desired string `json:"desired"`
	Live    string `json:"live"`
}

// hashOf hashes an object as flinksync would apply it, leaving out the
// revision annotation: a new commit that does not change an object does not
// rewrite it.
func hashOf(obj map[string]any) string {
	c := WithoutRevision(obj)
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// WithoutRevision returns obj without the revision annotation (a shallow
// copy when it has one): the annotation records which commit last changed
// an object, so comparisons leave it out.
func WithoutRevision(obj map[string]any) map[string]any {
	md, _ := obj["metadata"].(map[string]any)
	ann, _ := md["annotations"].(map[string]any)
	if _, ok := ann[render.AnnRevision]; !ok {
		return obj
	}
	c := make(map[string]any, len(obj))
	for k, v := range obj {
		c[k] = v
	}
	mdc := make(map[string]any, len(md))
	for k, v := range md {
		mdc[k] = v
	}
	annc := make(map[string]any, len(ann))
	for k, v := range ann {
		if k != render.AnnRevision {
			annc[k] = v
		}
	}
	if len(annc) == 0 {
		delete(mdc, "annotations")
	} else {
		mdc["annotations"] = annc
	}
	c["metadata"] = mdc
	return c
}

// compare is the local pre-check: it lists the fields where live may not
// hold what desired says: every field of desired must be in live with the
// same value as the server sees it (covers: numbers by value, quantities
// at quantity paths by value; live may have more: defaults, status, other
// managers' fields), and every field flinksync owns in live must still be
// in desired (else applying removes it). The revision annotation is not
// compared. An empty list means the object is unchanged; otherwise the
// server decides (Syncer.confirm). The values in the list are masked
// (internal/redact): they go to drift reports, apply's output, the status
// API and alerts.
func compare(desired, live *unstructured.Unstructured) []FieldDiff {
	var out []FieldDiff
	kind := desired.GetKind()
	d := WithoutRevision(desired.Object)
	for _, k := range sortedKeys(d) {
		switch k {
		case "apiVersion", "kind":
			continue
		case "metadata":
			dm, _ := d[k].(map[string]any)
			lm, _ := live.Object[k].(map[string]any)
			for _, part := range []string{"labels", "annotations"} {
				if dv, ok := dm[part]; ok {
					subset(kind, []string{"metadata", part}, dv, lm[part], &out)
				}
			}
		default:
			subset(kind, []string{k}, d[k], live.Object[k], &out)
		}
	}
	for _, p := range ownedNotDesired(desired, live) {
		out = append(out, FieldDiff{Field: p, Desired: removedFromGit,
			Live: render1(redact.Field(kind, splitPath(p), lookup(live.Object, p)))})
	}
	return out
}

// subset records where live does not contain desired at path (map keys
// from the root of an object of the given kind), as the server sees it
// (covers).
func subset(kind string, path []string, desired, live any, out *[]FieldDiff) {
	if dv, ok := desired.(map[string]any); ok {
		if lv, ok := live.(map[string]any); ok {
			for _, k := range sortedKeys(dv) {
				subset(kind, append(path[:len(path):len(path)], k), dv[k], lv[k], out)
			}
			return
		}
	}
	if !covers(kind, path, desired, live) {
		*out = append(*out, FieldDiff{Field: pathString(path),
			Desired: render1(redact.Field(kind, path, desired)), Live: render1(redact.Field(kind, path, live))})
	}
}

// contains reports whether live holds every field of desired with the same
// value (covers, at no particular path); lists must have the same length,
// element by element.
func contains(desired, live any) bool { return covers("", nil, desired, live) }

// ownedNotDesired lists the map fields flinksync owns in live (its apply
// entry in managedFields) that desired no longer has. It walks the
// entry's fieldsV1 as the object holds it: a field's path is its leading
// field names (the names before a list element's key, value or index),
// so an element's fields count as their list's. Parsing each entry into a
// fieldpath.Set to walk its leaves took a tenth of a no-op pass over
// 10,000 objects.
func ownedNotDesired(desired, live *unstructured.Unstructured) []string {
	var out []string
	eachEntry(live, func(manager string, apply bool, fields map[string]any) {
		if manager != FieldManager || !apply {
			return
		}
		seen := map[string]bool{}
		check := func(names []string) {
			if len(names) == 0 || (names[0] == "metadata" && len(names) >= 3 && names[2] == render.AnnRevision) {
				return
			}
			key := strings.Join(names, "\x00")
			if seen[key] {
				return
			}
			seen[key] = true
			if _, ok, _ := unstructured.NestedFieldNoCopy(desired.Object, names...); !ok {
				out = append(out, pathString(names))
			}
		}
		walkOwned(fields, nil, check)
	})
	sort.Strings(out)
	return out
}

// walkOwned calls leaf with the leading field names of every leaf of a
// fieldsV1 map (a key with nothing under it but "."), and of every list
// element (a key "k:", "v:" or "i:"), under names. Keys of an unknown kind
// are left out, as fieldpath leaves them out.
func walkOwned(fields map[string]any, names []string, leaf func([]string)) {
	for k, v := range fields {
		if k == "." {
			continue
		}
		switch {
		case strings.HasPrefix(k, "f:"):
			path := append(names[:len(names):len(names)], k[2:])
			under, _ := v.(map[string]any)
			_, member := under["."]
			if len(under) == 0 || (member && len(under) == 1) {
				leaf(path)
				continue
			}
			walkOwned(under, path, leaf)
		case strings.HasPrefix(k, "k:"), strings.HasPrefix(k, "v:"), strings.HasPrefix(k, "i:"):
			leaf(names)
		}
	}
}

func lookup(obj map[string]any, path string) any {
	var cur any = obj
	for _, p := range splitPath(path) {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

// pathString is the field path of map keys (fieldPath, ignore_pointer.go):
// spec.flinkConfiguration["taskmanager.numberOfTaskSlots"].
func pathString(names []string) string { return fieldPath(names) }

// splitPath is the map keys of a field path pathString wrote.
func splitPath(p string) []string {
	names, _ := parseFieldPath(p)
	return names
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// render1 writes a value on one line for drift reports.
func render1(v any) string {
	if v == nil {
		return "<none>"
	}
	switch x := v.(type) {
	case string:
		return x
	case map[string]any, []any:
		// Without HTML escaping: masks ("<masked hmac:…>") stay readable.
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(x)
		return strings.TrimSuffix(b.String(), "\n")
	}
	return fmt.Sprint(v)
}

// masked copies obj with secret values replaced by their mask
// (internal/redact), so a diff shows that they changed without showing
// them.
func masked(obj map[string]any) map[string]any { return redact.Object(obj) }

// project keeps of live only the fields desired has (plus those flinksync
// owns and would remove), so a diff shows what flinksync manages and not
// what the server or the operator added.
func project(desired, live map[string]any) map[string]any {
	out := map[string]any{}
	for k, dv := range desired {
		lv, ok := live[k]
		if !ok {
			continue
		}
		if dm, ok := dv.(map[string]any); ok {
			if lm, ok := lv.(map[string]any); ok {
				out[k] = project(dm, lm)
				continue
			}
		}
		out[k] = lv
	}
	return out
}

// MaskedYAML is obj as diffs show it: YAML with sorted keys, without the
// revision annotation, secret values replaced by their mask. A nil
// object is an empty text.
func MaskedYAML(obj map[string]any) string {
	if obj == nil {
		return ""
	}
	b, _ := yaml.Marshal(masked(WithoutRevision(obj)))
	return string(b)
}

// UnifiedDiff is the unified diff between the live object (as far as
// flinksync manages it) and the desired one, secrets masked. live may be
// nil for an object that does not exist yet, desired nil for one to prune.
// shown are more fields of live to show (JSON pointer tokens): those
// other managers added, which Git does not declare.
func UnifiedDiff(id string, desired, live map[string]any, shown ...[]string) string {
	var a, b []byte
	if desired != nil {
		desired = WithoutRevision(desired)
	}
	if live != nil {
		view := live
		if desired != nil {
			view = project(desired, live)
			for _, k := range []string{"apiVersion", "kind"} {
				view[k] = live[k]
			}
			showFields(view, live, shown)
		} else {
			view = project(map[string]any{"apiVersion": nil, "kind": nil, "metadata": map[string]any{"name": nil, "namespace": nil, "labels": nil}, "spec": nil}, live)
		}
		a, _ = yaml.Marshal(masked(view))
	}
	if desired != nil {
		b, _ = yaml.Marshal(masked(desired))
	}
	text, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(string(a)), B: difflib.SplitLines(string(b)),
		FromFile: "live/" + id, ToFile: "git/" + id, Context: 3,
	})
	return text
}
