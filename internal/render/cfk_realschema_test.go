package render_test

import (
	"fmt"
	"io/fs"
	"os"
	"sort"
	"testing"
	"testing/fstest"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// TestTestReposAcceptedByRealCFKSchema serves the real CFK 3.3.0 CRDs (from
// ../shared, as the pipeline's real-schema test does for the example) and
// dry-runs every CFK object rendered for this package's test repositories,
// with whole and fractional CPUs: FlinkApplications and, from the SQL
// pipeline's repositories, every CFK kind of Flink SQL.
func TestTestReposAcceptedByRealCFKSchema(t *testing.T) {
	cfg := testenv.Config(t)
	kinds := map[string]bool{}
	for _, k := range testenv.UseRealCRDs(t, cfg, testenv.RealCFKCRDs) {
		kinds[k] = true
	}
	repos := map[string]fs.FS{"tlsPolicy": tlsPolicyRepo()}
	for name, files := range render.CFKTestRepos() {
		m := fstest.MapFS{}
		for k, v := range files {
			m[k] = &fstest.MapFile{Data: []byte(v)}
		}
		repos[name] = m
	}
	names := make([]string, 0, len(repos))
	for n := range repos {
		names = append(names, n)
	}
	sort.Strings(names)
	checked := map[string]int{}
	for _, name := range names {
		fsys := repos[name]
		repo, findings, err := model.LoadFS(fsys)
		if err != nil || len(findings) > 0 {
			t.Fatalf("%s: %v %v", name, err, findings)
		}
		for _, cpu := range []float64{0.5, 1, 2.25} {
			res := render.Resources{TaskManagers: 2, Slots: 2, TaskManagerCPU: cpu * 2, TaskManagerMemory: 8 << 30,
				JobManagerCPU: cpu, JobManagerMemory: 2 << 30}
			for _, env := range repo.Environments {
				if env.Spec.Target != model.TargetCFK {
					continue
				}
				out, findings, err := render.Render(render.InputOf(repo, env,
					func(string, string) (render.Resources, error) { return res, nil }), render.Options{Source: fsys, Revision: "abc"})
				if err != nil || len(findings) > 0 {
					t.Fatalf("%s: %v %v", name, err, findings)
				}
				for _, o := range out.Objects {
					if o.GroupVersionKind().Group == testenv.CFKGroup && !kinds[o.GetKind()] {
						t.Errorf("%s: no real CFK CRD for %s", name, o.ID())
					}
				}
				testenv.CheckCFK(t, cfg, fmt.Sprintf("repository %s, environment %s, JobManager CPU %g", name, env.Metadata.Name, cpu),
					out.Objects, checked)
			}
		}
	}
	testenv.RequireChecked(t, checked, "CMFRestClass", "FlinkEnvironment", "FlinkApplication",
		"FlinkComputePool", "FlinkStatement", "FlinkKafkaCatalog", "FlinkKafkaDatabase", "FlinkSecret", "FlinkEnvironmentSecretMapping")
}
