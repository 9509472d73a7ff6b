package render

//lint:file-ignore SA1019 kustomize still reads its deprecated fields (bases, patchesStrategicMerge, patchesJson6902), so every path they hold is checked like the others.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	"sigs.k8s.io/kustomize/api/types"
)

// What an overlay may hand to kustomize. The per-file cap stays above the
// largest CRD schemas a `crds:` entry names; the total bounds a whole
// overlay, shared bases included.
const (
	maxOverlayFile  = 2 << 20
	maxOverlayBytes = 16 << 20
	maxYAMLDepth    = 100
)

// OverlayError is a problem caused by an environment's kustomize overlay,
// at the overlay file and line that causes it.
type OverlayError struct {
	File string // repository path
	Line int    // 1-based; 0 when no line applies
	Err  error
}

func (e *OverlayError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *OverlayError) Unwrap() error { return e.Err }

func overlayErr(file string, line int, format string, args ...any) *OverlayError {
	return &OverlayError{File: file, Line: line, Err: fmt.Errorf(format, args...)}
}

// ErrRemoteOverlay is returned for overlays that reach outside the repository.
var ErrRemoteOverlay = errors.New("remote bases, remote components, URLs and Helm charts are not allowed in overlays; vendor the files into the repository")

// kustomizationNames are the file names kustomize reads a kustomization from.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// kustomizationFields are the fields an overlay's kustomization may use,
// spelled exactly as kustomize documents them. kustomize matches keys
// without regard to case (with Unicode folding: `Bases:` and `reſources:`
// work), so only these byte-exact spellings are let through: what flinksync
// checks is what kustomize reads. Every field not listed (including one
// added by a later kustomize) is refused until flinksync knows whether it
// can name a file.
var kustomizationFields = map[string]bool{
	"apiVersion": true, "kind": true, "metadata": true, "openapi": true,
	"namePrefix": true, "nameSuffix": true, "namespace": true,
	"commonLabels": true, "labels": true, "commonAnnotations": true,
	"patches": true, "patchesStrategicMerge": true, "patchesJson6902": true,
	"images": true, "imageTags": true, "replacements": true, "replicas": true, "vars": true,
	"sortOptions": true, "resources": true, "bases": true, "components": true, "crds": true,
	"configMapGenerator": true, "secretGenerator": true, "generatorOptions": true,
	"configurations": true, "buildMetadata": true,
}

// refusedFields are kustomization fields flinksync never lets through, and why.
var refusedFields = map[string]error{
	"helmCharts":                  ErrRemoteOverlay,
	"helmGlobals":                 ErrRemoteOverlay,
	"helmChartInflationGenerator": ErrRemoteOverlay,
	"generators":                  errPlugins,
	"transformers":                errPlugins,
	"validators":                  errPlugins,
}

var errPlugins = errors.New("generator, transformer and validator plugin configurations are not allowed in overlays (they can load files and URLs flinksync cannot check); use patches, labels, replacements or configMapGenerator instead")

// overlayTree is the part of the repository one overlay uses: its
// kustomization, the kustomizations of the folders it names (bases and
// components), and the files they name, each read once and checked. Only
// these reach kustomize's in-memory filesystem.
type overlayTree struct {
	// file is the environment's kustomization; dir its folder.
	file, dir string
	// kusts holds each kustomization by folder, as kustomize decodes it.
	kusts map[string]*types.Kustomization
	// files holds every other file by repository path.
	files map[string][]byte
	// raw holds every file as written, kustomizations included, and order
	// the order they were found in (the environment's kustomization
	// first): locate searches them for the cause of a later error.
	raw   map[string][]byte
	order []string
	size  int
	// addedLine is the line of the environment kustomization's resources,
	// where objects the overlay adds come from.
	addedLine int
}

