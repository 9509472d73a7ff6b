package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flinksync/flinksync/internal/testenv"
)

// apply and drift warn of an environment that moved to another namespace
// and left its objects behind.
func TestApplyAndDriftWarnOfAMovedEnvironment(t *testing.T) {
	cfg := testenv.Config(t)
	kc := testenv.WriteKubeconfig(t, cfg)
	sfx := fmt.Sprintf("-o%d", clusterRuns.Add(1))
	repo := t.TempDir()
	testenv.CopyTree(t, example, repo, testenv.UniqueNamespaces(t, cfg, sfx))
	if code, out, errOut := runCLI(t, "apply", "--repo", repo, "--kubeconfig", kc, "--env", "dev"); code != 0 {
		t.Fatalf("apply exited %d:\n%s%s", code, out, errOut)
	}
	old, moved := "flink-dev"+sfx, "flink-dev-moved"+sfx
	testenv.CreateNamespace(t, cfg, moved)
	file := filepath.Join(repo, "environments", "dev.yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(data), "namespace: "+old, "namespace: "+moved, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	want := "warning: environment dev moved from namespace " + old + " to " + moved
	code, out, errOut := runCLI(t, "apply", "--repo", repo, "--kubeconfig", kc, "--env", "dev")
	if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "FlinkDeployment "+old+"/") {
		t.Fatalf("apply must warn of the objects left in %s, got %d:\n%s%s", old, code, out, errOut)
	}
	code, out, errOut = runCLI(t, "drift", "--repo", repo, "--kubeconfig", kc, "--env", "dev")
	if code != 0 || !strings.Contains(errOut, want) {
		t.Fatalf("drift must warn too, got %d:\n%s%s", code, out, errOut)
	}
}
