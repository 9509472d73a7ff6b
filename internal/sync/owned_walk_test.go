package sync

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// walkOwned finds the same leading names as parsing the entry into a
// fieldpath.Set and walking its leaves, which it replaces.
func TestWalkOwnedIsFieldpathsLeaves(t *testing.T) {
	fields := map[string]any{
		"f:metadata": map[string]any{
			"f:labels":      map[string]any{".": map[string]any{}, "f:app": map[string]any{}, "f:team": map[string]any{}},
			"f:annotations": map[string]any{"f:flinksync.dev/revision": map[string]any{}},
		},
		"f:spec": map[string]any{
			"f:image": map[string]any{},
			"f:job":   map[string]any{".": map[string]any{}, "f:args": map[string]any{}, "f:parallelism": map[string]any{}},
			"f:podTemplate": map[string]any{"f:spec": map[string]any{
				"f:containers":  map[string]any{`k:{"name":"flink-main-container"}`: map[string]any{".": map[string]any{}, "f:name": map[string]any{}, "f:image": map[string]any{}}},
				"f:tolerations": map[string]any{},
				"f:volumes":     map[string]any{`k:{"name":"a"}`: map[string]any{".": map[string]any{}}},
			}},
			"f:finalizers": map[string]any{`v:"x"`: map[string]any{}},
			"f:list":       map[string]any{"i:0": map[string]any{"f:x": map[string]any{}}},
			"f:empty":      map[string]any{".": map[string]any{}},
		},
	}
	var got []string
	walkOwned(fields, nil, func(names []string) { got = append(got, strings.Join(names, ".")) })

	set := &fieldpath.Set{}
	if err := readFields(fields, set); err != nil {
		t.Fatal(err)
	}
	var want []string
	set.Leaves().Iterate(func(p fieldpath.Path) { want = append(want, strings.Join(leadingNames(p), ".")) })
	slices.Sort(got)
	slices.Sort(want)
	got, want = slices.Compact(got), slices.Compact(want)
	if !slices.Equal(got, want) {
		t.Errorf("walkOwned:\n %q\nfieldpath leaves:\n %q", got, want)
	}

	live := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"managedFields": []any{
		map[string]any{"manager": FieldManager, "operation": "Apply", "fieldsV1": fields},
	}}}}
	desired := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"labels": map[string]any{"app": "a"}},
		"spec": map[string]any{"image": "i", "job": map[string]any{"args": []any{}}, "podTemplate": map[string]any{"spec": map[string]any{"containers": []any{}}},
			"finalizers": []any{}, "list": []any{}, "empty": map[string]any{}},
	}}
	if got, want := ownedNotDesired(desired, live), []string{"metadata.labels.team", "spec.job.parallelism", "spec.podTemplate.spec.tolerations", "spec.podTemplate.spec.volumes"}; !slices.Equal(got, want) {
		t.Errorf("ownedNotDesired = %q, want %q", got, want)
	}
}
