package render

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"sigs.k8s.io/kustomize/api/types"

	"github.com/flinksync/flinksync/internal/diag"
)

const envKust = "overlays/prod/kustomization.yaml"

// sentinel records every attempt to reach outside the repository: a local
// HTTP server that answers anything with a ConfigMap (so a fetch that
// happened shows up as rendered content too), and a fake `git` first on
// PATH that notes its arguments.
type sentinel struct {
	url  string
	hits atomic.Int32
	git  string
}

func newSentinel(t *testing.T) *sentinel {
	t.Helper()
	s := &sentinel{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		fmt.Fprint(w, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fetched}\n")
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	bin := t.TempDir()
	s.git = filepath.Join(bin, "git-ran")
	script := "#!/bin/sh\necho \"$@\" >> " + s.git + "\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "git"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return s
}

func (s *sentinel) check(t *testing.T, what string) {
	t.Helper()
	if n := s.hits.Load(); n > 0 {
		t.Errorf("%s: kustomize made %d HTTP request(s)", what, n)
	}
	if b, err := os.ReadFile(s.git); err == nil {
		t.Errorf("%s: kustomize ran git %s", what, b)
	}
	s.hits.Store(0)
	os.Remove(s.git)
}

// overlayError renders prod with files and wants one finding.
func overlayError(t *testing.T, files map[string]string) *diag.Finding {
	t.Helper()
	repo, fsys := load(t, files)
	out, fs, err := Render(InputOf(repo, repo.Environment("prod"), fixedSize), Options{Source: fsys})
	if err := problems(t)(out, fs, err); err == nil || len(fs) != 1 {
		t.Fatalf("want one finding, got %v", fs)
	}
	return fs[0]
}

// wantAt checks that f is at file and line (line 1 for an overlay problem
// no line of which is at fault) and says text.
func wantAt(t *testing.T, f *diag.Finding, file string, line int, text string) {
	t.Helper()
	if f.File != file || f.Line != max(line, 1) || f.Environment != "prod" || !strings.Contains(f.Message, text) {
		t.Errorf("want a finding at %s:%d saying %q, got %s:%d: %v", file, line, text, f.File, f.Line, f.Message)
	}
}

// kustomize reads kustomization keys without regard to case, with Unicode
// folding, and loads URLs and Git repositories from many fields. Each such
// overlay is refused at its line, and nothing is fetched or run.
func TestOverlayRefusesCaseVariantKeysAndURLsWithoutFetching(t *testing.T) {
	s := newSentinel(t)
	u := s.url
	for _, tc := range []struct {
		kust string
		line int
		text string
	}{
		{"Bases:\n- " + u + "/org/repo\n", 1, `"bases" is written "Bases"`},
		{"Resources:\n- " + u + "/cm.yaml\n", 1, `"resources" is written "Resources"`},
		{"re\u017fources:\n- " + u + "/cm.yaml\n", 1, `"resources" is written`}, // ſ folds to s
		{"Components:\n- https://github.com/flinksync/not-there\n", 1, `"components" is written`},
		{"Generators:\n- " + u + "/g.yaml\n", 1, `"generators" is written`},
		{"Transformers:\n- " + u + "/t.yaml\n", 1, `"transformers" is written`},
		{"Validators:\n- " + u + "/v.yaml\n", 1, `"validators" is written`},
		{"HelmCharts:\n- {name: x, repo: " + u + "}\n", 1, `"helmCharts" is written`},
		{"patches:\n- Path: " + u + "/p.yaml\n", 2, `"path" is written "Path"`},
		{"labels:\n- pairs: {a: b}\nresources:\n- " + u + "/cm.yaml\n", 4, "not allowed"},
		{"resources:\n- GitHub.com/flinksync/x\n", 2, "not allowed"},
		{"resources:\n- git@example.com:org/repo.git\n", 2, "not allowed"},
		{"bases:\n- " + u + "/org/repo\n", 2, "not allowed"},
		{"components:\n- git::" + u + "/org/repo\n", 2, "not allowed"},
		{"patches:\n- path: " + u + "/p.yaml\n", 2, "not allowed"},
		{"patchesJson6902:\n- target: {kind: ConfigMap, name: x}\n  path: " + u + "/p.yaml\n", 3, "not allowed"},
		{"patchesStrategicMerge:\n- " + u + "/p.yaml\n", 2, "not allowed"},
		{"configMapGenerator:\n- name: c\n  files:\n  - k=" + u + "/f\n", 4, "not allowed"},
		{"secretGenerator:\n- name: c\n  envs: [" + u + "/e.env]\n", 3, "not allowed"},
		{"openapi:\n  path: " + u + "/schema.json\n", 2, "not allowed"},
		{"replacements:\n- path: " + u + "/r.yaml\n", 2, "not allowed"},
		{"crds:\n- " + u + "/crd.yaml\n", 2, "not allowed"},
		{"configurations:\n- " + u + "/c.yaml\n", 2, "not allowed"},
		{"transformers:\n- t.yaml\n", 1, "not allowed in overlays"},
	} {
		oe := overlayError(t, withOverlay(tc.kust, "overlays/prod/t.yaml", "apiVersion: builtin\nkind: LabelTransformer\nmetadata: {name: l}\n"))
		wantAt(t, oe, envKust, tc.line, tc.text)
		s.check(t, tc.kust)
	}
}

// Even a kustomization no check has seen cannot make the render reach the
// network or run git: kustomize runs only against its in-memory tree.
func TestConfinedKustomizeNeverFetches(t *testing.T) {
	s := newSentinel(t)
	u := s.url
	remote := []string{u + "/cm.yaml", u + "/org/repo", "https://github.com/flinksync/x", "github.com/flinksync/x",
		"GitHub.com/flinksync/x", "git@github.com:flinksync/x.git", "git::" + u + "/org/repo", "ssh://git@example.com/org/repo",
		"file:///tmp/flinksync-no-repo"}
	for _, r := range remote {
		for name, k := range map[string]types.Kustomization{
			"resources":             {Resources: []string{r}},
			"bases":                 {Bases: []string{r}},
			"components":            {Components: []string{r}},
			"crds":                  {Crds: []string{r}},
			"configurations":        {Configurations: []string{r}},
			"generators":            {Generators: []string{r}},
			"transformers":          {Transformers: []string{r}},
			"validators":            {Validators: []string{r}},
			"patches":               {Patches: []types.Patch{{Path: r}}},
			"patchesJson6902":       {PatchesJson6902: []types.Patch{{Path: r, Target: &types.Selector{}}}},
			"patchesStrategicMerge": {PatchesStrategicMerge: []types.PatchStrategicMerge{types.PatchStrategicMerge(r)}},
			"replacements":          {Replacements: []types.ReplacementField{{Path: r}}},
			"openapi":               {OpenAPI: map[string]string{"path": r}},
			"configMapGenerator":    {ConfigMapGenerator: []types.ConfigMapArgs{{GeneratorArgs: types.GeneratorArgs{Name: "c", KvPairSources: types.KvPairSources{FileSources: []string{r}}}}}},
			"secretGenerator":       {SecretGenerator: []types.SecretArgs{{GeneratorArgs: types.GeneratorArgs{Name: "c", KvPairSources: types.KvPairSources{EnvSources: []string{r}}}}}},
			"helmCharts":            {HelmCharts: []types.HelmChart{{Name: "x", Repo: r}}},
		} {
			run := &overlayRun{env: "prod", nonce: "n", tree: &overlayTree{file: envKust, dir: "overlays/prod",
				kusts: map[string]*types.Kustomization{"overlays/prod": &k}, raw: map[string][]byte{}}}
			if _, _, err := run.kustomize(&k, nil); err == nil && name != "helmCharts" && name != "generators" && name != "transformers" && name != "validators" {
				t.Errorf("%s %s: kustomize found something", name, r)
			}
			s.check(t, name+" "+r)
		}
	}
}

// Every path kind an overlay can use still works once confined.
func TestConfinedOverlayReadsLocalFiles(t *testing.T) {
	kust := `resources:
- cm.yaml
- ../common
components:
- ../component
patches:
- path: fd-patch.yaml
patchesStrategicMerge:
- sa-patch.yaml
- |-
  apiVersion: v1
  kind: ServiceAccount
  metadata: {name: flink-jm, namespace: flink-prod}
  automountServiceAccountToken: false
patchesJson6902:
- target: {version: v1, kind: ConfigMap, name: extra}
  path: cm-patch.json
configMapGenerator:
- name: gen
  files: [conf.txt, key=conf.txt]
  envs: [vars.env]
replacements:
- path: replacements.yaml
`
	e := renderEnv(t, withOverlay(kust,
		"overlays/prod/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata: {a: b}\n",
		"overlays/common/kustomization.yaml", "resources: [cm.yaml]\n",
		"overlays/common/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: common}\ndata: {c: d}\n",
		"overlays/component/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ncommonAnnotations: {team: data}\n",
		"overlays/prod/fd-patch.yaml", "apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata: {name: orders, namespace: flink-prod}\nspec: {restartNonce: 3}\n",
		"overlays/prod/sa-patch.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: flink-jm, namespace: flink-prod, labels: {x: y}}\n",
		"overlays/prod/cm-patch.json", `[{"op": "add", "path": "/data/e", "value": "f"}]`,
		"overlays/prod/conf.txt", "k=v\n",
		"overlays/prod/vars.env", "V=1\n",
		"overlays/prod/replacements.yaml", "- source: {kind: ConfigMap, name: common, fieldPath: data.c}\n  targets:\n  - select: {kind: ConfigMap, name: extra}\n    fieldPaths: [data.a]\n",
	), "prod", Options{Revision: "r1"})
	if got := str(t, find(t, e, "FlinkDeployment", "orders"), "spec", "restartNonce"); got != "3" {
		t.Errorf("patch file not applied: restartNonce %s", got)
	}
	sa := find(t, e, "ServiceAccount", "flink-jm")
	if sa.GetLabels()["x"] != "y" || str(t, sa, "automountServiceAccountToken") != "false" {
		t.Errorf("strategic merge patches not applied: %v", sa.Object)
	}
	extra := find(t, e, "ConfigMap", "extra")
	if str(t, extra, "data", "e") != "f" || str(t, extra, "data", "a") != "d" {
		t.Errorf("JSON patch file or replacement not applied: %v", extra.Object)
	}
	if extra.GetAnnotations()["team"] != "data" {
		t.Errorf("component not applied: %v", extra.GetAnnotations())
	}
	find(t, e, "ConfigMap", "common")
	var gen *Object
	for _, o := range e.Objects {
		if strings.HasPrefix(o.GetName(), "gen-") {
			gen = o
		}
	}
	if gen == nil || str(t, gen, "data", "key") != "k=v\n" || str(t, gen, "data", "V") != "1" {
		t.Fatalf("configMapGenerator files and envs not read")
	}
}

// billion laughs: each level repeats the one before nine times.
func aliasBomb(levels int) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\nx:\n")
	b.WriteString(`  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]` + "\n")
	for i := 1; i < levels; i++ {
		prev, cur := string(rune('a'+i-1)), string(rune('a'+i))
		b.WriteString("  " + cur + ": &" + cur + " [" + strings.TrimSuffix(strings.Repeat("*"+prev+",", 9), ",") + "]\n")
	}
	return b.String()
}

