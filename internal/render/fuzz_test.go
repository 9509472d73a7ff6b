package render

import (
	"testing"
	"testing/fstest"

	"github.com/flinksync/flinksync/internal/model"
)

// FuzzOverlay feeds arbitrary bytes to Render as the prod overlay's
// kustomization. Render must never panic: a kustomization it cannot use is
// an error naming the overlay's file.
func FuzzOverlay(f *testing.F) {
	f.Add([]byte(overlayLabelAndToleration))
	f.Add([]byte("resources: [crb.yaml]\n"))
	f.Add([]byte("namePrefix: p-\ncommonLabels: {a: b}\n"))
	f.Add([]byte("patches:\n- target: {kind: FlinkDeployment, name: \"(\"}\n  patch: '[{\"op\":\"add\",\"path\":\"/spec/x\",\"value\":1}]'\n"))
	f.Add([]byte("labels:\n- pairs: {a: 1}\n"))
	f.Add([]byte("helmCharts: [{name: x}]\n"))
	f.Add([]byte(": : :\n"))
	files := baseFiles()
	fsys := fstest.MapFS{}
	for k, v := range files {
		fsys[k] = &fstest.MapFile{Data: []byte(v)}
	}
	repo, err := model.LoadFS(fsys)
	if err != nil {
		f.Fatal(err)
	}
	env, apps := repo.Environment("prod"), repo.EffectiveApps("prod")
	f.Fuzz(func(t *testing.T, data []byte) {
		src := fstest.MapFS{"overlays/prod/kustomization.yaml": &fstest.MapFile{Data: data},
			"overlays/prod/crb.yaml": &fstest.MapFile{Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")}}
		out, err := Render(env, apps, fixedSize, Options{Source: src})
		if err == nil && out == nil {
			t.Fatal("no output and no error")
		}
	})
}