// readOverlay reads and checks overlays/<env>/ and what it references. It
// returns nil when the environment has no overlay.
func readOverlay(src fs.FS, env string) (*overlayTree, error) {
	dir := path.Join(OverlayDir, env)
	file, err := findKustomization(src, dir)
	if err != nil || file == "" {
		return nil, err
	}
	t := &overlayTree{file: file, dir: dir, kusts: map[string]*types.Kustomization{},
		files: map[string][]byte{}, raw: map[string][]byte{}}
	if err := t.kustomization(src, dir, file); err != nil {
		return nil, err
	}
	return t, nil
}

// findKustomization returns the kustomization file of dir, "" when there is
// none, and an error when there are several (kustomize refuses those too).
func findKustomization(src fs.FS, dir string) (string, error) {
	// Most environments have no overlay: one look at the folder, rather
	// than one per kustomization file name.
	if _, err := fs.Stat(src, dir); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	var found []string
	for _, n := range kustomizationNames {
		_, err := fs.Stat(src, path.Join(dir, n))
		if err == nil {
			found = append(found, path.Join(dir, n))
		} else if !errors.Is(err, fs.ErrNotExist) { // a link out of the repository: never "no overlay"
			return "", overlayErr(path.Join(dir, n), 0, "the kustomization cannot be read: %v", err)
		}
	}
	if len(found) > 1 {
		return "", overlayErr(found[1], 0, "%s has several kustomization files (%s); keep one", dir, strings.Join(found, ", "))
	}
	if len(found) == 0 {
		return "", nil
	}
	return found[0], nil
}

// read reads one file the overlay uses: a regular file, within the caps.
func (t *overlayTree) read(src fs.FS, file string) ([]byte, error) {
	if b, ok := t.raw[file]; ok {
		return b, nil
	}
	f, err := src.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, maxOverlayFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxOverlayFile {
		return nil, fmt.Errorf("larger than the %d bytes an overlay file may have", maxOverlayFile)
	}
	if t.size += len(b); t.size > maxOverlayBytes {
		return nil, fmt.Errorf("the overlay's files exceed %d bytes together", maxOverlayBytes)
	}
	t.raw[file] = b
	t.order = append(t.order, file)
	return b, nil
}

// kustomization reads, checks and records the kustomization file of dir,
// then everything it names.
func (t *overlayTree) kustomization(src fs.FS, dir, file string) error {
	t.kusts[dir] = nil // being read: a cycle stops here
	data, err := t.read(src, file)
	if err != nil {
		return overlayErr(file, 0, "%v", err)
	}
	docs, err := parseYAML(file, data, 0)
	if err != nil {
		return err
	}
	if len(docs) != 1 || docs[0].Kind != yaml.MappingNode {
		return overlayErr(file, 1, "not a kustomization: want one YAML mapping")
	}
	root := docs[0]
	if err := checkKustomizationKeys(file, root); err != nil {
		return err
	}
	// Decode exactly as kustomize does; with the keys checked above, the
	// result holds what the file says, field for field.
	k := &types.Kustomization{}
	if err := k.Unmarshal(data); err != nil {
		return overlayErr(file, decodeErrorLine(root, err), "%v", err)
	}
	if errs := k.EnforceFields(); len(errs) > 0 {
		return overlayErr(file, lineAt(root, "kind"), "%s", strings.Join(errs, "; "))
	}
	for _, r := range kustomizationRefs(k) {
		if err := t.reference(src, dir, file, root, r); err != nil {
			return err
		}
	}
	if err := checkInlinePatches(file, root, k); err != nil {
		return err
	}
	if dir == t.dir {
		t.addedLine = lineAt(root, "resources")
	}
	k.FixKustomization()
	t.kusts[dir] = k
	return nil
}