// An alias in any file handed to kustomize is refused at its file and line,
// before kustomize expands it.
func TestOverlayRefusesYAMLAliases(t *testing.T) {
	bomb := aliasBomb(3)
	for _, tc := range []struct {
		files      map[string]string
		file       string
		line       int
		whatPrefix string
	}{
		{withOverlay("resources: [bomb.yaml]\n", "overlays/prod/bomb.yaml", bomb), "overlays/prod/bomb.yaml", 6, "resource file"},
		{withOverlay("patches:\n- path: bomb.yaml\n", "overlays/prod/bomb.yaml", bomb), "overlays/prod/bomb.yaml", 6, "patch file"},
		{withOverlay("patchesStrategicMerge: [bomb.yaml]\n", "overlays/prod/bomb.yaml", bomb), "overlays/prod/bomb.yaml", 6, "strategic merge patch file"},
		{withOverlay("resources: [../base]\n", "overlays/base/kustomization.yaml", "resources: [bomb.yaml]\n", "overlays/base/bomb.yaml", bomb), "overlays/base/bomb.yaml", 6, "file of a base"},
		{withOverlay("patches:\n- target: {kind: ConfigMap}\n  patch: |-\n" + indent(bomb, "    ")), envKust, 8, "inline patch"},
		{withOverlay("commonLabels: &l {a: b}\ncommonAnnotations: *l\n"), envKust, 2, "kustomization"},
	} {
		oe := overlayError(t, tc.files)
		wantAt(t, oe, tc.file, tc.line, "aliases are not allowed")
	}
}

