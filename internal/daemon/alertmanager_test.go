package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flinksync/flinksync/internal/report"
	"github.com/flinksync/flinksync/internal/testenv"
)

// The daemon's alerts reach a real Alertmanager (bin/alertmanager, which
// `make alertmanager` builds) through its v2 API, as `flinksync run
// --alert-webhook http://…/api/v2/alerts --alert-format alertmanager` sends
// them; the test reads them back from Alertmanager's own API and from the
// notifications Alertmanager sends to its receiver: firing while a live edit
// stays, resolved once it is put back.
func TestAlertmanagerReceivesDriftFiringThenResolved(t *testing.T) {
	am := startAlertmanager(t)
	f := newFixture(t, options{drift: 300 * time.Millisecond,
		alerts: []report.AlertTarget{{URL: am.url + "/api/v2/alerts", Format: report.FormatAlertmanager}}})
	head := f.head()
	eventually(t, 30*time.Second, "the first revision applied", f.applied(head))

	// dev only warns of drift: the live edit stays, and so does the alert.
	f.editReplicas("dev", "orders-enrich", 7)
	match := map[string]string{"alertname": "Flinksync" + report.AlertDrift, "environment": "dev"}
	var firing []amAlert
	eventually(t, 15*time.Second, "Alertmanager lists dev's drift alert as active", func() bool {
		firing = am.alerts(t, match)
		return len(firing) == 1 && firing[0].Status.State == "active"
	})
	a := firing[0]
	for k, want := range map[string]string{"severity": "warning", "source": "flinksync", "cluster": "default"} {
		if a.Labels[k] != want {
			t.Errorf("label %s=%q, want %q (labels %v)", k, a.Labels[k], want, a.Labels)
		}
	}
	if !strings.Contains(a.Annotations["summary"], "drifted from Git") ||
		!strings.Contains(a.Annotations["description"], "spec.taskManager.replicas") || a.Annotations["revision"] != head {
		t.Errorf("annotations %v: want the summary, the drifted field and revision %s", a.Annotations, head)
	}
	if len(a.Receivers) != 1 || a.Receivers[0].Name != amReceiver {
		t.Errorf("receivers %+v, want %s", a.Receivers, amReceiver)
	}
	am.waitNotification(t, "firing", match)

	// The drift lasts past Alertmanager's resolve_timeout: the daemon's
	// passes re-send the alert with endsAt ahead, so it stays active.
	time.Sleep(4 * time.Second)
	if got := am.alerts(t, match); len(got) != 1 || got[0].Status.State != "active" {
		t.Fatalf("the drift persists past resolve_timeout, but Alertmanager lists %+v", got)
	}

	// Someone puts it back: Alertmanager resolves the alert, tells its
	// receiver so, and no longer lists it.
	f.editReplicas("dev", "orders-enrich", 1)
	am.waitNotification(t, "resolved", match)
	if got := am.alerts(t, match); len(got) != 0 {
		t.Errorf("Alertmanager still lists the resolved alert: %+v", got)
	}
}

// An application that fails reaches a real Alertmanager as one
// FlinksyncAppDegraded alert with its app label and FKO's error, stays
// active while FKO redeploys it, and is resolved once it is healthy.
func TestAlertmanagerReceivesAppDegradedFiringThenResolved(t *testing.T) {
	am := startAlertmanager(t)
	f := newFixture(t, options{drift: 300 * time.Millisecond,
		alerts: []report.AlertTarget{{URL: am.url + "/api/v2/alerts", Format: report.FormatAlertmanager}}})
	eventually(t, 30*time.Second, "the first revision applied", f.applied(f.head()))

	f.setStatus("dev", "orders-enrich", statusFailed)
	match := map[string]string{"alertname": "Flinksync" + report.AlertAppDegraded, "environment": "dev", "app": "orders-enrich"}
	var firing []amAlert
	eventually(t, 15*time.Second, "Alertmanager lists the AppDegraded alert as active", func() bool {
		firing = am.alerts(t, match)
		return len(firing) == 1 && firing[0].Status.State == "active"
	})
	if a := firing[0]; a.Labels["severity"] != "critical" || !strings.Contains(a.Annotations["summary"], "Recovery is suppressed") {
		t.Errorf("labels %v, annotations %v: want severity critical and FKO's error", a.Labels, a.Annotations)
	}
	am.waitNotification(t, "firing", match)

	// Redeploying, past Alertmanager's resolve_timeout: still active.
	f.setStatus("dev", "orders-enrich", statusRedeploying)
	time.Sleep(4 * time.Second)
	if got := am.alerts(t, match); len(got) != 1 || got[0].Status.State != "active" {
		t.Fatalf("a redeploying app is not fixed yet, but Alertmanager lists %+v", got)
	}

	f.setStatus("dev", "orders-enrich", statusStable)
	am.waitNotification(t, "resolved", match)
	if got := am.alerts(t, match); len(got) != 0 {
		t.Errorf("Alertmanager still lists the resolved alert: %+v", got)
	}
}

