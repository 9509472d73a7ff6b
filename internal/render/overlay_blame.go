//lint:file-ignore SA1019 kustomize still applies its deprecated patch lists (patchesStrategicMerge, patchesJson6902), so blame searches them too.

package render

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	"sigs.k8s.io/kustomize/api/types"
)

// kustomizeError is kustomize's own error for a run: it names no file or
// line of the overlay (a patch that matches nothing, a JSON patch whose
// path is missing, a failed test operation), so blame looks for one.
type kustomizeError struct{ err error }

func (e *kustomizeError) Error() string { return e.err.Error() }

// patchList is one of a kustomization's lists of patches, in the order
// kustomize applies them: strategic merge patches, then patches, then
// (after the labels, annotations and names) JSON 6902 patches.
type patchList struct {
	field string
	keep  func(k *types.Kustomization, n int)
}

var patchLists = []patchList{
	{"patchesStrategicMerge", func(k *types.Kustomization, n int) { k.PatchesStrategicMerge = k.PatchesStrategicMerge[:n] }},
	{"patches", func(k *types.Kustomization, n int) { k.Patches = k.Patches[:n] }},
	{"patchesJson6902", func(k *types.Kustomization, n int) { k.PatchesJson6902 = k.PatchesJson6902[:n] }},
}

// blame places kustomize's error ke for k (the environment's
// kustomization, or a part of it) over part at the patch entry that causes
// it: the first entry, in the order kustomize applies them, whose patches
// up to and including it fail when those before it do not. kustomize stops
// at a patch's error, so the run fails for every prefix from that entry on
// and a binary search finds it in a few runs (on the error path only). An
// error no patch causes (or one inside a base or component) stays at the
// kustomization's file.
func (r *overlayRun) blame(k *types.Kustomization, part []*Object, ke *kustomizeError) error {
	oe := &OverlayError{File: r.tree.file, Err: ke.err}
	counts := []int{len(k.PatchesStrategicMerge), len(k.Patches), len(k.PatchesJson6902)}
	total := 0
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return oe
	}
	// withFirst is k with only its first n patch entries.
	withFirst := func(n int) *types.Kustomization {
		c := *k
		for i, l := range patchLists {
			l.keep(&c, min(n, counts[i]))
			n -= min(n, counts[i])
		}
		return &c
	}
	fails := func(n int) bool {
		if n == total {
			return true // known
		}
		_, _, err := r.kustomizeOnce(withFirst(n), part)
		_, ok := err.(*kustomizeError)
		return ok
	}
	n := sort.Search(total+1, fails)
	if n == 0 {
		return oe // not a patch's error
	}
	at := n - 1
	for i, l := range patchLists {
		if at < counts[i] {
			entry := fmt.Sprintf("%s[%d]", l.field, at)
			oe.Line = r.tree.lineOf(l.field, at)
			oe.Err = fmt.Errorf("%s: %w", entry, ke.err)
			break
		}
		at -= counts[i]
	}
	return oe
}

// lineOf is the line of the field at path in the environment's
// kustomization, or 0.
func (t *overlayTree) lineOf(path ...any) int {
	docs, err := parseYAML(t.file, t.raw[t.file], 0)
	if err != nil || len(docs) != 1 || docs[0].Kind != yaml.MappingNode {
		return 0 // cannot happen: the file was parsed when it was read
	}
	return lineAt(docs[0], path...)
}

// decodeField finds the field a kustomization's decoding error is about:
// encoding/json names it "Go struct field Kustomization.patches.target".
var decodeField = regexp.MustCompile(`Go struct field Kustomization\.([\w.]+) of type`)

// decodeErrorLine is the line of the field that err, an error decoding
// the kustomization under root, names, or of the document.
func decodeErrorLine(root *yaml.Node, err error) int {
	m := decodeField.FindStringSubmatch(err.Error())
	if m == nil {
		return root.Line
	}
	var path []any
	for _, f := range strings.Split(m[1], ".") {
		path = append(path, f)
	}
	return lineAt(root, path...)
}
