package state

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/render"
)

func job(kind, mode, st string, replicas int64, extra map[string]any) *unstructured.Unstructured {
	spec := map[string]any{"job": map[string]any{"upgradeMode": mode, "state": st}, "taskManager": map[string]any{"replicas": replicas}}
	for k, v := range extra {
		spec[k] = v
	}
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "flink.apache.org/v1beta1", "kind": kind,
		"metadata": map[string]any{"name": "orders", "namespace": "flink-prod", "labels": map[string]any{render.LabelName: "orders"}},
		"spec":     spec}}
	return u
}

// Every change to a job is classified by what it does to the job's state,
// with the declared state size.
func TestChangedJobStateImpact(t *testing.T) {
	cases := []struct {
		name   string
		b, h   *unstructured.Unstructured
		size   string
		effect Effect
		msg    string
	}{
		{"stateful job turned stateless and rescaled", job("FlinkDeployment", "last-state", "running", 4, nil), job("FlinkDeployment", "stateless", "running", 8, nil), "200Gi",
			Lost, "stateful: upgrade with upgradeMode stateless, 200Gi of state lost"},
		{"rescale with savepoint", job("FlinkDeployment", "savepoint", "running", 4, nil), job("FlinkDeployment", "savepoint", "running", 8, nil), "20Gi",
			Kept, "stateful: upgrade with upgradeMode savepoint; its state is kept"},
		{"stateless job upgraded", job("FlinkDeployment", "stateless", "running", 4, nil), job("FlinkDeployment", "stateless", "running", 8, nil), "",
			Lost, "stateless: upgrade with upgradeMode stateless, restarts from empty state"},
		{"suspend with last-state", job("FlinkApplication", "last-state", "running", 4, nil), job("FlinkApplication", "last-state", "suspended", 4, nil), "1Gi",
			Suspended, "stateful: suspended with upgradeMode last-state; its state is kept for a resume"},
		{"resume stateless", job("FlinkDeployment", "stateless", "suspended", 4, nil), job("FlinkDeployment", "stateless", "running", 4, nil), "1Gi",
			Lost, "stateful: resumed with upgradeMode stateless: 1Gi of state lost"},
		{"labels only", job("FlinkDeployment", "stateless", "running", 4, nil), func() *unstructured.Unstructured {
			o := job("FlinkDeployment", "stateless", "running", 4, nil)
			o.SetLabels(map[string]string{render.LabelName: "orders", "team": "x"})
			return o
		}(), "5Gi", Untouched, "metadata only: the operator leaves the job alone"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Changed(c.b, c.h, c.size)
			if got.Effect != c.effect || got.Message != c.msg || got.StateSize != c.size || got.Job != "orders" {
				t.Errorf("got %+v\nwant effect %s, message %q", got, c.effect, c.msg)
			}
		})
	}
	st := func(stopped bool, parallelism int64) *unstructured.Unstructured {
		o := job("FlinkStatement", "", "", 0, map[string]any{"stopped": stopped, "parallelism": parallelism})
		o.SetLabels(map[string]string{render.LabelName: "views", render.LabelSQLKind: "dml"})
		return o
	}
	if got := Changed(st(false, 2), st(true, 2), ""); got.Effect != Suspended || !got.Statement || got.Job != "views" {
		t.Errorf("a stopped statement: %+v", got)
	}
	if got := Changed(st(false, 2), st(false, 4), "3Gi"); got.Effect != Kept {
		t.Errorf("a rescaled statement: %+v", got)
	}
	lost := Changed(job("FlinkDeployment", "last-state", "running", 4, nil), job("FlinkDeployment", "stateless", "running", 8, nil), "200Gi")
	kept := Changed(job("FlinkDeployment", "savepoint", "running", 4, nil), job("FlinkDeployment", "savepoint", "running", 8, nil), "200Gi")
	undeclared := Changed(job("FlinkDeployment", "stateless", "running", 4, nil), job("FlinkDeployment", "stateless", "running", 8, nil), "")
	if !lost.LosesState || kept.LosesState || undeclared.LosesState {
		t.Errorf("LosesState: lost %v, kept %v, no declared state %v; want true, false, false", lost.LosesState, kept.LosesState, undeclared.LosesState)
	}
}

