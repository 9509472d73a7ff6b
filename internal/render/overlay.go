package render

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
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

var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

type overlayResult struct {
	objects []*Object
	file    string
}

// ErrRemoteOverlay is returned for overlays that reach outside the repository.
var ErrRemoteOverlay = errors.New("remote bases, remote components and Helm charts are not allowed in overlays; vendor the files into the repository")

// applyOverlay runs overlays/<env>/ over objs with kustomize, in memory.
// It returns nil when the environment has no overlay.
func applyOverlay(src fs.FS, env string, objs []*Object) (*overlayResult, error) {
	dir := path.Join(OverlayDir, env)
	var file string
	var data []byte
	for _, n := range kustomizationNames {
		b, err := fs.ReadFile(src, path.Join(dir, n))
		if err == nil {
			file, data = path.Join(dir, n), b
			break
		}
	}
	if file == "" {
		return nil, nil
	}
	var k map[string]any
	if err := yaml.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("%s: not a valid kustomization: %v", file, err)
	}
	if k == nil {
		k = map[string]any{}
	}
	if err := refuseRemote(file, k); err != nil {
		return nil, err
	}
	if err := requireLocal(src, path.Dir(file), file, k); err != nil {
		return nil, err
	}

	if !perObjectSafe(k) || len(objs) <= overlayChunk {
		return runOverlay(src, env, file, k, objs, objs)
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
	res, err := runOverlay(src, env, file, k, objs, pick(envObjs))
	if err != nil {
		return nil, err
	}
	patchesOnly := map[string]any{}
	for key, v := range k {
		if key != "resources" {
			patchesOnly[key] = v
		}
	}
	// An overlay made only of label and annotation pairs and targeted JSON
	// patches that leave metadata alone is applied to the app objects here,
	// with the JSON patch library kustomize itself uses: the same result
	// without kustomize's YAML round trips per object.
	if plan, ok := fastOverlay(patchesOnly); ok {
		for _, i := range appObjs {
			o, err := plan.apply(objs[i])
			if err != nil {
				return nil, fmt.Errorf("%s: kustomize overlay failed: %v", file, err)
			}
			res.objects = append(res.objects, o)
		}
		return res, nil
	}
	for start := 0; start < len(appObjs); start += overlayChunk {
		part, err := runOverlay(src, env, file, patchesOnly, objs, pick(appObjs[start:min(start+overlayChunk, len(appObjs))]))
		if err != nil {
			return nil, err
		}
		res.objects = append(res.objects, part.objects...)
	}
	return res, nil
}

// overlayChunk is how many app objects one kustomize run takes when the
// overlay allows chunking (measured: 200 keeps the quadratic part small).
// Tests lower it to exercise the chunked paths on small inputs.
var overlayChunk = 200

// fastPatch is a JSON 6902 patch with its target.
type fastPatch struct {
	target *types.SelectorRegex
	ops    jsonpatch.Patch
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
	return fastPatch{target: re, ops: decoded}, true
}

