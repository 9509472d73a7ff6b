package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/flinksync/flinksync/internal/sync"
	"github.com/flinksync/flinksync/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

var clusterRuns atomic.Int64

// TestApplyDiffDriftCommands runs the cluster commands end to end on the
// example against a real API server.
func TestApplyDiffDriftCommands(t *testing.T) {
	cfg := testenv.Config(t)
	kc := testenv.WriteKubeconfig(t, cfg)
	// Namespaces of this run only: the test may run more than once on one
	// control plane (go test -count).
	sfx := fmt.Sprintf("-c%d", clusterRuns.Add(1))
	repo := t.TempDir()
	testenv.CopyTree(t, example, repo, testenv.UniqueNamespaces(t, cfg, sfx))
	// The cmf environment syncs with a CMF stand-in (example_cmf_test.go).
	standIn, cmfEndpoint := exampleCMF(t, cfg, exampleCMFNamespace+sfx)
	cli := func(args ...string) (int, string, string) { return runCLI(t, append(args, cmfEndpoint...)...) }

	code, out, errOut := cli("diff", "--repo", repo, "--kubeconfig", kc)
	if code != 1 || !strings.Contains(out, "+++ git/FlinkDeployment/flink-prod"+sfx+"/orders-enrich") {
		t.Fatalf("diff before the first apply must show creations and exit 1, got %d:\n%.2000s%s", code, out, errOut)
	}

	code, out, errOut = cli("apply", "--repo", repo, "--kubeconfig", kc, "--output", "json")
	if code != 0 {
		t.Fatalf("apply exited %d:\n%.3000s%s", code, out, errOut)
	}
	var applied struct{ Environments []*sync.Result }
	if err := json.Unmarshal([]byte(out), &applied); err != nil {
		t.Fatal(err)
	}
	if len(applied.Environments) != 5 {
		t.Fatalf("want 5 environments, got %d", len(applied.Environments))
	}
	for _, r := range applied.Environments {
		if r.Count(sync.Created) == 0 {
			t.Errorf("%s: nothing created", r.Environment)
		}
	}

	writes := standIn.Writes()
	code, out, _ = cli("apply", "--repo", repo, "--kubeconfig", kc)
	if code != 0 || strings.Contains(out, "\n  created") || !strings.Contains(out, "0 configured") || standIn.Writes() != writes {
		t.Fatalf("the second apply must change nothing (the CMF stand-in counted %d writes, then %d), got %d:\n%s", writes, standIn.Writes(), code, out)
	}
	if code, out, _ := cli("drift", "--repo", repo, "--kubeconfig", kc); code != 0 || !strings.Contains(out, "0 drifted") {
		t.Fatalf("no drift yet, got %d:\n%s", code, out)
	}

	// A live edit in staging (drift: correct).
	dyn, _ := dynamic.NewForConfig(cfg)
	gvr := schema.GroupVersionResource{Group: "flink.apache.org", Version: "v1beta1", Resource: "flinkdeployments"}
	if _, err := dyn.Resource(gvr).Namespace("flink-staging"+sfx).Patch(context.Background(), "orders-enrich", types.MergePatchType,
		[]byte(`{"spec":{"taskManager":{"replicas":42}}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	code, out, _ = cli("drift", "--repo", repo, "--kubeconfig", kc, "--output", "json")
	var drift []sync.Drift
	if err := json.Unmarshal([]byte(out), &drift); err != nil {
		t.Fatalf("drift JSON: %v\n%s", err, out)
	}
	if code != 1 || len(drift) != 1 || drift[0].Field != "spec.taskManager.replicas" || drift[0].Live != "42" ||
		drift[0].Environment != "staging" || drift[0].Kind != "FlinkDeployment" || drift[0].Name != "orders-enrich" {
		t.Fatalf("drift must name the edited field, got %d %+v", code, drift)
	}
	code, out, _ = cli("diff", "--repo", repo, "--kubeconfig", kc, "--env", "staging")
	if code != 1 || !strings.Contains(out, "-    replicas: 42") {
		t.Fatalf("diff must show the live edit, got %d:\n%s", code, out)
	}
	if code, out, _ := cli("apply", "--repo", repo, "--kubeconfig", kc, "--env", "staging"); code != 0 {
		t.Fatalf("apply exited %d:\n%s", code, out)
	}
	if code, out, _ := cli("drift", "--repo", repo, "--kubeconfig", kc); code != 0 {
		t.Fatalf("correct mode restored the field; drift must be gone, got %d:\n%s", code, out)
	}
	if code, _, errOut := cli("apply", "--repo", repo, "--kubeconfig", filepath.Join(repo, "nope")); code != 2 {
		t.Errorf("a missing kubeconfig must exit 2, got %d %s", code, errOut)
	}
}
