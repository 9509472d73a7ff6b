package render_test

import (
	"io/fs"
	"os"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// TestTestReposAcceptedByRealCFKSchema serves the real CFK 3.3.0 CRDs (from
// ../shared, as the pipeline's real-schema test does for the example) and
// dry-runs every CFK object rendered for this package's test repositories,
// with whole and fractional CPUs.
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
		repo, err := model.LoadFS(fsys)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, cpu := range []float64{0.5, 1, 2.25} {
			res := render.Resources{TaskManagers: 2, Slots: 2, TaskManagerCPU: cpu * 2, TaskManagerMemory: 8 << 30,
				JobManagerCPU: cpu, JobManagerMemory: 2 << 30}
			for _, env := range repo.Environments {
				if env.Spec.Target != model.TargetCFK {
					continue
				}
				out, err := render.Render(env, repo.EffectiveApps(env.Metadata.Name),
					func(string, string) (render.Resources, error) { return res, nil }, render.Options{Source: fsys, Revision: "abc"})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				var objs []*unstructured.Unstructured
				for _, o := range out.Objects {
					if o.GroupVersionKind().Group == render.FlinkApplicationGVK.Group {
						if !kinds[o.GetKind()] {
							t.Errorf("%s: no real CFK CRD for %s", name, o.ID())
						}
						objs = append(objs, o.Unstructured)
						checked[o.GetKind()]++
					}
				}
				if f := testenv.DryRunApply(t, cfg, objs); len(f) > 0 {
					t.Errorf("repository %s, environment %s, JobManager CPU %g: rejected by the real CFK 3.3.0 schema:\n  %s",
						name, env.Metadata.Name, cpu, strings.Join(f, "\n  "))
				}
			}
		}
	}
	for _, k := range []string{"CMFRestClass", "FlinkEnvironment", "FlinkApplication"} {
		if checked[k] == 0 {
			t.Errorf("no %s was checked: %v", k, checked)
		}
	}
}
