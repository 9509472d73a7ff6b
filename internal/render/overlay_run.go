package render

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// overlayRun is one environment's overlay applied to its rendered objects.
type overlayRun struct {
	tree          *overlayTree
	env, revision string
	// all are the environment's rendered objects, before the overlay.
	all []*Object
	// nonce makes the render-id annotations of this run unguessable, so an
	// overlay cannot pass an object of its own off as one of flinksync's.
	nonce string
}

func newNonce() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// kustomize runs kustomization k (the overlay's, or a part of it) over part
// of all in an in-memory filesystem holding only the overlay's checked
// files, every kustomization confined. It returns the objects and, for
// each, the index in all of the object it was rendered from, or -1 for an
// object the overlay added. kustomize's own errors are placed at the patch
// that causes them (blame).
func (r *overlayRun) kustomize(k *types.Kustomization, part []*Object) ([]*Object, []int, error) {
	out, origin, err := r.kustomizeOnce(k, part)
	if ke, ok := err.(*kustomizeError); ok {
		return nil, nil, r.blame(k, part, ke)
	}
	return out, origin, err
}

// kustomizeOnce is kustomize without placing kustomize's own errors
// (a *kustomizeError) in the overlay.
func (r *overlayRun) kustomizeOnce(k *types.Kustomization, part []*Object) ([]*Object, []int, error) {
	t := r.tree
	fail := func(err error) ([]*Object, []int, error) {
		return nil, nil, &OverlayError{File: t.file, Err: err}
	}
	ids := make(map[*Object]int, len(r.all))
	for i, o := range r.all {
		ids[o] = i
	}
	mem := filesys.MakeFsInMemory()
	inMem := func(p string) string { return memOverlay + strings.TrimPrefix(p, OverlayDir) }
	for p, b := range t.files {
		if err := mem.WriteFile(inMem(p), b); err != nil {
			return fail(err)
		}
	}
	for dir, kd := range t.kusts {
		if dir == t.dir {
			continue
		}
		if err := writeKustomization(mem, inMem(dir), kd); err != nil {
			return fail(err)
		}
	}
	var stream strings.Builder
	for _, o := range part {
		// Tag the object for the run (without copying it), then untag it.
		ann := o.GetAnnotations()
		had := ann != nil
		if ann == nil {
			ann = map[string]string{}
		}
		ann[annRenderID] = r.nonce + "-" + strconv.Itoa(ids[o])
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
			return fail(err)
		}
		stream.WriteString("---\n")
		stream.Write(b)
		stream.WriteString("\n")
	}
	if err := mem.WriteFile(memBase+"/rendered.yaml", []byte(stream.String())); err != nil {
		return fail(err)
	}
	if err := mem.WriteFile(memBase+"/kustomization.yaml", []byte("resources:\n- rendered.yaml\n")); err != nil {
		return fail(err)
	}
	withBase := *k
	withBase.Resources = append([]string{"../../" + strings.TrimPrefix(memBase, "/")}, k.Resources...)
	memDir := inMem(t.dir)
	if err := writeKustomization(mem, memDir, &withBase); err != nil {
		return fail(err)
	}

	rm, err := krusty.MakeKustomizer(sandboxOptions()).Run(mem, memDir)
	if err != nil {
		return nil, nil, &kustomizeError{fmt.Errorf("kustomize overlay failed: %s", strings.ReplaceAll(err.Error(), memOverlay+"/", OverlayDir+"/"))}
	}
	var out []*Object
	var origin []int
	for _, res := range rm.Resources() {
		m, err := res.Map()
		if err != nil {
			return fail(err)
		}
		u := &unstructured.Unstructured{Object: jsonNumbers(m).(map[string]any)}
		o := &Object{Unstructured: u, File: t.file, Line: t.addedLine, FromOverlay: true}
		from := -1
		ann := u.GetAnnotations()
		if id, ok := ann[annRenderID]; ok {
			n, isOurs := strings.CutPrefix(id, r.nonce+"-")
			i, err := strconv.Atoi(n)
			if !isOurs || err != nil || i < 0 || i >= len(r.all) {
				file, line := t.locate(annRenderID)
				return nil, nil, overlayErr(file, line, "%s carries flinksync's internal annotation %s; overlays may not set flinksync's labels or annotations", o.ID(), annRenderID)
			}
			from = i
			o.App, o.File, o.Line, o.FromOverlay, o.Ignore = r.all[i].App, r.all[i].File, r.all[i].Line, false, r.all[i].Ignore
			delete(ann, annRenderID)
			if len(ann) == 0 {
				ann = nil
			}
			u.SetAnnotations(ann)
		}
		out, origin = append(out, o), append(origin, from)
	}
	return out, origin, nil
}

