package render

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// manyApps adds n apps to the base files, each in prod.
func manyApps(files map[string]string, n int) map[string]string {
	for i := 0; i < n; i++ {
		files[fmt.Sprintf("apps/x%02d.yaml", i)] = strings.NewReplacer("name: orders", fmt.Sprintf("name: x%02d", i),
			"environments: [prod, eu]", "environments: [prod]").Replace(app)
	}
	return files
}

// TestChunkedAndFastOverlaysEqualOneKustomizeRun renders the same
// environment with the overlay run once over every object (plain
// kustomize), and with the app objects chunked or taken by the fast path,
// and wants the same bytes.
func TestChunkedAndFastOverlaysEqualOneKustomizeRun(t *testing.T) {
	overlays := map[string]string{
		"labels and a JSON patch (fast path)": overlayLabelAndToleration,
		"annotations, labels and several JSON patches by name (fast path)": `commonAnnotations: {owner: data-platform}
labels:
- pairs: {tier: gold}
  includeSelectors: false
patches:
- target: {group: flink.apache.org, kind: FlinkDeployment, name: "x0.*"}
  patch: '[{"op": "replace", "path": "/spec/job/upgradeMode", "value": "last-state"}]'
- target: {kind: FlinkDeployment}
  patch: |-
    - op: add
      path: /spec/flinkConfiguration/metrics.reporters
      value: prom
`,
		"a strategic merge patch by target (chunked kustomize)": `labels:
- pairs: {tier: gold}
patches:
- target: {kind: FlinkDeployment}
  patch: |-
    apiVersion: flink.apache.org/v1beta1
    kind: FlinkDeployment
    metadata: {name: any}
    spec:
      taskManager:
        podTemplate:
          spec:
            nodeSelector: {pool: flink}
`,
		"a name prefix (one kustomize run)": "namePrefix: p-\n",
		"a label selector target (one kustomize run)": `patches:
- target: {kind: FlinkDeployment, labelSelector: "team=checkout"}
  patch: '[{"op": "add", "path": "/spec/restartNonce", "value": 7}]'
`,
	}
	defer func(n int) { overlayChunk = n }(overlayChunk)
	for name, k := range overlays {
		t.Run(name, func(t *testing.T) {
			files := manyApps(withOverlay(k), 12)
			overlayChunk = 1 << 30
			whole, err := YAML(renderEnv(t, files, "prod", Options{Revision: "r"}).Objects)
			if err != nil {
				t.Fatal(err)
			}
			overlayChunk = 5
			parts, err := YAML(renderEnv(t, files, "prod", Options{Revision: "r"}).Objects)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(whole, parts) {
				t.Fatalf("the overlay's result depends on how it was run:\n--- one run\n%s\n--- chunked/fast\n%s", whole, parts)
			}
			if !bytes.Contains(whole, []byte("x11")) {
				t.Fatalf("apps missing from the output")
			}
		})
	}
}

func TestFastOverlayRefusesWhatItCannotDo(t *testing.T) {
	for _, k := range []map[string]any{
		{"images": []any{}},
		{"commonLabels": map[string]any{"a": "b"}},
		{"labels": []any{map[string]any{"pairs": map[string]any{"a": "b"}, "includeTemplates": true}}},
		{"patches": []any{map[string]any{"target": map[string]any{"kind": "X"}, "patch": `[{"op":"add","path":"/metadata/labels/a","value":"b"}]`}}},
		{"patches": []any{map[string]any{"target": map[string]any{"kind": "X", "labelSelector": "a=b"}, "patch": `[{"op":"add","path":"/spec/a","value":"b"}]`}}},
		{"patches": []any{map[string]any{"path": "p.yaml"}}},
	} {
		if _, ok := fastOverlay(k); ok {
			t.Errorf("fastOverlay must refuse %v", k)
		}
	}
	if _, ok := fastOverlay(map[string]any{"labels": []any{map[string]any{"pairs": map[string]any{"a": "b"}}}}); !ok {
		t.Errorf("fastOverlay must take plain label pairs")
	}
}
