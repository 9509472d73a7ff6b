package pipeline

import (
	"strings"
	"testing"
	"testing/fstest"
)

// Render errors are findings at the line that causes them, in one run:
// kustomize's own error for an overlay patch (which names no line) at the
// patch's entry of the kustomization, and an error rendering a statement's
// objects (a SET line the runner's script cannot hold) at the property's
// key in the statement's file, not at the environment's file or the first
// line of either.
func TestRenderFindingsPointAtTheOverlayPatchAndTheTemplateField(t *testing.T) {
	fsys := exampleWith(t, "pools/sql.yaml", "environments: [prod-eu, prod-cmf]", "environments: [prod-eu, prod-cmf, dev]").(fstest.MapFS)
	add := func(p, text string) { fsys[p] = &fstest.MapFile{Data: []byte(text)} }
	add("environments/dev.yaml", string(fsys["environments/dev.yaml"].Data)+
		"  sqlRunner:\n    image: registry.example.com/flink/sql-runner:1.20\n")
	add("statements/views.yaml", `apiVersion: flinksync.dev/v1alpha1
kind: FlinkStatement
metadata:
  name: views
spec:
  environments: [dev]
  pool: sql
  properties:
    table.exec.source.idle-timeout: 30 s
    pipeline.name: "views\nof the day"
  sql: INSERT INTO views SELECT * FROM pageviews;
  workload:
    recordsPerSecond: 100
    avgRecordBytes: 100
    complexity: simple
    latency: 1s
`)
	add("overlays/prod/kustomization.yaml", `labels:
- pairs: {cost-center: data-platform}
patches:
- target: {kind: FlinkDeployment}
  patch: '[{"op": "add", "path": "/spec/restartNonce", "value": 1}]'
- path: nodes.yaml
`)
	add("overlays/prod/nodes.yaml", `apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: order-enrich
spec:
  podTemplate: {spec: {nodeSelector: {pool: flink}}}
`)
	res, err := Run(fsys, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		file string
		line int
		text string
	}{
		"prod": {"overlays/prod/kustomization.yaml", 6, "patches[1]: kustomize overlay failed: no resource matches strategic merge patch"},
		"dev":  {"statements/views.yaml", 10, `cannot render statement views: spec.properties["pipeline.name"]: property "pipeline.name": a line break`},
	}
	got := map[string]bool{}
	for _, f := range res.Findings {
		if f.Rule != RuleRender {
			continue
		}
		w, ok := want[f.Environment]
		if !ok {
			t.Errorf("unexpected render finding: %s:%d: %s", f.File, f.Line, f.Message)
			continue
		}
		got[f.Environment] = true
		if f.File != w.file || f.Line != w.line || !strings.Contains(f.Message, w.text) {
			t.Errorf("%s: render finding at %s:%d: %s\nwant it at %s:%d saying %q", f.Environment, f.File, f.Line, f.Message, w.file, w.line, w.text)
		}
	}
	for env := range want {
		if !got[env] || len(res.Blocked[env]) == 0 {
			t.Errorf("want %s blocked by a render finding; findings: %v", env, res.Findings)
		}
	}
}
