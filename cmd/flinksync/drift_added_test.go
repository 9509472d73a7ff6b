package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/plan"
	"github.com/flinksync/flinksync/internal/source"
	"github.com/flinksync/flinksync/internal/sync"
	"github.com/flinksync/flinksync/internal/testenv"
)

var fdResource = schema.GroupVersionResource{Group: "flink.apache.org", Version: "v1beta1", Resource: "flinkdeployments"}

// patchAs merge-patches a FlinkDeployment as another field manager would.
func patchAs(t *testing.T, cfg *rest.Config, manager, ns, name, patch string) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Resource(fdResource).Namespace(ns).Patch(context.Background(), name, types.MergePatchType, []byte(patch),
		metav1.PatchOptions{FieldManager: manager}); err != nil {
		t.Fatal(err)
	}
}

// TestDriftNamesAKeyAnotherManagerAdded: `kubectl patch` adds a key to a
// FlinkDeployment's spec.flinkConfiguration; drift exits 1 naming it, diff
// shows it going, and apply in a drift: correct environment removes it.
func TestDriftNamesAKeyAnotherManagerAdded(t *testing.T) {
	cfg := testenv.Config(t)
	kc := testenv.WriteKubeconfig(t, cfg)
	sfx := fmt.Sprintf("-a%d", clusterRuns.Add(1))
	repo := t.TempDir()
	testenv.CopyTree(t, example, repo, testenv.UniqueNamespaces(t, cfg, sfx))
	if code, out, errOut := runCLI(t, "apply", "--repo", repo, "--kubeconfig", kc, "--env", "staging"); code != 0 {
		t.Fatalf("apply exited %d:\n%s%s", code, out, errOut)
	}
	patchAs(t, cfg, "kubectl-patch", "flink-staging"+sfx, "orders-enrich", `{"spec":{"flinkConfiguration":{"taskmanager.debug.memory.log":"true"}}}`)

	code, out, _ := runCLI(t, "drift", "--repo", repo, "--kubeconfig", kc, "--env", "staging")
	want := `staging FlinkDeployment/flink-staging` + sfx + `/orders-enrich spec.flinkConfiguration["taskmanager.debug.memory.log"]: Git <not in Git>, live true`
	if code != 1 || !strings.Contains(out, want) || !strings.Contains(out, "1 drifted field(s)") {
		t.Fatalf("drift must exit 1 naming the added key, got %d:\n%s", code, out)
	}
	code, out, _ = runCLI(t, "drift", "--repo", repo, "--kubeconfig", kc, "--env", "staging", "--output", "json")
	var drift []sync.Drift
	if err := json.Unmarshal([]byte(out), &drift); err != nil || code != 1 || len(drift) != 1 ||
		drift[0].Field != `spec.flinkConfiguration["taskmanager.debug.memory.log"]` || drift[0].Live != "true" {
		t.Fatalf("drift JSON, got %d %+v (%v)", code, drift, err)
	}
	if code, out, _ := runCLI(t, "diff", "--repo", repo, "--kubeconfig", kc, "--env", "staging"); code != 1 || !strings.Contains(out, `-    taskmanager.debug.memory.log: "true"`) {
		t.Fatalf("diff must show the added key going, got %d:\n%s", code, out)
	}
	if code, out, errOut := runCLI(t, "apply", "--repo", repo, "--kubeconfig", kc, "--env", "staging"); code != 0 {
		t.Fatalf("apply exited %d:\n%s%s", code, out, errOut)
	}
	if code, out, _ := runCLI(t, "drift", "--repo", repo, "--kubeconfig", kc, "--env", "staging"); code != 0 || !strings.Contains(out, "0 drifted") {
		t.Fatalf("correct mode removed the key; drift must be gone, got %d:\n%s", code, out)
	}
}

// TestPlanLiveHonoursIgnoreRules: a live change at a path the environment
// ignores is no live difference for `plan --live`; a key another manager
// adds is one.
func TestPlanLiveHonoursIgnoreRules(t *testing.T) {
	cfg := testenv.Config(t)
	kc := testenv.WriteKubeconfig(t, cfg)
	suffix := fmt.Sprintf("%06x", time.Now().UnixNano()&0xffffff)
	ns := "planig-" + suffix + "-staging"
	p := newPlanRepo(t, "", func(name, content string) string {
		if !strings.HasPrefix(name, "environments/") {
			return content
		}
		content = strings.Replace(content, "namespace: flink-", "namespace: planig-"+suffix+"-", 1)
		if name != "environments/staging.yaml" {
			return content
		}
		return strings.Replace(content, "    drift: correct\n", "    drift: correct\n    ignore:\n      - kind: FlinkDeployment\n        paths: [/spec/taskManager/replicas]\n", 1)
	})
	for _, env := range []string{"dev", "staging", "prod", "prod-eu", exampleCMFEnv} {
		testenv.CreateNamespace(t, cfg, "planig-"+suffix+"-"+env)
	}
	_, cmfEndpoint := exampleCMF(t, cfg, "planig-"+suffix+"-"+exampleCMFEnv) // example_cmf_test.go
	repo, err := source.Open(p.dir)
	if err != nil {
		t.Fatal(err)
	}
	fsys, h, err := source.TreeFS(repo, "main")
	if err != nil {
		t.Fatal(err)
	}
	base, err := pipeline.Run(fsys, pipeline.Options{Revision: h.String()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sync.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res := s.Sync(context.Background(), base.Repo.Environment("staging"), base.Rendered["staging"], sync.Options{}); !res.OK() {
		t.Fatalf("applying staging: %s %v", res.Summary(), res.Errors)
	}
	staging := func() *plan.EnvironmentPlan {
		t.Helper()
		code, out, errOut := runCLI(t, append([]string{"plan", "--repo", p.dir, "--base", "main", "--head", "main", "--live", "--kubeconfig", kc, "-o", "json"}, cmfEndpoint...)...)
		var r plan.Result
		if err := json.Unmarshal([]byte(out), &r); err != nil || (code != 0 && code != 1) {
			t.Fatalf("exit %d (%v):\n%s%s", code, err, out, errOut)
		}
		for _, e := range r.Environments {
			if e.Name == "staging" {
				return e
			}
		}
		t.Fatalf("no staging in %s", out)
		return nil
	}

	patchAs(t, cfg, "kubectl-edit", ns, "orders-enrich", `{"spec":{"taskManager":{"replicas":42}}}`)
	if e := staging(); e.Live == nil || e.Live.Error != "" || len(e.Live.Objects) != 0 {
		t.Fatalf("an ignored path is no live difference, got %+v", e.Live)
	}
	patchAs(t, cfg, "kubectl-patch", ns, "orders-enrich", `{"spec":{"flinkConfiguration":{"taskmanager.debug.memory.log":"true"}}}`)
	e := staging()
	if e.Live == nil || len(e.Live.Objects) != 1 || !strings.Contains(e.Live.Objects[0].Unified, `-    taskmanager.debug.memory.log: "true"`) ||
		strings.Contains(e.Live.Objects[0].Unified, "replicas: 42") {
		t.Fatalf("the added key shows, the ignored replicas do not: %+v", e.Live)
	}
}
