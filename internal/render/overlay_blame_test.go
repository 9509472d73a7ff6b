package render

import "testing"

// kustomize's own errors (a patch that matches nothing, a JSON patch whose
// path is missing, a failed test operation) name no line of the overlay:
// the error is placed at the entry of the patch that causes it, whether
// kustomize runs once over the environment, in chunks, or the fast path
// applies the patches. A decoding error is placed at the field it names;
// an error no patch causes stays at the kustomization.
func TestOverlayErrorsPointAtThePatch(t *testing.T) {
	const goodPatch = `- target: {kind: FlinkDeployment}
  patch: '[{"op": "add", "path": "/spec/restartNonce", "value": 1}]'
`
	for _, tc := range []struct {
		name  string
		files []string // the kustomization, then file name and content pairs
		line  int
		text  string
	}{
		{"a strategic merge patch whose target does not exist",
			[]string{"patches:\n" + goodPatch + "- path: p.yaml\n",
				"overlays/prod/p.yaml", "apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata: {name: nope}\nspec: {image: x}\n"},
			4, `patches[1]: kustomize overlay failed: no resource matches strategic merge patch`},
		{"a JSON patch removing a missing key",
			[]string{"labels:\n- pairs: {a: b}\npatches:\n" + goodPatch + goodPatch +
				"- target: {kind: FlinkDeployment}\n  patch: |-\n    - op: remove\n      path: /spec/nothere\n"},
			8, `patches[2]: kustomize overlay failed: error in remove for path: '/spec/nothere'`},
		{"a failed test operation in patchesJson6902",
			[]string{"patches:\n" + goodPatch + "patchesJson6902:\n- target: {group: flink.apache.org, version: v1beta1, kind: FlinkDeployment, name: orders}\n  path: t.yaml\n",
				"overlays/prod/t.yaml", "- op: test\n  path: /spec/image\n  value: nope\n"},
			5, `patchesJson6902[0]: kustomize overlay failed: testing value /spec/image failed`},
		{"a strategic merge patch file in patchesStrategicMerge",
			[]string{"namePrefix: p-\npatchesStrategicMerge:\n- p.yaml\n",
				"overlays/prod/p.yaml", "apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata: {name: nope}\nspec: {image: x}\n"},
			3, `patchesStrategicMerge[0]: kustomize overlay failed: no matches for Id`},
		{"a field of the wrong type",
			[]string{"labels:\n- pairs: {a: b}\npatches: 3\n"},
			3, "cannot unmarshal number into Go struct field Kustomization.patches"},
		{"a replacement whose source does not exist, no patch's error",
			[]string{"patches:\n" + goodPatch + "replacements:\n- source: {kind: ConfigMap, name: nope}\n  targets:\n  - select: {kind: FlinkDeployment}\n    fieldPaths: [spec.image]\n"},
			0, "kustomize overlay failed"},
	} {
		for _, chunk := range []int{1 << 30, 1} {
			t.Run(tc.name, func(t *testing.T) {
				defer func(n int) { overlayChunk = n }(overlayChunk)
				overlayChunk = chunk
				oe := overlayError(t, manyApps(withOverlay(tc.files[0], tc.files[1:]...), 3))
				wantAt(t, oe, envKust, tc.line, tc.text)
			})
		}
	}
}
