// Package testrepo writes synthetic flinksync repositories of any size for
// benchmarks and tests: environments, one pool, and applications that run
// in every environment. It is test support; no product code imports it.
package testrepo

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/flinksync/flinksync/internal/diag"
)

// Options shape a repository. Zero values take the defaults noted.
type Options struct {
	Apps int
	// Envs is the number of environments (default 1), named env0, env1, …
	// unless EnvName says otherwise.
	Envs    int
	EnvName func(i int) string
	// Namespace gives an environment's namespace (default "flink-<env>").
	Namespace func(env string) string
	// Overlays gives the first n environments a kustomize overlay (a label
	// and a pod template toleration, as a platform team would add).
	Overlays int
	// Nodes is each environment's node count (default 2000: room for any
	// sized app, so capacity never blocks a benchmark).
	Nodes int
	// Rate is app i's records per second (default 1000 + 10·i).
	Rate func(i int) int
	// TaskManagers, when set, pins every app's count ("taskManagers: n").
	TaskManagers int
}

// Files returns the repository as file name → content.
func Files(o Options) map[string]string {
	if o.Envs == 0 {
		o.Envs = 1
	}
	if o.EnvName == nil {
		o.EnvName = func(i int) string { return fmt.Sprintf("env%d", i) }
	}
	if o.Namespace == nil {
		o.Namespace = func(env string) string { return "flink-" + env }
	}
	if o.Nodes == 0 {
		o.Nodes = 2000
	}
	if o.Rate == nil {
		o.Rate = func(i int) int { return 1000 + 10*i }
	}
	files := map[string]string{}
	var names []string
	for e := 0; e < o.Envs; e++ {
		name := o.EnvName(e)
		names = append(names, name)
		files["environments/"+name+".yaml"] = fmt.Sprintf(`apiVersion: flinksync.dev/v1alpha1
kind: Environment
metadata: {name: %s}
spec:
  target: fko
  namespace: %s
  nodes: {cpu: "8", memory: 32Gi, count: %d}
  defaults:
    image: flink:1.20
    flinkVersion: v1_20
    mode: standalone
    flinkConfiguration: {state.checkpoints.dir: "s3://b/%s"}
`, name, o.Namespace(name), o.Nodes, name)
		if e < o.Overlays {
			files["overlays/"+name+"/kustomization.yaml"] = `labels:
- pairs: {cost-center: data}
patches:
- target: {kind: FlinkDeployment}
  patch: |-
    - op: add
      path: /spec/podTemplate
      value: {spec: {tolerations: [{key: dedicated, operator: Equal, value: flink, effect: NoSchedule}]}}
`
		}
	}
	files["pools/medium.yaml"] = `apiVersion: flinksync.dev/v1alpha1
kind: ComputePool
metadata: {name: medium}
spec:
  taskManager: {cpu: "2", memory: 8Gi, slots: 2}
`
	pinned := ""
	if o.TaskManagers > 0 {
		pinned = fmt.Sprintf("  taskManagers: %d\n", o.TaskManagers)
	}
	for a := 0; a < o.Apps; a++ {
		files[AppFile(a)] = fmt.Sprintf(`apiVersion: flinksync.dev/v1alpha1
kind: FlinkApplication
metadata: {name: %s}
spec:
  environments: [%s]
  pool: medium
  image: registry.example.com/%s:1.0
  job: {jarURI: "local:///opt/flink/usrlib/app.jar", entryClass: com.example.App, upgradeMode: savepoint}
  workload: {recordsPerSecond: %d, avgRecordBytes: 1024, distinctKeys: 100000, stateSize: 2Gi, complexity: medium, latency: 1s}
%s`, AppName(a), strings.Join(names, ", "), AppName(a), o.Rate(a), pinned)
	}
	return files
}

// AppName is the name of app i.
func AppName(i int) string { return fmt.Sprintf("app-%04d", i) }

// AppFile is the file of app i.
func AppFile(i int) string { return "apps/" + AppName(i) + ".yaml" }

// FS returns files as an in-memory file system.
func FS(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, data := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return fsys
}

// Write writes files under dir.
func Write(tb testing.TB, dir string, files map[string]string) {
	tb.Helper()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// Clean returns a function that fails tb unless a stage (a load, a sizing,
// a render) ran without an error or a finding, and returns its value:
// repo := testrepo.Clean[*model.Repository](t)(model.LoadFS(fsys)).
func Clean[V any](tb testing.TB) func(V, []*diag.Finding, error) V {
	return func(v V, findings []*diag.Finding, err error) V {
		tb.Helper()
		if err != nil || len(findings) > 0 {
			tb.Fatalf("want no error and no finding, got %v and %v", err, findings)
		}
		return v
	}
}
