package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/flinksync/flinksync/internal/testenv"
)

// prunedLine is an object line of apply's text output for a pruned object.
var prunedLine = regexp.MustCompile(`(?m)^\s+pruned\s`)

// TestTypoNeverPrunesARunningJob: after a clean apply, a careless edit of
// an app's environment list or override keys makes apply fail (exit 1) and
// leaves the app's running FlinkDeployment in every environment, on a real
// API server. Before blocking by file, apply pruned it and exited 0.
func TestTypoNeverPrunesARunningJob(t *testing.T) {
	cfg := testenv.Config(t)
	kc := testenv.WriteKubeconfig(t, cfg)
	sfx := fmt.Sprintf("-t%d", clusterRuns.Add(1))
	repo := t.TempDir()
	testenv.CopyTree(t, example, repo, testenv.UniqueNamespaces(t, cfg, sfx))
	_, cmfEndpoint := exampleCMF(t, cfg, exampleCMFNamespace+sfx) // example_cmf_test.go
	apply := append([]string{"apply", "--repo", repo, "--kubeconfig", kc}, cmfEndpoint...)
	if code, out, errOut := runCLI(t, apply...); code != 0 {
		t.Fatalf("first apply exited %d:\n%.3000s%s", code, out, errOut)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Group: "flink.apache.org", Version: "v1beta1", Resource: "flinkdeployments"}
	running := func(env string) bool {
		_, err := dyn.Resource(gvr).Namespace("flink-"+env+sfx).Get(context.Background(), "orders-enrich", metav1.GetOptions{})
		return err == nil
	}
	file := filepath.Join(repo, "apps", "orders-enrich.yaml")
	orig, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, from, to string }{
		{"misspelled field", "  environments: [dev, staging, prod]", "  enviroments: [dev, staging, prod]"},
		{"empty list", "  environments: [dev, staging, prod]", "  environments: []"},
		{"misspelled environment", "  environments: [dev, staging, prod]", "  environments: [dev, staging, prdo]"},
		{"misspelled override key", "    staging:\n", "    stagign:\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(orig), tc.from) {
				t.Fatalf("the example's orders-enrich.yaml no longer contains %q", tc.from)
			}
			if err := os.WriteFile(file, []byte(strings.Replace(string(orig), tc.from, tc.to, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			defer os.WriteFile(file, orig, 0o644)
			code, out, errOut := runCLI(t, apply...)
			if code != 1 {
				t.Errorf("apply must fail on a repository with a load error, exited %d:\n%.3000s%s", code, out, errOut)
			}
			if prunedLine.MatchString(out) {
				t.Errorf("apply pruned something:\n%.3000s", out)
			}
			for _, env := range []string{"dev", "staging", "prod"} {
				if !running(env) {
					t.Fatalf("orders-enrich was pruned from %s:\n%.3000s", env, out)
				}
			}
		})
	}
}
