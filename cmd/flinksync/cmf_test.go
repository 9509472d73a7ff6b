package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flinksync/flinksync/internal/clusters"
	"github.com/flinksync/flinksync/internal/cmf"
	"github.com/flinksync/flinksync/internal/cmf/cmftest"
	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/sync"
)

// cmfRepo is the target: cmf test repository of internal/cmf/cmfsync.
const cmfRepo = "../../internal/cmf/cmfsync/testdata/repo"

// TestCMFCommands runs diff, apply and drift on a target: cmf environment
// against the CMF stand-in over mTLS, with credentials from files: no
// Kubernetes cluster is needed.
func TestCMFCommands(t *testing.T) {
	s := cmftest.New(t, cmftest.Options{Auth: cmftest.MTLS})
	s.AddSecret("sr-credentials")
	s.AddSecret("kafka-credentials")
	t.Setenv(cmf.FilesDirEnv, s.FilesDir)
	repo := s.Repository(t, cmfRepo)
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none")) // no cluster at all

	code, out, errOut := runCLI(t, "diff", "--repo", repo)
	if code != 1 || !strings.Contains(out, "# created FlinkApplication/prod-cmf/orders-enrich") {
		t.Fatalf("diff before the first apply: %d\n%.2000s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "apply", "--repo", repo, "--output", "json")
	var applied struct{ Environments []*sync.Result }
	if err := json.Unmarshal([]byte(out), &applied); code != 0 || err != nil || len(applied.Environments) != 1 || applied.Environments[0].Count(sync.Created) == 0 {
		t.Fatalf("apply: %d %v\n%.3000s%s", code, err, out, errOut)
	}
	writes := s.Writes()
	if code, out, _ := runCLI(t, "apply", "--repo", repo); code != 0 || s.Writes() != writes {
		t.Fatalf("the second apply must write nothing: %d\n%s", code, out)
	}
	const path = "/environments/prod-cmf/applications/orders-enrich"
	live := s.Get(path)
	live["spec"].(map[string]any)["job"].(map[string]any)["parallelism"] = 99
	s.Set(path, live)
	code, out, _ = runCLI(t, "drift", "--repo", repo)
	if code != 1 || !strings.Contains(out, "prod-cmf FlinkApplication/prod-cmf/orders-enrich spec.job.parallelism: Git ") || !strings.Contains(out, "live 99") {
		t.Fatalf("drift: %d\n%s", code, out)
	}
	if v := s.Violations(); len(v) > 0 {
		t.Errorf("the CMF stand-in counted violations:\n%s", strings.Join(v, "\n"))
	}
}

// TestPlanLiveComparesCMFEnvironmentsWithCMF: plan --live's differ sends
// a target cmf environment to CMF, not to a Kubernetes cluster (none is
// configured here).
func TestPlanLiveComparesCMFEnvironmentsWithCMF(t *testing.T) {
	s := cmftest.New(t, cmftest.Options{Auth: cmftest.OAuth})
	t.Setenv(cmf.FilesDirEnv, s.FilesDir)
	repo := s.Repository(t, cmfRepo)
	res, err := pipeline.Run(os.DirFS(repo), pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	env := res.Repo.Environment("prod-cmf")
	diffs, err := liveDiffer{set: clusters.New(clusters.Options{})}.Diff(context.Background(), env, res.Rendered["prod-cmf"])
	if err != nil || len(diffs) == 0 || diffs[0].Action != sync.Created || !strings.Contains(diffs[0].Unified, "kubernetesNamespace: flink-prod") {
		t.Fatalf("live diff: %v %+v", err, diffs)
	}
	if v := s.Violations(); len(v) > 0 {
		t.Errorf("the CMF stand-in counted violations:\n%s", strings.Join(v, "\n"))
	}
}