// apply applies the plan to a copy of o.
func (p *fastPlan) apply(o *Object) (*Object, error) {
	o, err := applyFast(p.patches, o)
	if err != nil {
		return nil, err
	}
	if len(p.labels)+len(p.annotations) == 0 {
		return o, nil
	}
	c := *o
	c.Unstructured = o.DeepCopy()
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

// applyFast applies the matching patches to a copy of o.
func applyFast(patches []fastPatch, o *Object) (*Object, error) {
	gvk := o.GroupVersionKind()
	var doc []byte
	for _, p := range patches {
		if !p.target.MatchGvk(resid.Gvk{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind}) ||
			!p.target.MatchName(o.GetName()) || !p.target.MatchNamespace(o.GetNamespace()) {
			continue
		}
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
	if doc == nil {
		return o, nil
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

// runOverlay runs the kustomization k over part (a subset of all, the
// environment's rendered objects) in an in-memory filesystem.
func runOverlay(src fs.FS, env, file string, k map[string]any, all, part []*Object) (*overlayResult, error) {
	ids := make(map[*Object]int, len(all))
	for i, o := range all {
		ids[o] = i
	}
	mem := filesys.MakeFsInMemory()
	if err := copyTree(src, OverlayDir, mem, memOverlay); err != nil {
		return nil, fmt.Errorf("%s: %v", path.Dir(file), err)
	}
	var stream strings.Builder
	for _, o := range part {
		// Tag the object for the run (without copying it), then untag it.
		ann := o.GetAnnotations()
		had := ann != nil
		if ann == nil {
			ann = map[string]string{}
		}
		ann[annRenderID] = strconv.Itoa(ids[o])
		o.SetAnnotations(ann)
		// JSON is YAML, and much cheaper to write than yaml.Marshal.
		b, err := json.Marshal(o.Object)
		delete(ann, annRenderID)
		if had {
			o.SetAnnotations(ann)
		} else {
			o.SetAnnotations(nil)
		}
		if err != nil {
			return nil, err
		}
		stream.WriteString("---\n")
		stream.Write(b)
		stream.WriteString("\n")
	}
	if err := mem.WriteFile(memBase+"/rendered.yaml", []byte(stream.String())); err != nil {
		return nil, err
	}
	if err := mem.WriteFile(memBase+"/kustomization.yaml", []byte("resources:\n- rendered.yaml\n")); err != nil {
		return nil, err
	}
	kk := make(map[string]any, len(k)+1)
	for key, v := range k {
		kk[key] = v
	}
	resources, _ := k["resources"].([]any)
	kk["resources"] = append([]any{"../../" + strings.TrimPrefix(memBase, "/")}, resources...)
	patched, err := yaml.Marshal(kk)
	if err != nil {
		return nil, err
	}
	memDir := path.Join(memOverlay, env)
	if err := mem.WriteFile(path.Join(memDir, path.Base(file)), patched); err != nil {
		return nil, err
	}

	kz := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := kz.Run(mem, memDir)
	if err != nil {
		msg := strings.ReplaceAll(err.Error(), memOverlay+"/", OverlayDir+"/")
		return nil, fmt.Errorf("%s: kustomize overlay failed: %s", file, msg)
	}
	out := &overlayResult{file: file}
	for _, r := range rm.Resources() {
		m, err := r.Map()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", file, err)
		}
		u := &unstructured.Unstructured{Object: jsonNumbers(m).(map[string]any)}
		o := &Object{Unstructured: u, File: file, Line: 1, FromOverlay: true}
		ann := u.GetAnnotations()
		if id, ok := ann[annRenderID]; ok {
			if i, err := strconv.Atoi(id); err == nil && i >= 0 && i < len(all) {
				o.App, o.File, o.Line, o.FromOverlay = all[i].App, all[i].File, all[i].Line, false
			}
			delete(ann, annRenderID)
			if len(ann) == 0 {
				ann = nil
			}
			u.SetAnnotations(ann)
		}
		out.objects = append(out.objects, o)
	}
	return out, nil
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

// refuseRemote rejects kustomization entries that would fetch from outside
// the repository or run programs.
func refuseRemote(file string, k map[string]any) error {
	for _, key := range []string{"resources", "components", "bases"} {
		list, _ := k[key].([]any)
		for _, e := range list {
			s, _ := e.(string)
			if isRemote(s) {
				return fmt.Errorf("%s: %s entry %q: %w", file, key, s, ErrRemoteOverlay)
			}
		}
	}
	for _, key := range []string{"helmCharts", "helmGlobals", "helmChartInflationGenerator"} {
		if _, ok := k[key]; ok {
			return fmt.Errorf("%s: %s: %w", file, key, ErrRemoteOverlay)
		}
	}
	return nil
}

// requireLocal checks that every entry of the kustomization that kustomize
// would load as a resource or plugin config names a file or folder inside
// the repository's overlays/ folder. Anything else kustomize would try as a
// Git URL, fetching from the network.
func requireLocal(src fs.FS, dir, file string, k map[string]any) error {
	for _, key := range []string{"resources", "components", "bases", "transformers", "generators", "validators"} {
		list, _ := k[key].([]any)
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				continue // an inline plugin config
			}
			p := path.Clean(path.Join(dir, s))
			if p != OverlayDir && !strings.HasPrefix(p, OverlayDir+"/") {
				return fmt.Errorf("%s: %s entry %q is outside the %s/ folder; keep overlay files under %s/", file, key, s, OverlayDir, OverlayDir)
			}
			if _, err := fs.Stat(src, p); err != nil {
				return fmt.Errorf("%s: %s entry %q: no such file or folder in the repository (%s)", file, key, s, p)
			}
		}
	}
	return nil
}

func isRemote(s string) bool {
	return strings.Contains(s, "://") || strings.HasPrefix(s, "git@") || strings.Contains(s, "?ref=") ||
		strings.HasPrefix(s, "github.com/") || strings.HasPrefix(s, "gitlab.com/") || strings.HasPrefix(s, "bitbucket.org/")
}

// copyTree copies the files under dir of src into mem under to.
func copyTree(src fs.FS, dir string, mem filesys.FileSystem, to string) error {
	return fs.WalkDir(src, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		b, err := fs.ReadFile(src, p)
		if err != nil {
			return err
		}
		return mem.WriteFile(path.Join(to, strings.TrimPrefix(p, dir)), b)
	})
}
