package plan

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/render"
)

// A CMF Statement's replacement names what changed, as a CFK
// FlinkStatement's does (the two have the same spec fields).
func TestStatementChangesOfACMFStatement(t *testing.T) {
	stmt := func(sql, pool string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": render.CMFGroupVersion.String(), "kind": render.CMFStatementKind,
			"metadata": map[string]any{"name": "orders-attributed-1a2b"},
			"spec":     map[string]any{"statement": sql, "computePoolName": pool},
		}}
	}
	got := statementChanges(stmt("SELECT 1", "sql"), stmt("SELECT 2", "sql-large"))
	if want := []string{"SQL", "pool"}; !slices.Equal(got, want) {
		t.Errorf("statementChanges = %q, want %q", got, want)
	}
}
