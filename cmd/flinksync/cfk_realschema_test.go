package main

import (
	"testing"
	"testing/fstest"
	"time"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/testenv"
)

// TestCompliantRepoAcceptedByRealCFKSchema: the CFK objects rendered for
// this package's test repositories with a cfk environment pass a
// server-side dry-run against the real CFK 3.3.0 CRDs from ../shared
// (required in CI): the compliant repository (its cfk environment renders
// a CMFRestClass with TLS), and the same with SQL (sqlEdits: a pool, a
// catalog with its database and secrets, a DDL and a streaming statement),
// with and without TLS required in that environment.
func TestCompliantRepoAcceptedByRealCFKSchema(t *testing.T) {
	cfg := testenv.Config(t)
	testenv.UseRealCRDs(t, cfg, testenv.RealCFKCRDs)
	sqlKinds := []string{"FlinkComputePool", "FlinkStatement", "FlinkKafkaCatalog", "FlinkKafkaDatabase", "FlinkSecret", "FlinkEnvironmentSecretMapping"}
	for _, tc := range []struct {
		name  string
		files map[string]string
		kinds []string
	}{
		{"compliant", compliantRepo, nil},
		{"compliant with SQL", repoFiles(t, sqlEdits...), sqlKinds},
		{"compliant with SQL, TLS required", repoFiles(t, withSQL(euTLS)...), sqlKinds},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for k, v := range tc.files {
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
			testenv.RequireChecked(t, checked, append([]string{"CMFRestClass", "FlinkEnvironment", "FlinkApplication"}, tc.kinds...)...)
		})
	}
}
