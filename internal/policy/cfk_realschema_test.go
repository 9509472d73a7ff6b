package policy_test

import (
	"os"
	"testing"
	"testing/fstest"
	"time"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/policy"
	"github.com/flinksync/flinksync/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// TestCompliantRepoAcceptedByRealCFKSchema: the CFK objects rendered for
// this package's compliant repository pass a server-side dry-run against the
// real CFK 3.3.0 CRDs from ../shared (required in CI).
func TestCompliantRepoAcceptedByRealCFKSchema(t *testing.T) {
	cfg := testenv.Config(t)
	testenv.UseRealCRDs(t, cfg, testenv.RealCFKCRDs)
	fsys := fstest.MapFS{}
	for k, v := range policy.CompliantRepo() {
		fsys[k] = &fstest.MapFile{Data: []byte(v)}
	}
	res, err := pipeline.Run(fsys, pipeline.Options{Revision: "abc", Now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	checked := map[string]int{}
	for _, name := range res.Environments() {
		if out := res.Rendered[name]; out != nil && res.Repo.Environment(name).Spec.Target == model.TargetCFK {
			testenv.CheckCFK(t, cfg, "environment "+name, out.Objects, checked)
		}
	}
	testenv.RequireChecked(t, checked, "CMFRestClass", "FlinkEnvironment", "FlinkApplication")
}
