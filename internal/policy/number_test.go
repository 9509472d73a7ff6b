package policy

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/render"
)

// CFK FlinkApplications carry CPU as a quantity ("500m"); policy must read it
// as 0.5 cores, not skip it.
func TestNumberReadsQuantities(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want float64
		ok   bool
	}{
		{int64(2), 2, true}, {0.5, 0.5, true}, {"1.5", 1.5, true},
		{"500m", 0.5, true}, {"2", 2, true}, {"1k", 1000, true}, {"cores", 0, false},
	} {
		o := &render.Object{Unstructured: &unstructured.Unstructured{Object: map[string]any{
			"spec": map[string]any{"cpu": tc.in},
		}}}
		got, ok := number(o, "spec", "cpu")
		if got != tc.want || ok != tc.ok {
			t.Errorf("number(%#v) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
