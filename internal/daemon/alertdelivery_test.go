package daemon

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flinksync/flinksync/internal/report"
)

// An alert receiver that never answers: the pass that raises the alert
// is not held up by it (the synchronous sender used to wait its 10 s
// client timeout inside the pass, per alert and per receiver), and the
// next commit is applied at once.
func TestAHangingAlertReceiverDoesNotDelayThePass(t *testing.T) {
	var got atomic.Int64
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); hang.Close() })
	f := newFixture(t, options{alerts: []report.AlertTarget{{URL: hang.URL, Format: report.FormatJSON}}})
	eventually(t, 30*time.Second, "the first revision applied", f.applied(f.head()))

	f.breakDev()
	start := time.Now()
	if code := f.hook("s3cret"); code != http.StatusAccepted {
		t.Fatalf("webhook: %d", code)
	}
	eventually(t, 6*time.Second, "dev's failed pass in the status", func() bool { return f.env("dev").Result == report.ResultFailed })
	eventually(t, 5*time.Second, "the alert sent to the receiver", func() bool { return got.Load() > 0 })
	fixed := f.fixDev()
	if code := f.hook("s3cret"); code != http.StatusAccepted {
		t.Fatalf("webhook: %d", code)
	}
	eventually(t, 6*time.Second, "the fix applied while the receiver still hangs", f.applied(fixed))
	t.Logf("break, alert and fix applied in %s with a receiver that never answers", time.Since(start))
	if n := f.metric("flinksync_alert_queue_length", nil); n < 1 {
		t.Errorf("the firing and resolved notices wait in the queue: length %v", n)
	}
}

// An alert receiver that fails its first three requests: the SyncFailed
// alert is retried and delivered exactly once, then its resolved notice,
// in order; the failures are counted. (A failed send used to be dropped
// without a retry or a word.)
func TestAFlakyAlertReceiverGetsEachAlertOnce(t *testing.T) {
	var requests atomic.Int64
	var mu gosync.Mutex
	var alerts []report.Alert
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) <= 3 {
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		var a report.Alert
		if err := json.NewDecoder(r.Body).Decode(&a); err == nil {
			mu.Lock()
			alerts = append(alerts, a)
			mu.Unlock()
		}
	}))
	t.Cleanup(flaky.Close)
	of := func(kind string) []report.Alert {
		mu.Lock()
		defer mu.Unlock()
		var out []report.Alert
		for _, a := range alerts {
			if a.Kind == kind && a.Environment == "dev" {
				out = append(out, a)
			}
		}
		return out
	}
	f := newFixture(t, options{
		alerts:     []report.AlertTarget{{URL: flaky.URL, Format: report.FormatJSON}},
		alertQueue: report.QueueOptions{BackoffBase: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond},
	})
	eventually(t, 30*time.Second, "the first revision applied", f.applied(f.head()))
	f.breakDev()
	f.hook("s3cret")
	eventually(t, 15*time.Second, "the SyncFailed alert delivered", func() bool { return len(of(report.AlertSyncFailed)) == 1 })
	f.fixDev()
	f.hook("s3cret")
	eventually(t, 15*time.Second, "its resolved notice", func() bool { return len(of(report.AlertSyncFailed)) == 2 })
	time.Sleep(300 * time.Millisecond)
	a := of(report.AlertSyncFailed)
	if len(a) != 2 || a[0].Status != "firing" || a[1].Status != "resolved" {
		t.Errorf("want SyncFailed firing then resolved, once each: %+v", a)
	}
	target := report.TargetName(flaky.URL)
	if n := f.metric("flinksync_alert_failures_total", map[string]string{"target": target, "reason": "http_5xx"}); n != 3 {
		t.Errorf("flinksync_alert_failures_total = %v, want 3", n)
	}
	if n := f.metric("flinksync_alerts_sent_total", map[string]string{"target": target, "alert": report.AlertSyncFailed}); n != 2 {
		t.Errorf("flinksync_alerts_sent_total{alert=SyncFailed} = %v, want 2", n)
	}
	if n := f.metric("flinksync_alerts_dropped_total", nil); n != 0 {
		t.Errorf("nothing is dropped: %v", n)
	}
}
