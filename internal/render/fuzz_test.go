package render

import (
	"runtime"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/testrepo"
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
	repo := testrepo.Clean[*model.Repository](f)(model.LoadFS(fsys))
	env, apps := repo.Environment("prod"), repo.EffectiveApps("prod")
	f.Fuzz(func(t *testing.T, data []byte) {
		src := fstest.MapFS{"overlays/prod/kustomization.yaml": &fstest.MapFile{Data: data},
			"overlays/prod/crb.yaml": &fstest.MapFile{Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")}}
		out, fs, err := Render(Input{Env: env, Apps: apps, Size: fixedSize}, Options{Source: src})
		if err := problems(t)(out, fs, err); err == nil && out == nil {
			t.Fatal("no output and no finding")
		}
	})
}

// Bounds of one FuzzOverlayFiles input: its size, and the CPU time, wall
// time and memory one render of it may take. The CPU bound is the real one
// (the fuzz worker renders one input at a time, so the process's CPU time
// is the render's, whatever else the machine runs); the wall bound only
// catches a render that blocks.
const (
	fuzzMaxInput = 16 << 10
	fuzzMaxCPU   = time.Second
	fuzzMaxWall  = 10 * time.Second
	fuzzMaxAlloc = 256 << 20
)

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// FuzzOverlayFiles feeds arbitrary bytes to Render as the prod overlay's
// kustomization, one resource file and one patch file (aliases, case-variant
// keys, URLs, forged annotations among the seeds). Each input must render
// within fuzzMaxCPU (and fuzzMaxWall) and fuzzMaxAlloc; a failure must be a finding
// at a file of the overlay; a success must hold only objects with
// valid names, no internal annotation, and flinksync's labels.
func FuzzOverlayFiles(f *testing.F) {
	res := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata: {a: b}\n"
	patch := "apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata: {name: orders, namespace: flink-prod}\nspec: {restartNonce: 1}\n"
	both := "resources: [res.yaml]\npatches:\n- path: patch.yaml\n"
	for _, s := range [][3]string{
		{both, res, patch},
		{"resources: [res.yaml]\npatchesStrategicMerge: [patch.yaml]\n", res, patch},
		{both, aliasBomb(4), patch},
		{both, res, "a: &a [1, 1]\nb: *a\n"},
		{"Resources: [res.yaml]\nBases: [http://127.0.0.1:1/x]\n", res, patch},
		{"re\u017fources: [res.yaml]\n", res, patch},
		{"patches:\n- Path: patch.yaml\n", res, patch},
		{"resources: [res.yaml]\n", res + "  labels: {flinksync.dev/environment: qa}\n", patch},
		{"resources: [res.yaml]\n", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \"x/../../y\"\n  annotations: {flinksync.dev/render-id: \"0\"}\n", patch},
		{"namePrefix: \"[a](b)\"\nresources: [res.yaml]\n", res, patch},
		{"patches:\n- target: {kind: FlinkDeployment}\n  path: patch.yaml\n", res, `[{"op": "replace", "path": "/metadata/labels", "value": {}}]`},
		{"configMapGenerator:\n- name: g\n  files: [k=res.yaml]\n  envs: [patch.yaml]\n", res, "A=1\n"},
	} {
		f.Add([]byte(s[0]), []byte(s[1]), []byte(s[2]))
	}
	repo, fsys := load(&testing.T{}, withOverlay(both, "overlays/prod/res.yaml", res, "overlays/prod/patch.yaml", patch))
	env, apps := repo.Environment("prod"), repo.EffectiveApps("prod")
	// kustomize loads its OpenAPI schema on first use (seconds): once,
	// before the clock of any input starts.
	testrepo.Clean[*Environment](f)(Render(Input{Env: env, Apps: apps, Size: fixedSize}, Options{Source: fsys}))
	f.Fuzz(func(t *testing.T, kust, res, patch []byte) {
		if len(kust) > fuzzMaxInput || len(res) > fuzzMaxInput || len(patch) > fuzzMaxInput {
			return
		}
		src := fstest.MapFS{
			"overlays/prod/kustomization.yaml": &fstest.MapFile{Data: kust},
			"overlays/prod/res.yaml":           &fstest.MapFile{Data: res},
			"overlays/prod/patch.yaml":         &fstest.MapFile{Data: patch},
		}
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		start, cpu := time.Now(), processCPU()
		out, fs, err := Render(Input{Env: env, Apps: apps, Size: fixedSize}, Options{Source: src})
		took, tookCPU := time.Since(start), processCPU()-cpu
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if tookCPU > fuzzMaxCPU || took > fuzzMaxWall || after.TotalAlloc-before.TotalAlloc > fuzzMaxAlloc {
			t.Fatalf("one render took %v of CPU (%v in all) and allocated %d MB", tookCPU, took, (after.TotalAlloc-before.TotalAlloc)>>20)
		}
		if problems(t)(out, fs, err) != nil {
			if !strings.HasPrefix(fs[0].File, OverlayDir+"/") {
				t.Fatalf("an overlay failure must be a finding at an overlay file, got %v", fs)
			}
			return
		}
		for _, o := range out.Objects {
			if len(validation.IsDNS1123Subdomain(o.GetName())) > 0 {
				t.Fatalf("invalid name passed: %q", o.GetName())
			}
			if _, ok := o.GetAnnotations()[annRenderID]; ok {
				t.Fatalf("%s keeps the internal annotation", o.ID())
			}
			if l := o.GetLabels(); l[LabelManagedBy] != ManagedByValue || l[LabelEnvironment] != "prod" {
				t.Fatalf("%s lacks flinksync's labels: %v", o.ID(), l)
			}
		}
	})
}
