package report

import (
	"context"
	"strings"
	"testing"

	"github.com/flinksync/flinksync/internal/sync"
)

// A savepoint the operator failed keeps the job and raises one
// SavepointFailed alert (not SyncFailed too), held while the snapshot stays
// FAILED and resolved once prune goes on (the job restored to Git, or a new
// savepoint under way).
func TestSavepointFailedAlertsOnceThenResolves(t *testing.T) {
	a := &Alerter{}
	fd := sync.ObjectID{Group: "flink.apache.org", Kind: "FlinkDeployment", Namespace: "flink-prod", Name: "orders"}
	failed := func() *sync.Result {
		return &sync.Result{Environment: "prod",
			Changes:    []sync.Change{{ObjectID: fd, Action: sync.Failed, Message: "not pruned: savepoint orders-prune-1a2b FAILED (storage unreachable)"}},
			Savepoints: []sync.Savepoint{{ObjectID: fd, Snapshot: "orders-prune-1a2b", State: sync.SnapshotFailed, Error: "storage unreachable"}}}
	}
	kinds := func(sent []Alert) string {
		var out []string
		for _, al := range sent {
			out = append(out, al.Kind+"/"+al.App+" "+al.Status)
		}
		return strings.Join(out, ", ")
	}
	sent := a.Observe(context.Background(), failed())
	if got := kinds(sent); got != "SavepointFailed/orders firing" {
		t.Fatalf("sent %q", got)
	}
	if !strings.Contains(sent[0].Summary, "orders-prune-1a2b") || !strings.Contains(strings.Join(sent[0].Details, " "), "storage unreachable") {
		t.Errorf("the alert names the snapshot and the operator's error: %+v", sent[0])
	}
	if got := kinds(a.Observe(context.Background(), failed())); got != "" {
		t.Errorf("still failed: sent %q, want nothing", got)
	}
	if got := kinds(a.Observe(context.Background(), &sync.Result{Environment: "prod", Blocked: []string{"x.yaml:1 TLS-001: off"}})); got != "PolicyBlocked/ firing" {
		t.Errorf("a blocked pass knows nothing of the savepoint: sent %q", got)
	}
	waiting := &sync.Result{Environment: "prod",
		Changes:    []sync.Change{{ObjectID: fd, Action: sync.Retained, Message: "waiting for savepoint orders-prune-9f8e (state IN_PROGRESS)"}},
		Savepoints: []sync.Savepoint{{ObjectID: fd, Snapshot: "orders-prune-9f8e", State: "IN_PROGRESS"}}}
	if got := kinds(a.Observe(context.Background(), waiting)); got != "PolicyBlocked/ resolved, SavepointFailed/orders resolved" {
		t.Errorf("a new savepoint under way: sent %q", got)
	}
	other := failed()
	other.Changes = append(other.Changes, sync.Change{ObjectID: sync.ObjectID{Kind: "ConfigMap", Name: "x"}, Action: sync.Failed, Message: "forbidden"})
	if got := kinds(a.Observe(context.Background(), other)); got != "SavepointFailed/orders firing, SyncFailed/ firing" {
		t.Errorf("another failure in the same pass is SyncFailed: sent %q", got)
	}
}