// editReplicas changes a FlinkDeployment's TaskManager replicas in the
// cluster, behind Git's back, as kubectl edit would.
func (f *fixture) editReplicas(env, app string, n int) {
	f.t.Helper()
	patch := []byte(fmt.Sprintf(`{"spec":{"taskManager":{"replicas":%d}}}`, n))
	if _, err := f.dyn.Resource(fdGVR).Namespace(f.ns(env)).Patch(context.Background(), app, types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		f.t.Fatal(err)
	}
}

// amReceiver is the name of the one receiver of the test's Alertmanager.
const amReceiver = "flinksync-test"

// alertmanager is a real Alertmanager on a free localhost port; its one
// route sends every alert, firing and resolved, to a webhook of the test.
type alertmanager struct {
	url string // its base URL

	mu    gosync.Mutex
	notes []amNotification // what it sent to its receiver
}

// amAlert is one alert of GET /api/v2/alerts (Alertmanager's gettableAlert).
type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
	Receivers []struct {
		Name string `json:"name"`
	} `json:"receivers"`
}

// amNotification is the body of Alertmanager's webhook notifications.
type amNotification struct {
	Receiver string `json:"receiver"`
	Status   string `json:"status"`
	Alerts   []struct {
		Status string            `json:"status"`
		Labels map[string]string `json:"labels"`
	} `json:"alerts"`
}

// startAlertmanager runs bin/alertmanager until the test ends.
func startAlertmanager(t *testing.T) *alertmanager {
	t.Helper()
	bin := testenv.BinFile(t, "alertmanager", "alertmanager")
	am := &alertmanager{}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n amNotification
		if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		am.mu.Lock()
		am.notes = append(am.notes, n)
		am.mu.Unlock()
	}))
	t.Cleanup(receiver.Close)

	dir := t.TempDir()
	// Notifications go out at once (group_wait 0s) and a group's changes,
	// resolutions included, a second later.
	// resolve_timeout is short: an alert that still fires must be kept
	// alive by the daemon's re-sends, not by Alertmanager's default 5m.
	config := fmt.Sprintf(`global:
  resolve_timeout: 2s
route:
  receiver: %s
  group_by: [alertname, environment]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: %s
    webhook_configs:
      - url: %s
        send_resolved: true
`, amReceiver, amReceiver, receiver.URL)
	cfgFile := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfgFile, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	am.url = "http://" + addr
	var out bytes.Buffer
	cmd := exec.Command(bin, "--config.file="+cfgFile, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("alertmanager exited before it was ready: %v\n%s", err, out.String())
		default:
		}
		if resp, err := http.Get(am.url + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return am
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager not ready at %s after 30s\n%s", am.url, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freeAddr is a localhost address no one listened on a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// alerts lists the alerts Alertmanager's API returns whose labels include
// match.
func (am *alertmanager) alerts(t *testing.T, match map[string]string) []amAlert {
	t.Helper()
	resp, err := http.Get(am.url + "/api/v2/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var all []amAlert
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v2/alerts: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&all); err != nil {
		t.Fatalf("GET /api/v2/alerts: %v", err)
	}
	var out []amAlert
	for _, a := range all {
		if hasLabels(a.Labels, match) {
			out = append(out, a)
		}
	}
	return out
}

// waitNotification waits until Alertmanager has told its receiver that an
// alert whose labels include match has status.
func (am *alertmanager) waitNotification(t *testing.T, status string, match map[string]string) {
	t.Helper()
	eventually(t, 15*time.Second, "Alertmanager's "+status+" notification", func() bool {
		am.mu.Lock()
		defer am.mu.Unlock()
		for _, n := range am.notes {
			for _, a := range n.Alerts {
				if n.Receiver == amReceiver && a.Status == status && hasLabels(a.Labels, match) {
					return true
				}
			}
		}
		return false
	})
}

func hasLabels(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}
