package report

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"k8s.io/client-go/tools/record"

	"github.com/flinksync/flinksync/internal/sync"
)

var ordersFD = sync.ObjectID{Group: "flink.apache.org", Kind: "FlinkDeployment", Namespace: "flink-prod", Name: "orders"}

func upgradePass(h sync.Health, us ...sync.Upgrade) *sync.Result {
	return &sync.Result{Environment: "prod", Upgrades: us, Health: []sync.AppHealth{{App: "orders", Health: h}}}
}

func upgrade(s sync.UpgradeState, msg string) sync.Upgrade {
	return sync.Upgrade{ObjectID: ordersFD, Job: "orders", Generation: 3, State: s, Message: msg}
}

func sentKinds(sent []Alert) string {
	var out []string
	for _, al := range sent {
		out = append(out, al.Kind+"/"+al.App+" "+al.Status)
	}
	return strings.Join(out, ", ")
}

// A rolled-back upgrade raises one UpgradeFailed alert (besides
// AppDegraded for the job's health), held while the job is not healthy
// and a new upgrade is under way, and resolved when a later upgrade
// succeeds although the job is not yet Healthy; a timed-out one resolves
// when the job becomes healthy.
func TestUpgradeFailedAlertsOnceThenResolves(t *testing.T) {
	a := &Alerter{}
	ctx := context.Background()
	sent := a.Observe(ctx, upgradePass(sync.Degraded, upgrade(sync.UpgradeRolledBack, "lifecycle ROLLED_BACK: the upgrade failed and FKO rolled back to the last stable spec: ImagePullBackOff")))
	if got := sentKinds(sent); got != "AppDegraded/orders firing, UpgradeFailed/orders firing" {
		t.Fatalf("sent %q", got)
	}
	up := sent[1]
	if !strings.Contains(up.Summary, "rolled it back") || !strings.Contains(up.Summary, "generation 3") || !strings.Contains(strings.Join(up.Details, " "), "ImagePullBackOff") {
		t.Errorf("the alert says rolled back, which generation, and FKO's error: %+v", up)
	}
	body, err := Encode(FormatAlertmanager, up)
	if err != nil || !strings.Contains(string(body), `"alertname":"FlinksyncUpgradeFailed"`) || !strings.Contains(string(body), `"severity":"critical"`) || !strings.Contains(string(body), `"app":"orders"`) {
		t.Errorf("Alertmanager labels: %s (%v)", body, err)
	}
	if got := sentKinds(a.Observe(ctx, upgradePass(sync.Degraded))); got != "" {
		t.Errorf("still rolled back: sent %q, want nothing", got)
	}
	if got := sentKinds(a.Observe(ctx, upgradePass(sync.Progressing, upgrade(sync.UpgradeStarted, "")))); got != "" {
		t.Errorf("a new upgrade under way keeps UpgradeFailed: sent %q", got)
	}
	if got := sentKinds(a.Observe(ctx, upgradePass(sync.Progressing, upgrade(sync.UpgradeSucceeded, "")))); got != "UpgradeFailed/orders resolved" {
		t.Errorf("a later upgrade that succeeds resolves it: sent %q", got)
	}

	if got := sentKinds(a.Observe(ctx, upgradePass(sync.Progressing, upgrade(sync.UpgradeTimedOut, "did not become healthy in 10m0s")))); got != "UpgradeFailed/orders firing" {
		t.Fatalf("a timed-out upgrade: sent %q", got)
	}
	if got := sentKinds(a.Observe(ctx, &sync.Result{Environment: "prod", Errors: []string{"listing flinkdeployments: timeout"}})); got != "SyncFailed/ firing" {
		t.Errorf("a pass that read nothing clears nothing: sent %q", got)
	}
	if got := sentKinds(a.Observe(ctx, upgradePass(sync.Healthy))); got != "AppDegraded/orders resolved, SyncFailed/ resolved, UpgradeFailed/orders resolved" {
		t.Errorf("the job healthy again resolves it: sent %q", got)
	}
}

// flinksync_upgrades_total counts the upgrades that ended by result, and
// flinksync_upgrades_in_progress the others; both pass Prometheus's metric
// lint (promtool check metrics' rules), as every metric of the daemon.
func TestUpgradeMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	m.Pass(upgradePass(sync.Progressing, upgrade(sync.UpgradeStarted, ""), sync.Upgrade{Job: "b", State: sync.UpgradeInProgress}))
	if got := value(m.upgrades.inProgress.WithLabelValues("default", "prod")); got != 2 {
		t.Errorf("in progress = %v, want 2", got)
	}
	m.Pass(upgradePass(sync.Degraded, upgrade(sync.UpgradeRolledBack, ""), sync.Upgrade{Job: "b", State: sync.UpgradeSucceeded}))
	m.Pass(upgradePass(sync.Degraded, upgrade(sync.UpgradeTimedOut, "")))
	for result, want := range map[string]float64{"succeeded": 1, "rolled_back": 1, "timed_out": 1, "failed": 0} {
		if got := value(m.upgrades.total.WithLabelValues("default", "prod", result)); got != want {
			t.Errorf("flinksync_upgrades_total{result=%q} = %v, want %v", result, got, want)
		}
	}
	if got := value(m.upgrades.inProgress.WithLabelValues("default", "prod")); got != 0 {
		t.Errorf("in progress = %v, want 0", got)
	}
	m.Pass(&sync.Result{Environment: "prod", Errors: []string{"reading namespace: timeout"}, Upgrades: nil})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric lint: %s: %s", p.Metric, p.Text)
	}
	if n := count(m.upgrades.total) + count(m.upgrades.inProgress); n != 5 {
		t.Errorf("%d series, want 4 results and 1 gauge", n)
	}
}

// Each upgrade that ended is an Event on the inventory ConfigMap: Normal
// when it succeeded, Warning otherwise; one in progress is none.
func TestUpgradeEvents(t *testing.T) {
	rec := record.NewFakeRecorder(10)
	e := &Events{recorder: rec}
	r := upgradePass(sync.Degraded, upgrade(sync.UpgradeRolledBack, "lifecycle ROLLED_BACK"), sync.Upgrade{ObjectID: sync.ObjectID{Kind: "FlinkDeployment"}, Job: "b", Generation: 2, State: sync.UpgradeSucceeded},
		sync.Upgrade{Job: "c", State: sync.UpgradeInProgress})
	r.Namespace = "flink-prod"
	e.Pass(r)
	close(rec.Events)
	var got []string
	for ev := range rec.Events {
		got = append(got, ev)
	}
	joined := strings.Join(got, "\n")
	if !strings.Contains(joined, "Warning UpgradeFailed app orders (FlinkDeployment generation 3): upgrade failed and was rolled back") ||
		!strings.Contains(joined, "Normal UpgradeSucceeded app b (FlinkDeployment generation 2): upgrade succeeded") || len(got) != 2 {
		t.Errorf("events:\n%s", joined)
	}
}