// sandboxOptions are kustomize's options for overlays: files only from the
// kustomization's own folder (folders of bases may be elsewhere in
// overlays/), no exec or Go plugins, Helm off.
func sandboxOptions() *krusty.Options {
	o := krusty.MakeDefaultOptions()
	o.LoadRestrictions = types.LoadRestrictionsRootOnly
	o.PluginConfig = types.DisabledPluginConfig()
	return o
}

// writeKustomization writes the confined form of k into dir of mem.
func writeKustomization(mem filesys.FileSystem, dir string, k *types.Kustomization) error {
	c, err := confine(k)
	if err != nil {
		return err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return mem.WriteFile(path.Join(dir, "kustomization.yaml"), b)
}

// confine returns a copy of k that kustomize can only run against its
// in-memory filesystem, whatever k says and whether or not a check has
// seen it. kustomize's loader cannot be given an HTTP client or a Git
// cloner, so every entry it loads by path gets a "./" prefix: a path that
// starts with "./" is neither a URL to kustomize's HTTP loader (no scheme)
// nor a repository to its Git URL parser (no scheme, user, SCP host or
// github.com prefix), only a file of the in-memory filesystem. A patch
// written inline gets a comment line in front, for the same reason. The
// plugin and Helm fields, which could load files from configurations
// flinksync does not see, are dropped.
func confine(k *types.Kustomization) (*types.Kustomization, error) {
	b, err := json.Marshal(k)
	if err != nil {
		return nil, err
	}
	c := &types.Kustomization{}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, err
	}
	c.FixKustomization()
	for _, r := range kustomizationRefs(c) {
		if r.kind == refPatchOrInline && isInlinePatch(r.val) {
			r.set("# inline patch\n" + r.val)
		} else {
			r.set("./" + r.val)
		}
	}
	c.Generators, c.Transformers, c.Validators = nil, nil, nil
	c.HelmCharts, c.HelmGlobals, c.HelmChartInflationGenerator = nil, nil, nil
	return c, nil
}

// finish checks the overlay's output and gives the objects it added
// flinksync's labels.
func (r *overlayRun) finish(objs []*Object, origin []int) (*overlayResult, error) {
	t := r.tree
	kept := make(map[int]bool, len(objs))
	for i, o := range objs {
		if from := origin[i]; from >= 0 {
			before := r.all[from]
			if kept[from] {
				file, line := t.locate(annRenderID)
				return nil, overlayErr(file, line, "%s copies flinksync's internal annotation %s of %s; overlays may not set flinksync's labels or annotations", o.ID(), annRenderID, before.ID())
			}
			kept[from] = true
			if before.GroupVersionKind().GroupKind() != o.GroupVersionKind().GroupKind() {
				file, line := t.locate(o.GetKind())
				return nil, overlayErr(file, line, "the overlay turns %s into a %s; patch objects without changing their kind", before.ID(), o.GetKind())
			}
			if err := r.ownUnchanged(before, o); err != nil {
				return nil, err
			}
		} else if err := r.adopt(o); err != nil {
			return nil, err
		}
		if err := r.validNames(o); err != nil {
			return nil, err
		}
	}
	return &overlayResult{objects: objs, file: t.file}, nil
}

