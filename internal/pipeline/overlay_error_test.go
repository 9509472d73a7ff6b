package pipeline

import (
	"testing"
	"testing/fstest"
)

// A finding an overlay causes points at the overlay file and line that
// causes it, not at the environment file or the overlay's first line.
func TestOverlayFindingPointsAtOverlayLine(t *testing.T) {
	for _, tc := range []struct {
		files map[string]string
		file  string
		line  int
	}{
		{map[string]string{"overlays/prod/kustomization.yaml": "labels:\n- pairs: {a: b}\nBases:\n- https://example.com/org/repo\n"},
			"overlays/prod/kustomization.yaml", 3},
		{map[string]string{"overlays/prod/kustomization.yaml": "resources:\n- cm.yaml\n",
			"overlays/prod/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata: &d {a: b}\nbinaryData: *d\n"},
			"overlays/prod/cm.yaml", 6},
	} {
		fsys := exampleWith(t, "overlays/prod/kustomization.yaml", "", "").(fstest.MapFS)
		for p, v := range tc.files {
			fsys[p] = &fstest.MapFile{Data: []byte(v)}
		}
		res, err := Run(fsys, Options{Now: fixedNow})
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, f := range res.Findings {
			if f.Rule == RuleRender && f.Environment == "prod" {
				found = true
				if f.File != tc.file || f.Line != tc.line {
					t.Errorf("render finding at %s:%d, want %s:%d (%s)", f.File, f.Line, tc.file, tc.line, f.Message)
				}
			}
		}
		if !found || len(res.Blocked["prod"]) == 0 {
			t.Errorf("want prod blocked by a render finding, got %v", res.Findings)
		}
	}
}
