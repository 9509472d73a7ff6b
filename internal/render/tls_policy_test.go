package render_test

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/policy"
	"github.com/flinksync/flinksync/internal/render"
)

// The rendered password delivery passes policy: no inline secret (TLS-003)
// and TLS fully configured (TLS-001, TLS-002), for fko and cfk. Written as
// an external test because policy imports render.
func TestRenderedTLSPassesPolicy(t *testing.T) {
	fsys := tlsPolicyRepo()
	repo, findings, err := model.LoadFS(fsys)
	if err != nil || len(findings) > 0 {
		t.Fatalf("%v %v", err, findings)
	}
	res := render.Resources{TaskManagers: 2, Slots: 2, TaskManagerCPU: 2, TaskManagerMemory: 8 << 30, JobManagerCPU: 1, JobManagerMemory: 2 << 30}
	rendered := map[string]*render.Environment{}
	wired := 0
	for _, env := range repo.Environments {
		out, findings, err := render.Render(render.InputOf(repo, env,
			func(string, string) (render.Resources, error) { return res, nil }), render.Options{Source: fsys})
		if err != nil || len(findings) > 0 {
			t.Fatalf("%v %v", err, findings)
		}
		rendered[env.Metadata.Name] = out
		for _, o := range out.Objects {
			b, err := render.YAML([]*render.Object{o})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), render.TLSInitContainer) {
				wired++
			}
		}
	}
	if wired != 2 {
		t.Fatalf("want the password wiring on both Flink objects, found it on %d", wired)
	}
	for _, f := range policy.Evaluate(policy.Input{Repo: repo, Rendered: rendered, Now: time.Now()}) {
		if strings.HasPrefix(f.Rule, "TLS-") {
			t.Errorf("rendered TLS raises %s: %s", f.Rule, f.String())
		}
	}
}

// tlsPolicyRepo is a repository with TLS required in an fko and a cfk
// environment.
func tlsPolicyRepo() fstest.MapFS {
	return fstest.MapFS{
		"envs/prod.yaml": {Data: []byte(`apiVersion: flinksync.dev/v1alpha1
kind: Environment
metadata: {name: prod}
spec:
  target: fko
  namespace: flink-prod
  nodes: {cpu: "8", memory: 32Gi, count: 4}
  serviceAccount: flink
  defaults: {image: flink:2.1, flinkVersion: v2_1, mode: standalone}
  tls: {required: true, secretName: prod-tls}
`)},
		"envs/eu.yaml": {Data: []byte(`apiVersion: flinksync.dev/v1alpha1
kind: Environment
metadata: {name: eu}
spec:
  target: cfk
  namespace: flink-eu
  nodes: {cpu: "8", memory: 32Gi, count: 4}
  serviceAccount: flink
  defaults: {image: cp-flink:1.20, flinkVersion: v1_20, mode: standalone}
  tls: {required: true, secretName: eu-tls}
  cfk: {cmfRestClassRef: {name: default, namespace: confluent}}
`)},
		"pools/p.yaml": {Data: []byte(`apiVersion: flinksync.dev/v1alpha1
kind: ComputePool
metadata: {name: p}
spec:
  taskManager: {cpu: "2", memory: 8Gi, slots: 2}
`)},
		"apps/a.yaml": {Data: []byte(`apiVersion: flinksync.dev/v1alpha1
kind: FlinkApplication
metadata: {name: a}
spec:
  environments: [prod, eu]
  pool: p
  job: {jarURI: local:///a.jar}
  taskManagers: 2
`)},
	}
}