// ownLabel and ownAnnotation say which labels and annotations are
// flinksync's: sync and prune decide what flinksync owns by them.
func ownLabel(k string) bool      { return k == LabelManagedBy || strings.HasPrefix(k, "flinksync.dev/") }
func ownAnnotation(k string) bool { return strings.HasPrefix(k, "flinksync.dev/") }

// ownUnchanged refuses an overlay that set, changed or removed one of
// flinksync's labels or annotations on an object flinksync rendered.
func (r *overlayRun) ownUnchanged(before, after *Object) error {
	for _, m := range []struct {
		what          string
		before, after map[string]string
		own           func(string) bool
	}{
		{"label", before.GetLabels(), after.GetLabels(), ownLabel},
		{"annotation", before.GetAnnotations(), after.GetAnnotations(), ownAnnotation},
	} {
		for _, k := range ownKeys(m.own, m.before, m.after) {
			b, inBefore := m.before[k]
			a, inAfter := m.after[k]
			if inBefore == inAfter && a == b {
				continue
			}
			file, line := r.tree.locate(k, strings.ReplaceAll(k, "/", "~1")) // as a JSON pointer writes it
			return overlayErr(file, line, "the overlay changes flinksync's %s %s on %s (%q to %q); overlays may not set, change or remove flinksync's labels and annotations",
				m.what, k, after.ID(), b, a)
		}
	}
	return nil
}

// adopt gives an object the overlay added flinksync's labels and the
// revision, after refusing one that sets any of them itself.
func (r *overlayRun) adopt(o *Object) error {
	labels, ann := o.GetLabels(), o.GetAnnotations()
	for _, k := range ownKeys(ownLabel, labels) {
		file, line := r.tree.locate(k)
		return overlayErr(file, line, "%s, added by the overlay, sets flinksync's label %s; flinksync labels the objects it applies itself, overlays may not set its labels or annotations", o.ID(), k)
	}
	for _, k := range ownKeys(ownAnnotation, ann) {
		file, line := r.tree.locate(k)
		return overlayErr(file, line, "%s, added by the overlay, sets flinksync's annotation %s; overlays may not set flinksync's labels or annotations", o.ID(), k)
	}
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelManagedBy] = ManagedByValue
	labels[LabelEnvironment] = r.env
	o.SetLabels(labels)
	if r.revision != "" {
		if ann == nil {
			ann = map[string]string{}
		}
		ann[AnnRevision] = r.revision
		o.SetAnnotations(ann)
	}
	return nil
}

// ownKeys returns the keys of the maps that own accepts, sorted.
func ownKeys(own func(string) bool, maps ...map[string]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range maps {
		for k := range m {
			if own(k) && !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

// validNames refuses a name or namespace the API server would refuse: a
// namespace is a DNS-1123 label, a Namespace's name too, a Service's name a
// DNS-1035 label, any other name a DNS-1123 subdomain. Names become file
// names (render --out) and Markdown (PR comments): nothing else may pass.
func (r *overlayRun) validNames(o *Object) error {
	name, ns := o.GetName(), o.GetNamespace()
	var errs []string
	switch o.GetKind() {
	case "Namespace":
		errs = validation.IsDNS1123Label(name)
	case "Service":
		errs = validation.IsDNS1035Label(name)
	default:
		errs = validation.IsDNS1123Subdomain(name)
	}
	if len(errs) > 0 {
		file, line := r.tree.locate(name, "namePrefix:", "nameSuffix:")
		return overlayErr(file, line, "the overlay produces a %s named %q, which the API server refuses: %s", o.GetKind(), name, strings.Join(errs, "; "))
	}
	if ns == "" {
		return nil
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		file, line := r.tree.locate(ns, "namespace:")
		return overlayErr(file, line, "the overlay puts %s %q in namespace %q, which the API server refuses: %s", o.GetKind(), name, ns, strings.Join(errs, "; "))
	}
	return nil
}