func indent(s, by string) string {
	return by + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n"+by) + "\n"
}

// The full bomb from the report (432 bytes): 23 s and 4.5 GB before the fix.
func BenchmarkOverlayAliasBomb(b *testing.B) {
	bomb := aliasBomb(9)
	repo, fsys := load(&testing.T{}, withOverlay("resources: [bomb.yaml]\n", "overlays/prod/bomb.yaml", bomb))
	env, apps := repo.Environment("prod"), repo.EffectiveApps("prod")
	b.ReportAllocs()
	for b.Loop() {
		if _, fs, err := Render(Input{Env: env, Apps: apps, Size: fixedSize}, Options{Source: fsys}); err != nil || len(fs) != 1 {
			b.Fatalf("want the bomb refused, got %v (err %v)", fs, err)
		}
	}
}

// Names and namespaces an overlay produces must be what the API server
// accepts: they become file names (render --out) and Markdown.
func TestOverlayNamesAreValidated(t *testing.T) {
	cm := func(name, ns string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %q\n  namespace: %q\n", name, ns)
	}
	for _, tc := range []struct {
		files map[string]string
		file  string
		line  int
	}{
		{withOverlay("resources: [cm.yaml]\n", "overlays/prod/cm.yaml", cm("x/../../../../tmp/escape", "flink-prod")), "overlays/prod/cm.yaml", 4},
		{withOverlay("resources: [cm.yaml]\n", "overlays/prod/cm.yaml", cm("[click](https://evil.example)", "flink-prod")), "overlays/prod/cm.yaml", 4},
		{withOverlay("resources: [cm.yaml]\n", "overlays/prod/cm.yaml", cm("ok", "../flink-prod")), "overlays/prod/cm.yaml", 5},
		{withOverlay("labels:\n- pairs: {a: b}\nnamePrefix: ../\n"), envKust, 3},
		{withOverlay("namespace: Flink_Prod\n"), envKust, 1},
		{withOverlay("resources: [svc.yaml]\n", "overlays/prod/svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: 1svc}\n"), "overlays/prod/svc.yaml", 3},
	} {
		wantAt(t, overlayError(t, tc.files), tc.file, tc.line, "the API server refuses")
	}
}

