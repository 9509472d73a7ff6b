package render

import (
	"encoding/json"
	"fmt"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/resid"
	"sigs.k8s.io/yaml"
)

// OverlayDir is the folder of the per-environment kustomize overlays.
const OverlayDir = "overlays"

// annRenderID tags each rendered object while the overlay runs, so objects
// the overlay added (and those it kept) can be told apart afterwards.
const annRenderID = "flinksync.dev/render-id"

// In the in-memory filesystem: the rendered objects form a base the user's
// overlay is pointed at.
const (
	memBase    = "/flinksync-rendered"
	memOverlay = "/" + OverlayDir
)

type overlayResult struct {
	objects []*Object
	file    string
}

// applyOverlay runs overlays/<env>/ over objs with kustomize, in memory,
// then checks what came out: names kustomize would accept but the API
// server would not, and flinksync's own labels and annotations, which an
// overlay may not set or change. Objects the overlay added get flinksync's
// labels, so they are inventoried and pruned like the rest. It returns nil
// when the environment has no overlay.
func applyOverlay(opts Options, env string, objs []*Object) (*overlayResult, error) {
	tree, err := readOverlay(opts.Source, env)
	if err != nil || tree == nil {
		return nil, err
	}
	run := &overlayRun{tree: tree, env: env, revision: opts.Revision, all: objs, nonce: newNonce()}
	root := tree.kusts[tree.dir]
	k, err := kustomizationMap(root)
	if err != nil {
		return nil, &OverlayError{File: tree.file, Err: err}
	}
	var out []*Object
	var origin []int
	if !perObjectSafe(k) || len(objs) <= overlayChunk {
		if out, origin, err = run.kustomize(root, objs); err != nil {
			return nil, err
		}
		return run.finish(out, origin)
	}
	// Large environment, per-object overlay: run the env-level objects (and
	// whatever the overlay adds) once, then the app objects in chunks with
	// the overlay's own resources left out. kustomize's resource map costs
	// O(n²) in objects per run; chunks keep a 2,000-app render fast.
	var envObjs, appObjs []int
	for i, o := range objs {
		if o.App == "" {
			envObjs = append(envObjs, i)
		} else {
			appObjs = append(appObjs, i)
		}
	}
	pick := func(idx []int) []*Object {
		out := make([]*Object, len(idx))
		for i, j := range idx {
			out[i] = objs[j]
		}
		return out
	}
	if out, origin, err = run.kustomize(root, pick(envObjs)); err != nil {
		return nil, err
	}
	patchesOnly := *root
	patchesOnly.Resources = nil
	delete(k, "resources")
	// An overlay made only of label and annotation pairs and targeted JSON
	// patches that leave metadata alone is applied to the app objects here,
	// with the JSON patch library kustomize itself uses: the same result
	// without kustomize's YAML round trips per object.
	if plan, ok := fastOverlay(k); ok {
		for _, i := range appObjs {
			o, err := plan.apply(objs[i])
			if err != nil {
				// kustomize, run over the object alone, fails the same
				// way and finds the patch at fault.
				if _, _, kerr := run.kustomize(&patchesOnly, objs[i:i+1]); kerr != nil {
					return nil, kerr
				}
				return nil, &OverlayError{File: tree.file, Err: fmt.Errorf("kustomize overlay failed: %v", err)}
			}
			out, origin = append(out, o), append(origin, i)
		}
		return run.finish(out, origin)
	}
	for start := 0; start < len(appObjs); start += overlayChunk {
		part, from, err := run.kustomize(&patchesOnly, pick(appObjs[start:min(start+overlayChunk, len(appObjs))]))
		if err != nil {
			return nil, err
		}
		out, origin = append(out, part...), append(origin, from...)
	}
	return run.finish(out, origin)
}

