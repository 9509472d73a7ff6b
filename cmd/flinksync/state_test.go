package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flinksync/flinksync/internal/testenv"
)

// apply --dry-run says, per job, what a change does to its state, and that
// the state guard would block the enforcing environment; apply then exits
// non-zero and leaves that environment as it is.
func TestApplyShowsStateImpactAndGuard(t *testing.T) {
	cfg := testenv.Config(t)
	kc := testenv.WriteKubeconfig(t, cfg)
	sfx := fmt.Sprintf("-s%d", clusterRuns.Add(1))
	repo := t.TempDir()
	testenv.CopyTree(t, example, repo, testenv.UniqueNamespaces(t, cfg, sfx))
	if code, out, errOut := runCLI(t, "apply", "--repo", repo, "--kubeconfig", kc, "--env", "prod"); code != 0 {
		t.Fatalf("first apply exited %d:\n%.3000s%s", code, out, errOut)
	}
	app := filepath.Join(repo, "apps", "orders-enrich.yaml")
	data, err := os.ReadFile(app)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(app, []byte(strings.Replace(string(data), "upgradeMode: savepoint", "upgradeMode: stateless", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "apply", "--repo", repo, "--kubeconfig", kc, "--env", "prod", "--dry-run")
	for _, want := range []string{
		"  state      app orders-enrich: stateful: upgrade with upgradeMode stateless, 20Gi of state lost\n",
		"  blocked: STATE-001: app orders-enrich:",
		"acknowledge the loss in spec.stateGuard.acknowledge",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("apply --dry-run output lacks %q (exit %d):\n%s%s", want, code, out, errOut)
		}
	}
	if code == 0 {
		t.Errorf("a dry run the guard blocks must exit non-zero")
	}
	code, out, _ = runCLI(t, "apply", "--repo", repo, "--kubeconfig", kc, "--env", "prod")
	if code == 0 || !strings.Contains(out, "blocked (") {
		t.Errorf("apply must be blocked by the guard, got %d:\n%s", code, out)
	}
}