// An overlay may not set, change or remove flinksync's labels and
// annotations, nor forge the internal render-id; objects it adds get
// flinksync's labels and the revision.
func TestOverlayCannotTouchFlinksyncLabels(t *testing.T) {
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n"
	for _, tc := range []struct {
		files map[string]string
		file  string
		line  int
	}{
		{withOverlay("labels:\n- pairs:\n    flinksync.dev/environment: qa\n"), envKust, 3},
		{withOverlay("commonLabels: {app.kubernetes.io/managed-by: kustomize}\n"), envKust, 1},
		{withOverlay("commonAnnotations:\n  flinksync.dev/revision: forged\n"), envKust, 2},
		{withOverlay("patches:\n- target: {kind: FlinkDeployment}\n  patch: '[{\"op\": \"remove\", \"path\": \"/metadata/labels/app.kubernetes.io~1managed-by\"}]'\n"), envKust, 3},
		{withOverlay("resources: [cm.yaml]\n", "overlays/prod/cm.yaml", cm+"  annotations:\n    flinksync.dev/render-id: \"3\"\n"), "overlays/prod/cm.yaml", 6},
		{withOverlay("resources: [cm.yaml]\n", "overlays/prod/cm.yaml", cm+"  labels:\n    app.kubernetes.io/managed-by: flinksync\n"), "overlays/prod/cm.yaml", 6},
		{withOverlay("resources: [cm.yaml]\n", "overlays/prod/cm.yaml", cm+"  labels:\n    flinksync.dev/environment: prod\n"), "overlays/prod/cm.yaml", 6},
		// Copy the render-id of a rendered object onto an added one.
		{withOverlay(`resources: [cm.yaml]
replacements:
- source:
    kind: ServiceAccount
    name: flink-jm
    fieldPath: metadata.annotations.[flinksync.dev/render-id]
  targets:
  - select: {kind: ConfigMap, name: extra}
    fieldPaths:
    - metadata.annotations.[flinksync.dev/render-id]
    options: {create: true}
`, "overlays/prod/cm.yaml", cm), envKust, 6},
	} {
		wantAt(t, overlayError(t, tc.files), tc.file, tc.line, "flinksync's")
	}

	e := renderEnv(t, withOverlay("resources: [cm.yaml]\n", "overlays/prod/cm.yaml", cm+"  labels: {app: x}\n"), "prod", Options{Revision: "r1"})
	o := find(t, e, "ConfigMap", "extra")
	if l := o.GetLabels(); l[LabelManagedBy] != ManagedByValue || l[LabelEnvironment] != "prod" || l["app"] != "x" {
		t.Errorf("an added object gets flinksync's labels: %v", l)
	}
	if o.GetAnnotations()[AnnRevision] != "r1" || !o.FromOverlay {
		t.Errorf("an added object gets the revision and stays attributed to the overlay: %v %+v", o.GetAnnotations(), o)
	}
}

