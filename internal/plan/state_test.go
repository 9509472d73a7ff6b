package plan

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/render"
)

func job(kind, mode, state string, replicas int64, extra map[string]any) *render.Object {
	spec := map[string]any{"job": map[string]any{"upgradeMode": mode, "state": state}, "taskManager": map[string]any{"replicas": replicas}}
	for k, v := range extra {
		spec[k] = v
	}
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "flink.apache.org/v1beta1", "kind": kind,
		"metadata": map[string]any{"name": "orders", "namespace": "flink-prod", "labels": map[string]any{render.LabelName: "orders"}},
		"spec":     spec}}
	return &render.Object{Unstructured: u}
}

// Every change to a job is classified by what it does to the job's state,
// with the declared state size.
func TestChangedJobStateImpact(t *testing.T) {
	cases := []struct {
		name   string
		b, h   *render.Object
		size   string
		effect StateEffect
		msg    string
	}{
		{"stateful job turned stateless and rescaled", job("FlinkDeployment", "last-state", "running", 4, nil), job("FlinkDeployment", "stateless", "running", 8, nil), "200Gi",
			StateLost, "stateful: upgrade with upgradeMode stateless, 200Gi of state lost"},
		{"rescale with savepoint", job("FlinkDeployment", "savepoint", "running", 4, nil), job("FlinkDeployment", "savepoint", "running", 8, nil), "20Gi",
			StateKept, "stateful: upgrade with upgradeMode savepoint; its state is kept"},
		{"stateless job upgraded", job("FlinkDeployment", "stateless", "running", 4, nil), job("FlinkDeployment", "stateless", "running", 8, nil), "",
			StateLost, "stateless: upgrade with upgradeMode stateless, restarts from empty state"},
		{"suspend with last-state", job("FlinkApplication", "last-state", "running", 4, nil), job("FlinkApplication", "last-state", "suspended", 4, nil), "1Gi",
			StateSuspended, "stateful: suspended with upgradeMode last-state; its state is kept for a resume"},
		{"resume stateless", job("FlinkDeployment", "stateless", "suspended", 4, nil), job("FlinkDeployment", "stateless", "running", 4, nil), "1Gi",
			StateLost, "stateful: resumed with upgradeMode stateless: 1Gi of state lost"},
		{"labels only", job("FlinkDeployment", "stateless", "running", 4, nil), func() *render.Object {
			o := job("FlinkDeployment", "stateless", "running", 4, nil)
			o.SetLabels(map[string]string{render.LabelName: "orders", "team": "x"})
			return o
		}(), "5Gi", StateUntouched, "metadata only: the operator leaves the job alone"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := changedJob(c.b, c.h, c.size)
			if got.Effect != c.effect || got.Message != c.msg || got.StateSize != c.size || got.Job != "orders" {
				t.Errorf("got %+v\nwant effect %s, message %q", got, c.effect, c.msg)
			}
		})
	}
	st := func(stopped bool, parallelism int64) *render.Object {
		o := job("FlinkStatement", "", "", 0, map[string]any{"stopped": stopped, "parallelism": parallelism})
		o.SetLabels(map[string]string{render.LabelName: "views", render.LabelSQLKind: "dml"})
		return o
	}
	if got := changedJob(st(false, 2), st(true, 2), ""); got.Effect != StateSuspended || !got.Statement || got.Job != "views" {
		t.Errorf("a stopped statement: %+v", got)
	}
	if got := changedJob(st(false, 2), st(false, 4), "3Gi"); got.Effect != StateKept {
		t.Errorf("a rescaled statement: %+v", got)
	}
	if got := deletedJob(job("FlinkDeployment", "savepoint", "running", 4, nil), "200Gi"); got.Effect != StateDeleted || got.Message != "stateful: deleted, with 200Gi of running state" {
		t.Errorf("a pruned job: %+v", got)
	}
}