// reference checks one path a kustomization names and reads what it names.
func (t *overlayTree) reference(src fs.FS, dir, file string, root *yaml.Node, r ref) error {
	line := lineAt(root, r.at...)
	fail := func(format string, args ...any) error {
		return overlayErr(file, line, "%s entry %q: %s", r.at[0], r.val, fmt.Sprintf(format, args...))
	}
	if r.kind == refPatchOrInline && isInlinePatch(r.val) {
		return nil // checked with the other inline patches
	}
	if r.val == "" {
		return fail("empty path")
	}
	if looksRemote(r.val) {
		return &OverlayError{File: file, Line: line, Err: fmt.Errorf("%s entry %q: %w", r.at[0], r.val, ErrRemoteOverlay)}
	}
	if path.IsAbs(r.val) || strings.Contains(r.val, `\`) {
		return fail("write a relative path with forward slashes")
	}
	p := path.Join(dir, r.val)
	if p != OverlayDir && !strings.HasPrefix(p, OverlayDir+"/") {
		return fail("outside the %s/ folder; keep overlay files under %s/", OverlayDir, OverlayDir)
	}
	st, err := fs.Stat(src, p)
	if err != nil {
		return fail("no such file or folder in the repository (%s)", p)
	}
	switch {
	case st.IsDir() && r.kind == refFileOrDir, r.kind == refDir:
		if !st.IsDir() {
			return fail("not a folder")
		}
		if _, seen := t.kusts[p]; seen {
			return nil
		}
		kf, err := findKustomization(src, p)
		if err != nil {
			return err
		}
		if kf == "" {
			return fail("folder %s has no kustomization file", p)
		}
		return t.kustomization(src, p, kf)
	case st.IsDir():
		return fail("a folder, where a file is expected")
	}
	if isKustomizationName(path.Base(p)) {
		return fail("name the folder, not its kustomization file")
	}
	b, err := t.read(src, p)
	if err != nil {
		return overlayErr(p, 0, "%v", err)
	}
	if r.kind != refData {
		if _, err := parseYAML(p, b, 0); err != nil {
			return err
		}
	}
	t.files[p] = b
	return nil
}

func isKustomizationName(n string) bool {
	for _, k := range kustomizationNames {
		if n == k {
			return true
		}
	}
	return false
}

// looksRemote reports whether kustomize could take s for a URL or a Git
// repository: a scheme or an SCP-style host (anything with ':' or '@'), or
// a path starting with github.com, which kustomize clones whatever the case.
func looksRemote(s string) bool {
	first, _, _ := strings.Cut(s, "/")
	return strings.ContainsAny(s, ":@") || strings.EqualFold(first, "github.com")
}

// checkKustomizationKeys refuses keys kustomize would read under another
// spelling, refused fields, and unknown fields, at their line. Below the top
// level, struct fields must be spelled as kustomize's types spell them.
func checkKustomizationKeys(file string, root *yaml.Node) error {
	top := jsonFields(reflect.TypeFor[types.Kustomization]())
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if err, refused := refusedFields[k.Value]; refused {
			return &OverlayError{File: file, Line: k.Line, Err: fmt.Errorf("%s: %w", k.Value, err)}
		}
		if !kustomizationFields[k.Value] {
			return unknownKey(file, k, top, "")
		}
		if err := checkKeys(file, v, top[k.Value], k.Value); err != nil {
			return err
		}
	}
	return nil
}

// checkKeys checks the keys of n, which kustomize decodes into a value of
// type t, against t's JSON field names, byte for byte.
func checkKeys(file string, n *yaml.Node, t reflect.Type, at string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil // a type error, which kustomize's decoder reports
		}
		fields := jsonFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				ft, ok = fields[documentedSpelling[k.Value]]
			}
			if !ok {
				return unknownKey(file, k, fields, at)
			}
			if err := checkKeys(file, n.Content[i+1], ft, at+"."+k.Value); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 1; i < len(n.Content); i += 2 {
			if err := checkKeys(file, n.Content[i], t.Elem(), at+"."+n.Content[i-1].Value); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return nil
		}
		for i, c := range n.Content {
			if err := checkKeys(file, c, t.Elem(), fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// documentedSpelling maps the spellings kustomize's own documentation uses
// where they differ from its types' JSON names (vars' `fieldpath`) to
// those names. None names a file.
var documentedSpelling = map[string]string{"fieldpath": "fieldPath"}

func unknownKey(file string, k *yaml.Node, fields map[string]reflect.Type, at string) error {
	where := "kustomization field"
	if at != "" {
		where = "field of " + at
	}
	for name := range fields {
		if strings.EqualFold(name, k.Value) {
			return overlayErr(file, k.Line, "%q is written %q: kustomize ignores case in field names, flinksync does not; write %q", name, k.Value, name)
		}
	}
	return overlayErr(file, k.Line, "unknown %s %q", where, k.Value)
}

// jsonFields maps the JSON names of t's fields to their types, the way
// encoding/json sees them (embedded structs without a name are inlined).
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		ft := f.Type
		if f.Anonymous && name == "" {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for n, typ := range jsonFields(ft) {
					out[n] = typ
				}
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		out[name] = ft
	}
	return out
}

// refKind is what a kustomization entry names.
type refKind int

const (
	refFileOrDir     refKind = iota // resources and bases: a YAML file or a kustomization folder
	refDir                          // components: a kustomization folder
	refYAML                         // patches, CRDs, configurations, replacements, OpenAPI schemas
	refData                         // generator files and env files: data, not YAML
	refPatchOrInline                // patchesStrategicMerge: a patch file or an inline patch
)

// ref is one entry of a kustomization that kustomize loads by path.
type ref struct {
	// at is where the entry is written: keys and list indexes.
	at   []any
	val  string
	set  func(string)
	kind refKind
}

// kustomizationRefs lists every entry of k that kustomize loads by path
// (and so, given a URL or a Git address, from the network), with a setter
// to rewrite it. This is the one list both the check and confine use.
func kustomizationRefs(k *types.Kustomization) []ref {
	var out []ref
	add := func(kind refKind, p *string, at ...any) {
		out = append(out, ref{at: at, val: *p, set: func(s string) { *p = s }, kind: kind})
	}
	list := func(kind refKind, l []string, key string) {
		for i := range l {
			add(kind, &l[i], key, i)
		}
	}
	list(refFileOrDir, k.Resources, "resources")
	list(refFileOrDir, k.Bases, "bases")
	list(refDir, k.Components, "components")
	list(refYAML, k.Crds, "crds")
	list(refYAML, k.Configurations, "configurations")
	for i := range k.PatchesStrategicMerge {
		add(refPatchOrInline, (*string)(&k.PatchesStrategicMerge[i]), "patchesStrategicMerge", i)
	}
	patches := func(ps []types.Patch, key string) {
		for i := range ps {
			if ps[i].Path != "" {
				add(refYAML, &ps[i].Path, key, i, "path")
			}
		}
	}
	patches(k.Patches, "patches")
	patches(k.PatchesJson6902, "patchesJson6902")
	for i := range k.Replacements {
		if k.Replacements[i].Path != "" {
			add(refYAML, &k.Replacements[i].Path, "replacements", i, "path")
		}
	}
	if p, ok := k.OpenAPI["path"]; ok {
		out = append(out, ref{at: []any{"openapi", "path"}, val: p, set: func(s string) { k.OpenAPI["path"] = s }, kind: refYAML})
	}
	gen := func(key string, i int, kv *types.KvPairSources) {
		for j := range kv.FileSources {
			src := &kv.FileSources[j]
			name, file, named := strings.Cut(*src, "=")
			if !named {
				file = name
			}
			out = append(out, ref{at: []any{key, i, "files", j}, val: file, kind: refData, set: func(s string) {
				if named {
					*src = name + "=" + s
				} else {
					*src = s
				}
			}})
		}
		for j := range kv.EnvSources {
			add(refData, &kv.EnvSources[j], key, i, "envs", j)
		}
		if kv.EnvSource != "" {
			add(refData, &kv.EnvSource, key, i, "env")
		}
	}
	for i := range k.ConfigMapGenerator {
		gen("configMapGenerator", i, &k.ConfigMapGenerator[i].KvPairSources)
	}
	for i := range k.SecretGenerator {
		gen("secretGenerator", i, &k.SecretGenerator[i].KvPairSources)
	}
	return out
}

// isInlinePatch reports whether a patchesStrategicMerge entry is a patch
// written inline rather than a path: kustomize tries it as YAML objects first.
func isInlinePatch(s string) bool {
	var n yaml.Node
	return yaml.Unmarshal([]byte(s), &n) == nil && len(n.Content) > 0 && n.Content[0].Kind == yaml.MappingNode
}

// checkInlinePatches parses the patches written inside the kustomization
// as strictly as patch files: kustomize parses them as YAML.
func checkInlinePatches(file string, root *yaml.Node, k *types.Kustomization) error {
	check := func(text string, at ...any) error {
		line := lineAt(root, at...)
		if _, err := parseYAML(file, []byte(text), line); err != nil {
			return err
		}
		return nil
	}
	for i, p := range k.Patches {
		if err := check(p.Patch, "patches", i, "patch"); err != nil {
			return err
		}
	}
	for i, p := range k.PatchesJson6902 {
		if err := check(p.Patch, "patchesJson6902", i, "patch"); err != nil {
			return err
		}
	}
	for i, p := range k.PatchesStrategicMerge {
		if isInlinePatch(string(p)) {
			if err := check(string(p), "patchesStrategicMerge", i); err != nil {
				return err
			}
		}
	}
	return nil
}

// lineAt returns the line of the node at path (map keys and list indexes)
// under n, or of the deepest part of the path that exists.
func lineAt(n *yaml.Node, path ...any) int {
	line := n.Line
	for _, p := range path {
		var next *yaml.Node
		switch p := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == p {
						line, next = n.Content[i].Line, n.Content[i+1]
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && p < len(n.Content) {
				next = n.Content[p]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// parseYAML parses every document of a file handed to kustomize and
// refuses what could make kustomize's own parse explode or loop: aliases
// (a few hundred bytes of them expand into gigabytes), nesting deeper than
// maxYAMLDepth, duplicate keys. It returns each document's top node. Text written inside another file (an inline
// patch) passes offset, the line it starts on, so errors point at it.
func parseYAML(file string, data []byte, offset int) ([]*yaml.Node, error) {
	at := func(line int) int {
		if offset > 0 {
			return offset + max(line-1, 0)
		}
		return line
	}
	if len(data) > maxOverlayFile {
		return nil, overlayErr(file, at(0), "larger than the %d bytes an overlay file may have", maxOverlayFile)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		doc := &yaml.Node{}
		err := dec.Decode(doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			line := 0
			if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
				line, _ = strconv.Atoi(m[1])
			}
			return nil, overlayErr(file, at(line), "malformed YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		if len(doc.Content) == 0 {
			continue // an empty document
		}
		if bad, msg := strictNode(doc.Content[0], 0); bad != nil {
			return nil, overlayErr(file, at(bad.Line), "%s", msg)
		}
		docs = append(docs, doc.Content[0])
	}
}

// strictNode returns the first node under n that breaks parseYAML's rules,
// and why.
func strictNode(n *yaml.Node, depth int) (*yaml.Node, string) {
	if depth > maxYAMLDepth {
		return n, fmt.Sprintf("nested deeper than %d levels", maxYAMLDepth)
	}
	switch n.Kind {
	case yaml.AliasNode:
		return n, fmt.Sprintf("YAML alias *%s: aliases are not allowed in overlay files; write the value out", n.Value)
	case yaml.MappingNode:
		seen := make(map[string]bool, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				continue
			}
			if seen[k.Value] {
				return k, fmt.Sprintf("key %q is written twice", k.Value)
			}
			seen[k.Value] = true
		}
	}
	for _, c := range n.Content {
		if bad, msg := strictNode(c, depth+1); bad != nil {
			return bad, msg
		}
	}
	return nil, ""
}

// locate returns the first file and line of the overlay that contains one
// of needles, tried in order, or the overlay's kustomization.
func (t *overlayTree) locate(needles ...string) (string, int) {
	for _, n := range needles {
		if n == "" {
			continue
		}
		for _, f := range t.order { // the environment's kustomization first
			if i := bytes.Index(t.raw[f], []byte(n)); i >= 0 {
				return f, 1 + bytes.Count(t.raw[f][:i], []byte("\n"))
			}
		}
	}
	return t.file, 1
}
