package daemon

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinksync/flinksync/internal/report"
)

// setStatus writes a FlinkDeployment's status through the status
// subresource, as FKO would, stamped with the object's generation.
func (f *fixture) setStatus(env, app string, status map[string]any) {
	f.t.Helper()
	fd := f.dyn.Resource(fdGVR).Namespace(f.ns(env))
	u, err := fd.Get(context.Background(), app, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	status["observedGeneration"] = u.GetGeneration()
	u.Object["status"] = status
	if _, err := fd.UpdateStatus(context.Background(), u, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

// The FKO statuses the health tests step through.
var (
	statusFailed = map[string]any{"lifecycleState": "FAILED", "jobManagerDeploymentStatus": "READY",
		"jobStatus": map[string]any{"state": "FAILED"}, "error": `{"type":"org.apache.flink.runtime.JobException","message":"Recovery is suppressed by NoRestartBackoffTimeStrategy"}`}
	statusRedeploying = map[string]any{"lifecycleState": "DEPLOYED", "jobManagerDeploymentStatus": "DEPLOYING"}
	statusStable      = map[string]any{"lifecycleState": "STABLE", "jobManagerDeploymentStatus": "READY", "jobStatus": map[string]any{"state": "RUNNING"}}
)

// An application that fails raises one AppDegraded alert however many
// passes see it, and while FKO redeploys it; the alert resolves once the
// application is healthy again. The health gauge follows.
func TestAppDegradedAlertsOnceThenResolved(t *testing.T) {
	f := newFixture(t, options{drift: 300 * time.Millisecond})
	eventually(t, 30*time.Second, "the first revision applied", f.applied(f.head()))
	degraded := map[string]string{"environment": "dev", "app": "orders-enrich", "status": "Degraded"}

	f.setStatus("dev", "orders-enrich", statusFailed)
	eventually(t, 10*time.Second, "an AppDegraded alert for orders-enrich", func() bool {
		return len(f.alerts.of(report.AlertAppDegraded, "dev")) == 1
	})
	a := f.alerts.of(report.AlertAppDegraded, "dev")[0]
	if a.Status != "firing" || a.App != "orders-enrich" || !strings.Contains(a.Summary, "Recovery is suppressed by NoRestartBackoffTimeStrategy") {
		t.Errorf("want a firing alert naming the app and FKO's error: %+v", a)
	}
	if got := f.metric("flinksync_app_health", degraded); got != 1 {
		t.Errorf("flinksync_app_health Degraded = %v", got)
	}

	// FKO redeploys it: not healthy yet, so no resolved notice (and no
	// second page when it fails again).
	f.setStatus("dev", "orders-enrich", statusRedeploying)
	eventually(t, 10*time.Second, "the health gauge to leave Degraded", func() bool { return f.metric("flinksync_app_health", degraded) == 0 })
	time.Sleep(1500 * time.Millisecond) // several drift passes
	if got := f.alerts.of(report.AlertAppDegraded, "dev"); len(got) != 1 {
		t.Fatalf("a redeploying app is not fixed yet: want the one firing alert, got %+v", got)
	}

	f.setStatus("dev", "orders-enrich", statusStable)
	eventually(t, 10*time.Second, "the resolved notice", func() bool { return len(f.alerts.of(report.AlertAppDegraded, "dev")) == 2 })
	if got := f.alerts.of(report.AlertAppDegraded, "dev"); got[1].Status != "resolved" || got[1].App != "orders-enrich" {
		t.Errorf("want the alert resolved: %+v", got[1])
	}
	time.Sleep(1 * time.Second)
	if got := f.alerts.of(report.AlertAppDegraded, "dev"); len(got) != 2 {
		t.Errorf("a healthy app sends nothing more: %+v", got)
	}
}
