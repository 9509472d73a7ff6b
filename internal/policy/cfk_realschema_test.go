package policy_test

import (
	"os"
	"testing"
	"testing/fstest"
	"time"

	"k8s.io/client-go/rest"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/policy"
	"github.com/flinksync/flinksync/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// TestCompliantRepoAcceptedByRealCFKSchema: the CFK objects rendered for
// this package's compliant repository, and for it with Flink SQL (a pool,
// a catalog with its database and secrets, a DDL and a streaming
// statement), pass a server-side dry-run against the real CFK 3.3.0 CRDs
// from ../shared (required in CI).
func TestCompliantRepoAcceptedByRealCFKSchema(t *testing.T) {
	cfg := testenv.Config(t)
	testenv.UseRealCRDs(t, cfg, testenv.RealCFKCRDs)
	kinds := []string{"CMFRestClass", "FlinkEnvironment", "FlinkApplication"}
	check(t, cfg, "compliant", policy.CompliantRepo(), kinds)
	for name, files := range policy.CompliantSQLRepos() {
		check(t, cfg, name, files, append(kinds, "FlinkComputePool", "FlinkStatement", "FlinkKafkaCatalog",
			"FlinkKafkaDatabase", "FlinkSecret", "FlinkEnvironmentSecretMapping"))
	}
}

// check dry-runs the CFK objects rendered for files and requires kinds
// among them.
func check(t *testing.T, cfg *rest.Config, name string, files map[string]string, kinds []string) {
	t.Run(name, func(t *testing.T) {
		fsys := fstest.MapFS{}
		for k, v := range files {
			fsys[k] = &fstest.MapFile{Data: []byte(v)}
		}
		res, err := pipeline.Run(fsys, pipeline.Options{Revision: "abc", Now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		checked := map[string]int{}
		for _, env := range res.Environments() {
			if out := res.Rendered[env]; out != nil && res.Repo.Environment(env).Spec.Target == model.TargetCFK {
				testenv.CheckCFK(t, cfg, "environment "+env, out.Objects, checked)
			}
		}
		testenv.RequireChecked(t, checked, kinds...)
	})
}
