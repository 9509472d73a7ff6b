package daemon

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinksync/flinksync/internal/report"
)

// statusRolledBack is FKO's status after an upgrade whose JobManager never
// came up: it went back to the last stable spec.
var statusRolledBack = map[string]any{"lifecycleState": "ROLLED_BACK", "jobManagerDeploymentStatus": "READY",
	"jobStatus": map[string]any{"state": "RUNNING"}, "reconciliationStatus": map[string]any{"state": "ROLLED_BACK"},
	"error": `{"type":"org.apache.flink.kubernetes.operator.exception.DeploymentFailedException","message":"ImagePullBackOff: registry.example.com/flink/orders-enrich:1.4.3 not found"}`}

// A commit whose upgrade FKO rolls back reaches a real Alertmanager as one
// FlinksyncUpgradeFailed alert (critical, with the app label and FKO's
// error), is counted in flinksync_upgrades_total{result="rolled_back"},
// and resolves once the job is healthy again; the first deploy before it
// counted as succeeded, and the gauge of upgrades in progress follows.
func TestAlertmanagerReceivesUpgradeFailedThenResolved(t *testing.T) {
	am := startAlertmanager(t)
	f := newFixture(t, options{drift: 300 * time.Millisecond,
		alerts: []report.AlertTarget{{URL: am.url + "/api/v2/alerts", Format: report.FormatAlertmanager}}})
	eventually(t, 30*time.Second, "the first revision applied", f.applied(f.head()))
	dev := func(result string) map[string]string {
		return map[string]string{"environment": "dev", "result": result}
	}
	inProgress := f.metric("flinksync_upgrades_in_progress", map[string]string{"environment": "dev"})
	if inProgress == 0 {
		t.Fatal("the first deploys of dev's jobs must be upgrades in progress")
	}

	f.setStatus("dev", "orders-enrich", statusStable)
	eventually(t, 10*time.Second, "the first deploy of orders-enrich counted as succeeded", func() bool {
		return f.metric("flinksync_upgrades_total", dev("succeeded")) == 1
	})
	if got := f.metric("flinksync_upgrades_in_progress", map[string]string{"environment": "dev"}); got != inProgress-1 {
		t.Errorf("flinksync_upgrades_in_progress = %v, want %v", got, inProgress-1)
	}

	rev := f.git.commit("apps/orders-enrich.yaml", "orders-enrich:1.4.2", "orders-enrich:1.4.3")
	if code := f.hook("s3cret"); code != http.StatusAccepted {
		t.Fatalf("webhook: %d", code)
	}
	eventually(t, 15*time.Second, "the new image applied", f.applied(rev))
	eventually(t, 5*time.Second, "generation 2", func() bool {
		u, err := f.dyn.Resource(fdGVR).Namespace(f.ns("dev")).Get(context.Background(), "orders-enrich", metav1.GetOptions{})
		return err == nil && u.GetGeneration() == 2
	})
	f.setStatus("dev", "orders-enrich", statusRolledBack)
	match := map[string]string{"alertname": "Flinksync" + report.AlertUpgradeFailed, "environment": "dev", "app": "orders-enrich"}
	var firing []amAlert
	eventually(t, 15*time.Second, "Alertmanager lists the UpgradeFailed alert as active", func() bool {
		firing = am.alerts(t, match)
		return len(firing) == 1 && firing[0].Status.State == "active"
	})
	if a := firing[0]; a.Labels["severity"] != "critical" || !strings.Contains(a.Annotations["summary"], "rolled it back") ||
		!strings.Contains(a.Annotations["description"], "ImagePullBackOff") || a.Annotations["revision"] != rev {
		t.Errorf("labels %v, annotations %v: want severity critical, rolled back, FKO's error and revision %s", a.Labels, a.Annotations, rev)
	}
	am.waitNotification(t, "firing", match)
	if got := f.metric("flinksync_upgrades_total", dev("rolled_back")); got != 1 {
		t.Errorf(`flinksync_upgrades_total{result="rolled_back"} = %v, want 1`, got)
	}

	// Rolled back it stays, past Alertmanager's resolve_timeout: active.
	time.Sleep(4 * time.Second)
	if got := am.alerts(t, match); len(got) != 1 || got[0].Status.State != "active" {
		t.Fatalf("the job is still rolled back, but Alertmanager lists %+v", got)
	}
	if got := f.metric("flinksync_upgrades_total", dev("rolled_back")); got != 1 {
		t.Errorf("a rolled-back upgrade is counted once, not once a pass: %v", got)
	}

	f.setStatus("dev", "orders-enrich", statusStable)
	am.waitNotification(t, "resolved", match)
	if got := am.alerts(t, match); len(got) != 0 {
		t.Errorf("Alertmanager still lists the resolved alert: %+v", got)
	}
}
