package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/flinksync/flinksync/internal/sync"
	"github.com/flinksync/flinksync/internal/testenv"
)

var fdGVRm = schema.GroupVersionResource{Group: "flink.apache.org", Version: "v1beta1", Resource: "flinkdeployments"}
var cmGVRm = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// Environments on two real API servers: staging ("live") on cluster b, the
// others on the default cluster. Each object and each inventory lands only
// in its environment's cluster; a second apply changes nothing on either;
// with b's API server down, a change applies on the default cluster while
// staging fails alone, naming cluster b; once b is back, staging converges.
func TestApplyAcrossTwoClusters(t *testing.T) {
	cfgA := testenv.Config(t)
	kcA := testenv.WriteKubeconfig(t, cfgA)
	b := testenv.SecondCluster(t)
	kcB := testenv.WriteKubeconfig(t, b.Config)
	sfx := fmt.Sprintf("-m%d", clusterRuns.Add(1))
	repo := t.TempDir()
	testenv.CopyTree(t, example, repo, testenv.UniqueNamespaces(t, cfgA, sfx))
	testenv.CreateNamespace(t, b.Config, "flink-staging"+sfx)
	envFile := filepath.Join(repo, "environments", "staging.yaml")
	edit := func(path, from, to string) {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(data), from) {
			t.Fatalf("%s: %v, or no %q", path, err, from)
		}
		if err := os.WriteFile(path, []byte(strings.Replace(string(data), from, to, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	edit(envFile, "namespace: flink-staging"+sfx, "namespace: flink-staging"+sfx+"\n  cluster: b")
	// The cmf environment, on the default cluster, syncs with a CMF stand-in.
	_, cmfEndpoint := exampleCMF(t, cfgA, exampleCMFNamespace+sfx) // example_cmf_test.go
	apply := func(args ...string) (int, map[string]*sync.Result, string) {
		t.Helper()
		code, out, errOut := runCLI(t, append(append([]string{"apply", "--repo", repo, "--kubeconfig", kcA, "--output", "json"}, cmfEndpoint...), args...)...)
		var doc struct{ Environments []*sync.Result }
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("apply output: %v\n%s%s", err, out, errOut)
		}
		m := map[string]*sync.Result{}
		for _, r := range doc.Environments {
			m[r.Environment] = r
		}
		return code, m, out + errOut
	}

	// Without b's credentials, staging fails alone and says how to give them.
	code, res, out := apply()
	if code == 0 || res["staging"].OK() || !strings.Contains(strings.Join(res["staging"].Errors, " "), "--cluster b=KUBECONFIG") {
		t.Fatalf("staging without --cluster b: exit %d, %+v\n%s", code, res["staging"], out)
	}
	if !res["dev"].OK() || res["dev"].Count(sync.Created) == 0 {
		t.Fatalf("dev must be applied although staging's cluster is missing: %+v", res["dev"])
	}

	code, res, out = apply("--cluster", "b="+kcB)
	if code != 0 {
		t.Fatalf("apply on two clusters exited %d:\n%.4000s", code, out)
	}
	if res["staging"].Cluster != "b" || res["staging"].Count(sync.Created) == 0 {
		t.Errorf("staging on b: %+v", res["staging"])
	}
	nsStaging, nsDev := "flink-staging"+sfx, "flink-dev"+sfx
	if testenv.Get(t, b.Config, fdGVRm, nsStaging, "orders-enrich") == nil || testenv.Get(t, cfgA, fdGVRm, nsStaging, "orders-enrich") != nil {
		t.Errorf("staging's FlinkDeployment must be on cluster b only")
	}
	if testenv.Get(t, cfgA, fdGVRm, nsDev, "orders-enrich") == nil || testenv.Get(t, b.Config, fdGVRm, nsDev, "orders-enrich") != nil {
		t.Errorf("dev's FlinkDeployment must be on the default cluster only")
	}
	if testenv.Get(t, b.Config, cmGVRm, nsStaging, sync.InventoryName) == nil || testenv.Get(t, cfgA, cmGVRm, nsStaging, sync.InventoryName) != nil {
		t.Errorf("staging's inventory must be on cluster b only")
	}

	code, res, out = apply("--cluster", "b="+kcB)
	for env, r := range res {
		if r.Count(sync.Created)+r.Count(sync.Configured)+r.Count(sync.Pruned) != 0 {
			t.Errorf("second apply changed %s: %s", env, r.Summary())
		}
	}
	if code != 0 {
		t.Fatalf("second apply exited %d:\n%.3000s", code, out)
	}

	// b goes down; an image change reaches dev and prod but not staging.
	if err := b.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	edit(filepath.Join(repo, "apps", "orders-enrich.yaml"), "orders-enrich:1.4.2", "orders-enrich:1.4.3")
	code, res, out = apply("--cluster", "b="+kcB)
	if code == 0 || res["staging"].OK() || !strings.Contains(strings.Join(res["staging"].Errors, " "), "cluster b") {
		t.Fatalf("with b down: exit %d, staging %+v\n%.3000s", code, res["staging"], out)
	}
	if !res["dev"].OK() || res["dev"].Count(sync.Configured) == 0 {
		t.Fatalf("dev must be applied while b is down: %+v", res["dev"])
	}
	image := func(cfg *rest.Config, ns string) string {
		s, _, _ := unstructured.NestedString(testenv.Get(t, cfg, fdGVRm, ns, "orders-enrich").Object, "spec", "image")
		return s
	}
	if img := image(cfgA, nsDev); !strings.HasSuffix(img, ":1.4.3") {
		t.Errorf("dev's image %s", img)
	}

	ctx := context.Background()
	if err := b.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	code, res, out = apply("--cluster", "b="+kcB)
	if code != 0 || res["staging"].Count(sync.Configured) == 0 {
		t.Fatalf("after b returns: exit %d, staging %+v\n%.3000s", code, res["staging"], out)
	}
	if img := image(b.Config, nsStaging); !strings.HasSuffix(img, ":1.4.3") {
		t.Errorf("staging did not converge: image %s", img)
	}
}