// A prune keeps the state of an app that gets a savepoint first, and
// loses a stateless app's or a statement's.
func TestDeletedJobStateImpact(t *testing.T) {
	stmt := job("FlinkStatement", "", "", 0, nil)
	stmt.SetLabels(map[string]string{render.LabelName: "orders", render.LabelSQLKind: "dml"})
	cases := []struct {
		name  string
		obj   *unstructured.Unstructured
		size  string
		loses bool
		msg   string
	}{
		{"savepoint mode", job("FlinkDeployment", "savepoint", "running", 4, nil), "200Gi", false,
			"stateful: deleted after a savepoint flinksync takes first (upgradeMode savepoint); its 200Gi of state is kept in the savepoint"},
		{"last-state CFK app", job("FlinkApplication", "last-state", "running", 4, nil), "1Gi", false,
			"stateful: deleted after a savepoint flinksync takes first (upgradeMode last-state); its 1Gi of state is kept in the savepoint"},
		{"stateless mode", job("FlinkDeployment", "stateless", "running", 4, nil), "200Gi", true,
			"stateful: deleted with no savepoint (upgradeMode stateless), with 200Gi of running state"},
		{"no upgradeMode is FKO's stateless", job("FlinkDeployment", "", "running", 4, nil), "5Gi", true,
			"stateful: deleted with no savepoint (upgradeMode stateless), with 5Gi of running state"},
		{"statement", stmt, "3Gi", true,
			"stateful: deleted with no savepoint (a statement is deleted as it runs), with 3Gi of running state"},
		{"no declared state", job("FlinkDeployment", "stateless", "running", 4, nil), "", false,
			"deleted: the running job stops and its state goes with it"},
	}
	for _, c := range cases {
		got := DeletedJob(c.obj, c.size)
		if got.Effect != Deleted || got.LosesState != c.loses || got.Message != c.msg || got.Job != "orders" {
			t.Errorf("%s: got %+v\nwant losesState %v, message %q", c.name, got, c.loses, c.msg)
		}
	}
	if r := Replaced("views", "2Gi", false, "SQL changed", "a new statement starts empty"); r.Effect != Lost || !r.LosesState {
		t.Errorf("a replaced DML statement with state: %+v", r)
	}
	if r := Replaced("tables", "2Gi", true, "SQL changed", "recreated"); r.Effect != Untouched || r.LosesState {
		t.Errorf("a replaced DDL statement: %+v", r)
	}
}

// The size comes from the annotation render stamps; anything that is not a
// positive quantity is no declared state.
func TestSizeOf(t *testing.T) {
	for v, want := range map[string]string{"200Gi": "200Gi", "0": "", "-1Gi": "", "lots": "", "": "", strings.Repeat("9", 65) + "Gi": ""} {
		u := job("FlinkDeployment", "", "", 1, nil)
		u.SetAnnotations(map[string]string{render.AnnStateSize: v})
		if got := SizeOf(u); got != want {
			t.Errorf("SizeOf(%q) = %q, want %q", v, got, want)
		}
	}
}

// A target: cmf environment's statement is a CMF Statement
// (cmf.confluent.io/v1): a job, judged as a CFK FlinkStatement is (a
// change keeps its state through CMF's savepoint, a delete loses it). A
// Statement of another API is no job of flinksync's.
func TestCMFStatementIsAStatementJob(t *testing.T) {
	stmt := func(apiVersion string, stopped bool, parallelism int64) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": render.CMFStatementKind,
			"metadata": map[string]any{"name": "views-1a2b3c", "labels": map[string]any{render.LabelName: "views", render.LabelSQLKind: "dml"}},
			"spec":     map[string]any{"statement": "INSERT INTO v SELECT * FROM p;", "stopped": stopped, "parallelism": parallelism}}}
	}
	cmfV := render.CMFGroupVersion.String()
	if !IsJob(stmt(cmfV, false, 2)) || IsJob(stmt("example.com/v1", false, 2)) {
		t.Fatalf("IsJob: CMF Statement %v, another API's Statement %v; want true, false", IsJob(stmt(cmfV, false, 2)), IsJob(stmt("example.com/v1", false, 2)))
	}
	if got := Changed(stmt(cmfV, false, 2), stmt(cmfV, false, 4), "6Gi"); got.Effect != Kept || got.LosesState || !got.Statement {
		t.Errorf("rescaled CMF statement: %+v; want its state kept", got)
	}
	if got := Changed(stmt(cmfV, false, 2), stmt(cmfV, true, 2), "6Gi"); got.Effect != Suspended {
		t.Errorf("stopped CMF statement: %+v; want suspended", got)
	}
	got := DeletedJob(stmt(cmfV, false, 2), "6Gi")
	if got.Effect != Deleted || !got.LosesState || !strings.Contains(got.Message, "a statement is deleted as it runs") {
		t.Errorf("deleted CMF statement: %+v; want its 6Gi lost, as a statement's", got)
	}
}
