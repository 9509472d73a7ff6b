package main

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/testenv"
)

// TestCompliantRepoAcceptedByRealCFKSchema: the CFK objects rendered for
// this package's compliant repository (its cfk environment renders a
// CMFRestClass with TLS) pass a server-side dry-run against the real CFK
// 3.3.0 CRDs from ../shared (required in CI).
func TestCompliantRepoAcceptedByRealCFKSchema(t *testing.T) {
	cfg := testenv.Config(t)
	testenv.UseRealCRDs(t, cfg, testenv.RealCFKCRDs)
	fsys := fstest.MapFS{}
	for k, v := range compliantRepo {
		fsys[k] = &fstest.MapFile{Data: []byte(v)}
	}
	res, err := pipeline.Run(fsys, pipeline.Options{Revision: "abc", Now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	checked := map[string]int{}
	for _, name := range res.Environments() {
		out := res.Rendered[name]
		if out == nil || res.Repo.Environment(name).Spec.Target != model.TargetCFK {
			continue
		}
		var objs []*unstructured.Unstructured
		for _, o := range out.Objects {
			if o.GroupVersionKind().Group == render.FlinkApplicationGVK.Group {
				objs = append(objs, o.Unstructured)
				checked[o.GetKind()]++
			}
		}
		if f := testenv.DryRunApply(t, cfg, objs); len(f) > 0 {
			t.Errorf("environment %s: rejected by the real CFK 3.3.0 schema:\n  %s", name, strings.Join(f, "\n  "))
		}
	}
	for _, k := range []string{"CMFRestClass", "FlinkEnvironment", "FlinkApplication"} {
		if checked[k] == 0 {
			t.Errorf("no %s was checked: %v", k, checked)
		}
	}
}
