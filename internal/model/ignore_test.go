package model

import (
	"reflect"
	"strings"
	"testing"
)

func TestIgnoreRules(t *testing.T) {
	env := base["environments/dev.yaml"] + `  sync:
    ignore:
      - kind: FlinkDeployment
        paths: [/spec/flinkConfiguration/pipeline.jobvertex-parallelism-overrides]
      - managers: [kubectl-edit]
`
	app := strings.Replace(base["apps/a.yaml"], "spec:\n", "spec:\n  ignore:\n    - paths: [/spec/job/autoscalerResetNonce]\n", 1)
	repo, err := loaded(LoadFS(repoFS(map[string]string{"environments/dev.yaml": env, "apps/a.yaml": app})))
	if err != nil {
		t.Fatal(err)
	}
	s := repo.Environment("dev").Spec.Sync
	if len(s.Ignore) != 2 || s.Ignore[0].Kind != "FlinkDeployment" || s.Ignore[1].Managers[0] != "kubectl-edit" {
		t.Errorf("environment rules: %+v", s.Ignore)
	}
	if !reflect.DeepEqual(s.Presets, IgnorePresets) {
		t.Errorf("presets default to all: %v", s.Presets)
	}
	if got := repo.EffectiveApps("dev")[0].Spec.Ignore; len(got) != 1 || got[0].Paths[0] != "/spec/job/autoscalerResetNonce" {
		t.Errorf("app rules: %+v", got)
	}
	none, err := loaded(LoadFS(repoFS(map[string]string{"environments/dev.yaml": base["environments/dev.yaml"] + "  sync: {presets: []}\n"})))
	if err != nil || none.Environment("dev").Spec.Sync.Presets == nil || len(none.Environment("dev").Spec.Sync.Presets) != 0 {
		t.Errorf("presets: [] turns them off: %v %v", none.Environment("dev").Spec.Sync.Presets, err)
	}
}

func TestIgnoreRuleErrors(t *testing.T) {
	envWith := func(sync string) map[string]string {
		return map[string]string{"environments/dev.yaml": base["environments/dev.yaml"] + "  sync:\n" + sync}
	}
	cases := []struct {
		name  string
		files map[string]string
		want  []want
	}{
		{"not a pointer", envWith("    ignore:\n      - paths: [spec.flinkConfiguration]\n"), []want{{RuleInvalidValue.ID(), "environments/dev.yaml", 17}}},
		{"bad escape", envWith("    ignore:\n      - paths: [/metadata/labels/a~2b]\n"), []want{{RuleInvalidValue.ID(), "environments/dev.yaml", 17}}},
		{"the whole object", envWith("    ignore:\n      - {kind: FlinkDeployment, paths: [/]}\n"), []want{{RuleInvalidValue.ID(), "environments/dev.yaml", 17}}},
		{"a rule with nothing to ignore", envWith("    ignore:\n      - kind: FlinkDeployment\n"), []want{{RuleRequired.ID(), "environments/dev.yaml", 17}}},
		{"unknown preset", envWith("    presets: [fko-autoscaler, argo]\n"), []want{{RuleEnum.ID(), "environments/dev.yaml", 16}}},
		{"unknown field", envWith("    ignore:\n      - path: /spec\n"), []want{{RuleUnknownField.ID(), "environments/dev.yaml", 17}, {RuleRequired.ID(), "environments/dev.yaml", 17}}},
		{"app rule in an override", map[string]string{"apps/a.yaml": base["apps/a.yaml"] + "  overrides:\n    dev:\n      ignore: [{paths: [nope]}]\n"},
			[]want{{RuleInvalidValue.ID(), "apps/a.yaml", 14}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, findings, err := LoadFS(repoFS(c.files))
			var got []want
			for _, f := range findings {
				got = append(got, want{f.Rule, f.File, f.Line})
			}
			sortWants(got)
			sortWants(c.want)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("findings:\n got %v\nwant %v\n(%v)", got, c.want, err)
			}
		})
	}
}
