package sync

import (
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/flinksync/flinksync/internal/jsonptr"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/render"
)

// TestPresetsAreTheModelsAndDocumented: every preset name the model
// accepts has rules here, with valid pointers, and docs/drift.md lists
// every path of every preset.
func TestPresetsAreTheModelsAndDocumented(t *testing.T) {
	var names []string
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	want := append([]string(nil), model.IgnorePresets...)
	sort.Strings(want)
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("presets %v, the model's %v", names, want)
	}
	doc, err := os.ReadFile("../../docs/drift.md")
	if err != nil {
		t.Fatal(err)
	}
	for n, rules := range presets {
		if !strings.Contains(string(doc), "`"+n+"`") {
			t.Errorf("docs/drift.md does not name the preset %s", n)
		}
		for _, r := range rules {
			for _, p := range r.Paths {
				if err := model.ValidPointer(p); err != nil {
					t.Errorf("%s: %q: %v", n, p, err)
				}
				if !strings.Contains(string(doc), "`"+p+"`") {
					t.Errorf("docs/drift.md does not list %s's path %s", n, p)
				}
			}
			if r.Kind == "" || !strings.Contains(string(doc), r.Kind) {
				t.Errorf("%s: a preset names its kind, and docs/drift.md too: %+v", n, r)
			}
		}
	}
}

func TestIgnoreForSelectsByKindAndName(t *testing.T) {
	env := &model.Environment{}
	env.Spec.Sync.Presets = []string{"fko-webhook"}
	env.Spec.Sync.Ignore = []model.IgnoreRule{
		{Paths: []string{"/spec/a"}},
		{Kind: "FlinkDeployment", Paths: []string{"/spec/b"}},
		{Kind: "FlinkDeployment", Name: "other", Paths: []string{"/spec/c"}},
		{Name: "orders", Managers: []string{"kubectl-edit"}},
	}
	o := &render.Object{Unstructured: jsonObj(t, `{"kind":"FlinkSessionJob","metadata":{"name":"orders"}}`),
		Ignore: []model.IgnoreRule{{Kind: "FlinkSessionJob", Paths: []string{"/spec/job/args"}}}}
	ig := ignoreFor(env, o)
	var got []string
	for _, p := range ig.paths {
		got = append(got, jsonptr.Join(p))
	}
	if want := []string{"/spec/a", "/metadata/labels/target.session", "/spec/job/args"}; !reflect.DeepEqual(got, want) {
		t.Errorf("paths %q, want %q", got, want)
	}
	if !ig.byManagers([]string{"kubectl-edit"}) || ig.byManagers([]string{"kubectl-edit", "helm"}) || ig.byManagers(nil) {
		t.Errorf("managers %v", ig.managers)
	}
	if !ig.path([]string{"spec", "a", "x"}) || ig.path([]string{"spec"}) || ig.path([]string{"spec", "ab"}) {
		t.Error("a path rule ignores what is under its path only")
	}
	env.Spec.Sync.Presets, env.Spec.Sync.Ignore = nil, nil
	if ig := ignoreFor(env, &render.Object{Unstructured: o.Unstructured}); ig != nil {
		t.Errorf("no rule: nil, got %+v", ig)
	}
}

func TestHonourKeepsIgnoredFieldsAsTheyAreLive(t *testing.T) {
	desired := jsonObj(t, `{"apiVersion":"flink.apache.org/v1beta1","kind":"FlinkDeployment","metadata":{"name":"orders"},
 "spec":{"flinkConfiguration":{"pipeline.jobvertex-parallelism-overrides":"a:1","gone.live":"x","kept":"1"},"job":{"parallelism":4,"state":"running"},"taskManager":{"replicas":2}}}`)
	live := withManagers(t, jsonObj(t, `{"apiVersion":"flink.apache.org/v1beta1","kind":"FlinkDeployment","metadata":{"name":"orders"},
 "spec":{"flinkConfiguration":{"pipeline.jobvertex-parallelism-overrides":"a:8","kept":"1","ours.once":"y"},"job":{"parallelism":4,"state":"running","autoscalerResetNonce":3},"taskManager":{"replicas":7}}}`),
		"flinksync", "Apply", `{"f:spec":{"f:flinkConfiguration":{"f:kept":{},"f:ours.once":{}},"f:job":{"f:parallelism":{},"f:state":{}}}}`,
		"kubectl-edit", "Update", `{"f:spec":{"f:taskManager":{"f:replicas":{}}}}`,
		"autoscaler", "Update", `{"f:spec":{"f:flinkConfiguration":{"f:pipeline.jobvertex-parallelism-overrides":{}},"f:job":{"f:autoscalerResetNonce":{}}}}`)
	before := desired.DeepCopy()
	ig := &ignorer{paths: [][]string{{"spec", "flinkConfiguration", "pipeline.jobvertex-parallelism-overrides"}, {"spec", "flinkConfiguration", "gone.live"},
		{"spec", "flinkConfiguration", "ours.once"}, {"spec", "job", "autoscalerResetNonce"}}, managers: map[string]bool{"kubectl-edit": true}}
	got := ig.honour(desired, live, &liveFields{live: live})
	if !reflect.DeepEqual(desired, before) {
		t.Fatal("honour changed Git's object")
	}
	want := jsonObj(t, `{"apiVersion":"flink.apache.org/v1beta1","kind":"FlinkDeployment","metadata":{"name":"orders"},
 "spec":{"flinkConfiguration":{"pipeline.jobvertex-parallelism-overrides":"a:8","kept":"1","ours.once":"y"},"job":{"parallelism":4,"state":"running"},"taskManager":{"replicas":7}}}`)
	if !reflect.DeepEqual(got.Object, want.Object) {
		t.Errorf("got  %v\nwant %v", got.Object, want.Object)
	}
	if len(compare(got, live)) != 0 {
		t.Errorf("nothing ignored differs: %+v", compare(got, live))
	}
	if d := compare(desired, live); len(d) == 0 {
		t.Error("without the rules the object differs")
	}
	if same := (&ignorer{paths: [][]string{{"spec", "nothing"}}}).honour(desired, live, &liveFields{live: live}); same != desired {
		t.Error("a rule that changes nothing must not copy the object")
	}
	var none *ignorer
	if none.honour(desired, live, nil) != desired || (&ignorer{}).honour(desired, nil, nil) != desired {
		t.Error("no rule, or no live object: Git's object")
	}
}

func TestShowFieldsInUnifiedDiff(t *testing.T) {
	desired := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "c"}, "data": map[string]any{"a": "1"}}
	live := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "c", "labels": map[string]any{"team": "x"}}, "data": map[string]any{"a": "1", "b": "2", "c": "3"}}
	text := UnifiedDiff("ConfigMap/ns/c", desired, live, []string{"data", "b"}, []string{"metadata", "labels", "team"})
	for _, want := range []string{"-  b: \"2\"", "-    team: x"} {
		if !strings.Contains(text, want) {
			t.Errorf("the diff must show %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "c: \"3\"") {
		t.Errorf("only the fields asked for:\n%s", text)
	}
	if _, ok := live["data"].(map[string]any)["b"]; !ok || len(live["metadata"].(map[string]any)) != 2 {
		t.Error("live changed")
	}
}
