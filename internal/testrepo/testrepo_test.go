package testrepo

import (
	"strings"
	"testing"

	"github.com/flinksync/flinksync/internal/model"
)

func TestFilesLoadClean(t *testing.T) {
	files := Files(Options{Apps: 7, Envs: 3, Overlays: 1, TaskManagers: 2,
		Namespace: func(env string) string { return "ns-" + env }})
	repo, findings, err := model.LoadFS(FS(files))
	if err != nil || len(findings) > 0 {
		t.Fatalf("a synthetic repository must load clean: %v %v", err, findings)
	}
	if len(repo.Environments) != 3 || len(repo.Apps) != 7 || len(repo.EffectiveApps("env2")) != 7 {
		t.Fatalf("want 3 environments × 7 apps, got %d × %d", len(repo.Environments), len(repo.Apps))
	}
	if repo.Environment("env1").Spec.Namespace != "ns-env1" || repo.App(AppName(6)).Spec.TaskManagers != 2 {
		t.Errorf("options not applied")
	}
	if _, ok := files["overlays/env0/kustomization.yaml"]; !ok || strings.Contains(strings.Join(keys(files), " "), "overlays/env1") {
		t.Errorf("only the first environment gets an overlay")
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