// Every documented field, spelled as documented, passes the key check.
func TestKustomizationKeysAsDocumented(t *testing.T) {
	doc := `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
metadata: {name: m, namespace: ns, labels: {a: b}, annotations: {a: b}}
openapi: {path: schema.json}
namePrefix: p-
nameSuffix: -s
namespace: ns
commonLabels: {a: b}
labels:
- pairs: {a: b}
  includeSelectors: false
  includeTemplates: true
  fields: [{group: g, version: v, kind: k, path: spec/x, create: true}]
commonAnnotations: {a: b}
patches:
- path: p.yaml
  target: {group: g, version: v, kind: k, name: nm, namespace: ns, labelSelector: a=b, annotationSelector: a=b}
  options: {allowNameChange: true, allowKindChange: false}
patchesStrategicMerge: [p.yaml]
patchesJson6902: [{target: {kind: k, name: nm}, path: p.json}]
images: [{name: a, newName: b, newTag: c, digest: d, tagSuffix: e}]
imageTags: [{name: a, newTag: c}]
replacements:
- path: r.yaml
- source: {kind: k, name: nm, fieldPath: a.b, options: {delimiter: ".", index: 1, encoding: base64, create: true}}
  sourceValue: v
  targets: [{select: {kind: k}, reject: [{name: x}], fieldPaths: [a.b], options: {create: true}}]
replicas: [{name: nm, count: 2}]
vars: [{name: V, objref: {apiVersion: v1, kind: k, name: nm, namespace: ns}, fieldref: {fieldpath: metadata.name}}]
sortOptions: {order: legacy, legacySortOptions: {orderFirst: [a], orderLast: [b]}}
resources: [r.yaml]
bases: [../b]
components: [../c]
crds: [crd.yaml]
configMapGenerator: [{name: c, namespace: ns, behavior: create, literals: [a=b], files: [f], envs: [e], env: e, options: {labels: {a: b}, annotations: {a: b}, disableNameSuffixHash: true, immutable: true}}]
secretGenerator: [{name: s, type: Opaque, literals: [a=b]}]
generatorOptions: {disableNameSuffixHash: true}
configurations: [c.yaml]
buildMetadata: [originAnnotations]
`
	docs, err := parseYAML(envKust, []byte(doc), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkKustomizationKeys(envKust, docs[0]); err != nil {
		t.Fatalf("a documented kustomization is refused: %v", err)
	}
	k := &types.Kustomization{}
	if err := k.Unmarshal([]byte(doc)); err != nil {
		t.Fatalf("kustomize refuses the test document itself: %v", err)
	}
}