// kustomizationMap is k as a generic map, with kustomize's own spelling of
// every key, for the checks that decide how to run the overlay.
func kustomizationMap(k *types.Kustomization) (map[string]any, error) {
	b, err := json.Marshal(k)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// overlayChunk is how many app objects one kustomize run takes when the
// overlay allows chunking (measured: 200 keeps the quadratic part small).
// Tests lower it to exercise the chunked paths on small inputs.
var overlayChunk = 200

// fastPatch is a JSON 6902 patch with its target.
type fastPatch struct {
	target *types.SelectorRegex
	ops    jsonpatch.Patch
	// mapOps are ops when all of them change maps only (mapOps), else nil:
	// applied to the object itself, without encoding it to JSON.
	mapOps []mapOp
}

// fastPlan is an overlay flinksync can apply to app objects by itself.
type fastPlan struct {
	labels, annotations map[string]string
	patches             []fastPatch
}

// fastOverlay returns the fast plan of k when k (without resources) holds
// only `labels` pairs (no selector, template or field options),
// `commonAnnotations`, and `patches` that are all inline JSON 6902 patches
// selected by group, version, kind, name or namespace that change nothing
// under /metadata, /kind or /apiVersion. For the Flink kinds, kustomize sets
// such labels and annotations in metadata only, and such patches commute
// with them, so the result is kustomize's.
func fastOverlay(k map[string]any) (*fastPlan, bool) {
	plan := &fastPlan{labels: map[string]string{}, annotations: map[string]string{}}
	for key, v := range k {
		switch key {
		case "apiVersion", "kind", "metadata":
		case "labels":
			list, _ := v.([]any)
			for _, e := range list {
				m, _ := e.(map[string]any)
				for opt, ov := range m {
					switch opt {
					case "pairs":
						pairs, _ := ov.(map[string]any)
						for lk, lv := range pairs {
							s, ok := lv.(string)
							if !ok {
								return nil, false
							}
							plan.labels[lk] = s
						}
					case "includeSelectors", "includeTemplates":
						if b, _ := ov.(bool); b {
							return nil, false
						}
					default:
						return nil, false
					}
				}
			}
		case "commonAnnotations":
			m, _ := v.(map[string]any)
			for ak, av := range m {
				s, ok := av.(string)
				if !ok {
					return nil, false
				}
				plan.annotations[ak] = s
			}
		case "patches":
			list, _ := v.([]any)
			for _, p := range list {
				fp, ok := parseFastPatch(p)
				if !ok {
					return nil, false
				}
				plan.patches = append(plan.patches, fp)
			}
		default:
			return nil, false
		}
	}
	return plan, true
}

func parseFastPatch(p any) (fastPatch, bool) {
	m, _ := p.(map[string]any)
	text, _ := m["patch"].(string)
	tm, _ := m["target"].(map[string]any)
	if text == "" || tm == nil || m["path"] != nil || m["options"] != nil {
		return fastPatch{}, false
	}
	var sel types.Selector
	for key, v := range tm {
		s, _ := v.(string)
		switch key {
		case "group":
			sel.Group = s
		case "version":
			sel.Version = s
		case "kind":
			sel.Kind = s
		case "name":
			sel.Name = s
		case "namespace":
			sel.Namespace = s
		default: // label and annotation selectors
			return fastPatch{}, false
		}
	}
	re, err := types.NewSelectorRegex(&sel)
	if err != nil {
		return fastPatch{}, false
	}
	text = strings.TrimSpace(text)
	raw := []byte(text)
	if !strings.HasPrefix(text, "[") {
		if raw, err = yaml.YAMLToJSON(raw); err != nil {
			return fastPatch{}, false
		}
	}
	var ops []map[string]any
	if err := json.Unmarshal(raw, &ops); err != nil || len(ops) == 0 {
		return fastPatch{}, false
	}
	for _, op := range ops {
		for _, f := range []string{"path", "from"} {
			p, _ := op[f].(string)
			if strings.HasPrefix(p, "/metadata") || p == "/kind" || p == "/apiVersion" || (f == "path" && p == "") {
				return fastPatch{}, false
			}
		}
	}
	decoded, err := jsonpatch.DecodePatch(raw)
	if err != nil {
		return fastPatch{}, false
	}
	fp := fastPatch{target: re, ops: decoded}
	if m, ok := mapOps(decoded); ok {
		fp.mapOps = m
	}
	return fp, true
}

// apply applies the plan to a copy of o.
func (p *fastPlan) apply(o *Object) (*Object, error) {
	patched, err := applyFast(p.patches, o)
	if err != nil {
		return nil, err
	}
	if len(p.labels)+len(p.annotations) == 0 {
		return patched, nil
	}
	c := *patched
	if patched == o { // no patch applied: o is not a copy yet
		c.Unstructured = o.DeepCopy()
	}
	if len(p.labels) > 0 {
		l := c.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		for k, v := range p.labels {
			l[k] = v
		}
		c.SetLabels(l)
	}
	if len(p.annotations) > 0 {
		a := c.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		for k, v := range p.annotations {
			a[k] = v
		}
		c.SetAnnotations(a)
	}
	return &c, nil
}

// applyFast applies the matching patches to a copy of o; it returns o
// itself when none matches.
func applyFast(patches []fastPatch, o *Object) (*Object, error) {
	gvk := o.GroupVersionKind()
	gvkID := resid.Gvk{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind}
	var matched []fastPatch
	for _, p := range patches {
		if p.target.MatchGvk(gvkID) && p.target.MatchName(o.GetName()) && p.target.MatchNamespace(o.GetNamespace()) {
			matched = append(matched, p)
		}
	}
	if len(matched) == 0 {
		return o, nil
	}
	if obj, ok := applyMapPatches(matched, o.Object); ok {
		c := *o
		c.Unstructured = &unstructured.Unstructured{Object: obj}
		return &c, nil
	}
	return applyJSONPatches(matched, o)
}

// applyMapPatches applies patches to a copy of obj without JSON (mapOps),
// reporting false when that cannot give the library's result.
func applyMapPatches(patches []fastPatch, obj map[string]any) (map[string]any, bool) {
	for _, p := range patches {
		if p.mapOps == nil {
			return nil, false
		}
	}
	c, ok := jsonCopy(obj)
	out, _ := c.(map[string]any)
	if !ok || out == nil {
		return nil, false
	}
	for _, p := range patches {
		if !applyMapOps(out, p.mapOps) {
			return nil, false
		}
	}
	return out, true
}

// applyJSONPatches applies patches to a copy of o as kustomize does:
// through JSON, with the patch library.
func applyJSONPatches(patches []fastPatch, o *Object) (*Object, error) {
	var doc []byte
	for _, p := range patches {
		if doc == nil {
			var err error
			if doc, err = json.Marshal(o.Object); err != nil {
				return nil, err
			}
		}
		var err error
		if doc, err = p.ops.Apply(doc); err != nil {
			return nil, fmt.Errorf("%s: %v", o.ID(), err)
		}
	}
	var m map[string]any
	if err := utiljson.Unmarshal(doc, &m); err != nil {
		return nil, err
	}
	c := *o
	c.Unstructured = &unstructured.Unstructured{Object: m}
	return &c, nil
}

// perObjectSafe reports whether an overlay only transforms each object on
// its own (labels, annotations, images, patches selected by target), so
// running it over parts of the objects gives the same result as one run.
// Name prefixes, generators, replacements and patches matched by name
// relate objects to each other and need one run.
func perObjectSafe(k map[string]any) bool {
	for key, v := range k {
		switch key {
		case "apiVersion", "kind", "metadata", "resources", "labels", "commonLabels", "commonAnnotations", "images":
		case "patches":
			list, _ := v.([]any)
			for _, p := range list {
				m, _ := p.(map[string]any)
				if _, ok := m["target"]; !ok {
					return false
				}
			}
		default:
			return false
		}
	}
	return true
}

// jsonNumbers converts the plain ints kustomize hands back into int64, as
// Unstructured requires, in place.
func jsonNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = jsonNumbers(e)
		}
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case uint64:
		return int64(x)
	case float32:
		return float64(x)
	}
	return v
}
