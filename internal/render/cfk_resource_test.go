package render

import (
	"reflect"
	"testing"

	kresource "k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/testrepo"
)

// CFK 3.3's FlinkApplication takes int-or-string quantities for
// jobManager/taskManager resources: a float CPU is refused by the real CRD.
func TestCFKCPU(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want any
	}{
		{1, int64(1)}, {2, int64(2)}, {0, int64(0)}, {16, int64(16)},
		{0.5, "500m"}, {0.25, "250m"}, {1.5, "1500m"}, {0.1, "100m"}, {0.001, "1m"},
		{0.0005, "0.0005"},
	} {
		got := CFKCPU(tc.in)
		if got != tc.want {
			t.Errorf("CFKCPU(%g) = %#v, want %#v", tc.in, got, tc.want)
			continue
		}
		if s, ok := got.(string); ok {
			q, err := kresource.ParseQuantity(s)
			if err != nil || q.AsApproximateFloat64() != tc.in {
				t.Errorf("CFKCPU(%g) = %q reads back as %v (%v)", tc.in, s, q.AsApproximateFloat64(), err)
			}
		}
	}
}

func TestCFKApplicationResourcesAreQuantities(t *testing.T) {
	size := func(string, string) (Resources, error) {
		r := fixed
		r.JobManagerCPU, r.TaskManagerCPU = 0.5, 2
		return r, nil
	}
	repo, fsys := load(t, baseFiles())
	for _, env := range []string{"eu", "prod"} {
		out := testrepo.Clean[*Environment](t)(Render(InputOf(repo, repo.Environment(env), size), Options{Source: fsys}))
		kind, jm := "FlinkApplication", any("500m")
		if env == "prod" {
			kind, jm = "FlinkDeployment", 0.5 // FKO's schema: a number of cores
		}
		o := find(t, out, kind, "orders")
		for part, want := range map[string]map[string]any{
			"jobManager":  {"cpu": jm, "memory": "2048m"},
			"taskManager": {"cpu": map[string]any{"FlinkApplication": int64(2), "FlinkDeployment": float64(2)}[kind], "memory": "8192m"},
		} {
			got, _, _ := unstructured.NestedMap(o.Object, "spec", part, "resource")
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s %s resource = %#v, want %#v", kind, part, got, want)
			}
		}
	}
}
