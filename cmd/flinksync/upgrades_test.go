package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/flinksync/flinksync/internal/sync"
	"github.com/flinksync/flinksync/internal/testenv"
)

// TestApplyWaitFollowsUpgrades runs apply against a real API server, the
// test playing FKO: a first apply starts the jobs' first deploys and says
// so; FKO reports them STABLE; the next apply reports them succeeded,
// writes a new image and, with --wait, follows its upgrade until FKO rolls
// it back (exit 1, a line for the job); a third, with --wait and JSON
// output, ends when the job is STABLE on the new generation (exit 0).
func TestApplyWaitFollowsUpgrades(t *testing.T) {
	cfg := testenv.Config(t)
	kc := testenv.WriteKubeconfig(t, cfg)
	sfx := fmt.Sprintf("-c%d", clusterRuns.Add(1))
	repo := t.TempDir()
	testenv.CopyTree(t, example, repo, testenv.UniqueNamespaces(t, cfg, sfx))
	ns := "flink-dev" + sfx
	dyn, _ := dynamic.NewForConfig(cfg)
	fds := dyn.Resource(schema.GroupVersionResource{Group: "flink.apache.org", Version: "v1beta1", Resource: "flinkdeployments"}).Namespace(ns)
	ctx := context.Background()
	// operator writes status to app once its generation reaches gen.
	operator := func(app string, gen int64, status map[string]any) chan error {
		done := make(chan error, 1)
		go func() {
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				u, err := fds.Get(ctx, app, metav1.GetOptions{})
				if err == nil && u.GetGeneration() >= gen {
					status["observedGeneration"] = u.GetGeneration()
					u.Object["status"] = status
					_, err = fds.UpdateStatus(ctx, u, metav1.UpdateOptions{})
					done <- err
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			done <- fmt.Errorf("%s never reached generation %d", app, gen)
		}()
		return done
	}
	stable := func() map[string]any {
		return map[string]any{"lifecycleState": "STABLE", "jobManagerDeploymentStatus": "READY", "jobStatus": map[string]any{"state": "RUNNING"}}
	}
	setImage := func(from, to string) {
		p := filepath.Join(repo, "apps", "orders-enrich.yaml")
		data, _ := os.ReadFile(p)
		if err := os.WriteFile(p, []byte(strings.Replace(string(data), from, to, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	code, out, errOut := runCLI(t, "apply", "--repo", repo, "--kubeconfig", kc, "--env", "dev")
	if code != 0 || !strings.Contains(out, "  upgrade    app orders-enrich (FlinkDeployment generation 1): first deploy started\n") {
		t.Fatalf("the first apply starts the first deploys, got %d:\n%s%s", code, out, errOut)
	}
	list, err := fds.List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) < 2 {
		t.Fatalf("dev's FlinkDeployments: %v (%d)", err, len(list.Items))
	}
	for _, u := range list.Items {
		if err := <-operator(u.GetName(), 1, stable()); err != nil {
			t.Fatal(err)
		}
	}

	setImage("orders-enrich:1.4.2", "orders-enrich:1.4.3")
	rolledBack := operator("orders-enrich", 2, map[string]any{"lifecycleState": "ROLLED_BACK", "jobManagerDeploymentStatus": "READY",
		"jobStatus": map[string]any{"state": "RUNNING"}, "reconciliationStatus": map[string]any{"state": "ROLLED_BACK"}})
	code, out, errOut = runCLI(t, "apply", "--repo", repo, "--kubeconfig", kc, "--env", "dev", "--wait", "30s")
	if err := <-rolledBack; err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"  upgrade    app orders-enrich (FlinkDeployment generation 2): upgrade started\n",
		"  upgrade    app clickstream-filter (FlinkDeployment generation 1): upgrade succeeded in ",
		"  upgrade    app orders-enrich (FlinkDeployment generation 1): upgrade succeeded in ", // settled as the new image is written
		"waiting up to 30s for 1 upgrade(s) to end\n",
		"dev: app orders-enrich (FlinkDeployment generation 2): upgrade failed and was rolled back after ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("apply --wait output lacks %q", want)
		}
	}
	if code != 1 {
		t.Errorf("a rolled-back upgrade fails apply --wait: exit %d", code)
	}
	if t.Failed() {
		t.Fatalf("output:\n%s%s", out, errOut)
	}

	setImage("orders-enrich:1.4.3", "orders-enrich:1.4.4")
	healthy := operator("orders-enrich", 3, stable())
	code, out, errOut = runCLI(t, "apply", "--repo", repo, "--kubeconfig", kc, "--env", "dev", "--wait", "30s", "--output", "json")
	if err := <-healthy; err != nil {
		t.Fatal(err)
	}
	var applied struct{ Environments []*sync.Result }
	if err := json.Unmarshal([]byte(out), &applied); err != nil || len(applied.Environments) != 1 {
		t.Fatalf("apply JSON: %v\n%s%s", err, out, errOut)
	}
	var got *sync.Upgrade
	for i, u := range applied.Environments[0].Upgrades {
		if u.Job == "orders-enrich" && u.Kind == "FlinkDeployment" {
			got = &applied.Environments[0].Upgrades[i]
		}
	}
	if got == nil || got.State != sync.UpgradeSucceeded || got.Generation != 3 {
		t.Fatalf("the JSON must carry the upgrade that succeeded: %+v\n%s", got, out)
	}
	if code != 0 {
		t.Errorf("every upgrade succeeded: want exit 0, got %d\n%s%s", code, out, errOut)
	}
}
