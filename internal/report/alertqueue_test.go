package report

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/flinksync/flinksync/internal/sync"
)

// receiver is a local alert webhook whose answers the test chooses.
type receiver struct {
	srv      *httptest.Server
	requests atomic.Int64
	mu       gosync.Mutex
	accepted []Alert
}

// newReceiver answers each request with answer(n), n counting from 1;
// a 2xx answer records the alert.
func newReceiver(t *testing.T, answer func(n int64, w http.ResponseWriter, r *http.Request) int) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := answer(rc.requests.Add(1), w, r)
		if code/100 == 2 {
			var a Alert
			_ = json.NewDecoder(r.Body).Decode(&a)
			rc.mu.Lock()
			rc.accepted = append(rc.accepted, a)
			rc.mu.Unlock()
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) got() []Alert {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Alert(nil), rc.accepted...)
}

// lockedBuffer collects log lines written from the queue's goroutines.
type lockedBuffer struct {
	mu gosync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type queueFixture struct {
	q    *AlertQueue
	m    *Metrics
	logs *lockedBuffer
	stop func()
}

func startQueue(t *testing.T, url string, opts QueueOptions) *queueFixture {
	t.Helper()
	f := &queueFixture{m: NewMetrics(prometheus.NewRegistry()), logs: &lockedBuffer{}}
	f.q = NewAlertQueue([]AlertTarget{{URL: url, Format: FormatJSON}}, opts, f.m, slog.New(slog.NewTextHandler(f.logs, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.q.Run(ctx) }()
	f.stop = func() { cancel(); <-done }
	t.Cleanup(f.stop)
	return f
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var fast = QueueOptions{BackoffBase: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond, Timeout: time.Second}

func firing(env string) Alert {
	return Alert{Kind: AlertSyncFailed, Status: "firing", Environment: env, Summary: "sync of " + env + " failed"}
}

// A receiver that fails three times then accepts gets each notification
// exactly once, in order, and every failure is counted and logged.
func TestAlertQueueRetriesUntilDelivered(t *testing.T) {
	rc := newReceiver(t, func(n int64, _ http.ResponseWriter, _ *http.Request) int {
		if n <= 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	f := startQueue(t, rc.srv.URL, fast)
	resolved := firing("prod")
	resolved.Status = "resolved"
	f.q.Enqueue(firing("prod"))
	f.q.Enqueue(resolved)
	waitFor(t, "both notifications delivered", func() bool { return len(rc.got()) == 2 })
	f.q.Drain(context.Background())
	got := rc.got()
	if got[0].Status != "firing" || got[1].Status != "resolved" {
		t.Errorf("the resolved notice must not overtake its firing one: %+v", got)
	}
	if n := rc.requests.Load(); n != 5 {
		t.Errorf("3 failures then 2 deliveries make 5 requests, got %d", n)
	}
	target := TargetName(rc.srv.URL)
	if v := value(f.m.alertsSent.WithLabelValues(target, AlertSyncFailed)); v != 2 {
		t.Errorf("flinksync_alerts_sent_total = %v, want 2", v)
	}
	if v := value(f.m.alertFailures.WithLabelValues(target, "http_5xx")); v != 3 {
		t.Errorf("flinksync_alert_failures_total{reason=http_5xx} = %v, want 3", v)
	}
	if n := strings.Count(f.logs.String(), "alert delivery failed, will retry"); n != 3 {
		t.Errorf("each failed attempt is logged, got %d lines:\n%s", n, f.logs)
	}
	if count(f.m.alertsDropped) != 0 {
		t.Errorf("nothing was dropped")
	}
}

// A receiver that always fails: each notification is tried Attempts times,
// then dropped, logged and counted; the Slack-style secret path of the URL
// appears in neither the logs nor the metrics.
func TestAlertQueueGivesUpAfterItsAttempts(t *testing.T) {
	rc := newReceiver(t, func(int64, http.ResponseWriter, *http.Request) int { return http.StatusInternalServerError })
	opts := fast
	opts.Attempts = 3
	url := rc.srv.URL + "/services/T000/B000/s3cr3tt0k3n"
	f := startQueue(t, url, opts)
	f.q.Enqueue(firing("dev"))
	f.q.Enqueue(firing("prod"))
	target := TargetName(url)
	waitFor(t, "both dropped", func() bool {
		return value(f.m.alertsDropped.WithLabelValues(target, DropAttempts)) == 2
	})
	if n := rc.requests.Load(); n != 6 {
		t.Errorf("2 notifications × 3 attempts make 6 requests, got %d", n)
	}
	if v := value(f.m.alertFailures.WithLabelValues(target, "http_5xx")); v != 6 {
		t.Errorf("failures = %v, want 6", v)
	}
	logs := f.logs.String()
	if strings.Count(logs, "alert dropped") != 2 || !strings.Contains(logs, "reason=attempts") || !strings.Contains(logs, "environment=prod") {
		t.Errorf("each drop is logged with its reason and environment:\n%s", logs)
	}
	if strings.Contains(logs, "s3cr3t") || strings.Contains(target, "s3cr3t") {
		t.Errorf("the webhook's path must not be logged or labelled: target %q\n%s", target, logs)
	}
}

// A 4xx other than 408/425/429 means the receiver will never take it: one
// try, dropped as rejected.
func TestAlertQueueDoesNotRetryARejection(t *testing.T) {
	rc := newReceiver(t, func(int64, http.ResponseWriter, *http.Request) int { return http.StatusBadRequest })
	f := startQueue(t, rc.srv.URL, fast)
	f.q.Enqueue(firing("dev"))
	target := TargetName(rc.srv.URL)
	waitFor(t, "the rejection", func() bool {
		return value(f.m.alertsDropped.WithLabelValues(target, DropRejected)) == 1
	})
	time.Sleep(50 * time.Millisecond)
	if n := rc.requests.Load(); n != 1 {
		t.Errorf("a rejection is not retried: %d requests", n)
	}
}

// A receiver that hangs: Enqueue (and so the pass that observes) returns
// at once however many alerts arrive, the queue stays within its size,
// the oldest are dropped and counted, and stopping the queue counts the
// rest.
func TestAlertQueueIsBoundedAndNeverWaitsOnAHangingReceiver(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, func(_ int64, _ http.ResponseWriter, r *http.Request) int {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return http.StatusOK
	})
	defer close(release)
	opts := fast
	opts.Size, opts.Timeout = 5, time.Hour
	f := startQueue(t, rc.srv.URL, opts)
	a := &Alerter{Queue: f.q, Metrics: f.m}
	waitFor(t, "the worker's first request", func() bool {
		a.Observe(context.Background(), &sync.Result{Environment: "env-0", Errors: []string{"boom"}})
		return rc.requests.Load() == 1
	})
	start := time.Now()
	for i := 1; i <= 100; i++ {
		a.Observe(context.Background(), &sync.Result{Environment: "env-" + strconv.Itoa(i), Errors: []string{"boom"}})
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("100 passes took %s observing alerts: the pass must not wait on the receiver", took)
	}
	if n := f.q.Len(); n != opts.Size+1 {
		t.Errorf("queue length %d, want its size %d plus the one in flight", n, opts.Size)
	}
	target := TargetName(rc.srv.URL)
	if v := value(f.m.alertsDropped.WithLabelValues(target, DropQueueFull)); v != 100-float64(opts.Size) {
		t.Errorf("dropped as queue_full: %v, want %d", v, 100-opts.Size)
	}
	if v := value(f.m.alertQueue.WithLabelValues(target)); v != float64(opts.Size+1) {
		t.Errorf("flinksync_alert_queue_length = %v", v)
	}
	f.stop()
	if v := value(f.m.alertsDropped.WithLabelValues(target, DropShutdown)); v != float64(opts.Size+1) {
		t.Errorf("dropped at shutdown: %v, want %d", v, opts.Size+1)
	}
	if f.q.Len() != 0 || value(f.m.alertQueue.WithLabelValues(target)) != 0 {
		t.Errorf("a stopped queue holds nothing")
	}
}

// Re-sends of an alert still firing (Alertmanager's refresh) while the
// receiver is away replace the one that waits: the queue holds the latest
// state once and never drops another alert for them.
func TestAlertQueueCoalescesRefreshes(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, func(_ int64, _ http.ResponseWriter, r *http.Request) int {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return http.StatusOK
	})
	opts := fast
	opts.Size, opts.Timeout = 3, time.Hour
	f := &queueFixture{m: NewMetrics(prometheus.NewRegistry()), logs: &lockedBuffer{}}
	f.q = NewAlertQueue([]AlertTarget{{URL: rc.srv.URL, Format: FormatAlertmanager}}, opts, f.m, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.q.Run(ctx)
	f.q.Enqueue(firing("dev")) // in flight, held by the receiver
	waitFor(t, "the first request", func() bool { return rc.requests.Load() == 1 })
	f.q.Enqueue(firing("prod"))
	drift := Alert{Kind: AlertDrift, Status: "firing", Environment: "prod", Summary: "drift"}
	f.q.Enqueue(drift)
	for i := range 50 {
		refresh := drift
		refresh.Refresh, refresh.Revision = true, strconv.Itoa(i)
		f.q.Enqueue(refresh)
	}
	if n := f.q.Len(); n != 3 {
		t.Errorf("queue length %d, want 3: the refreshes must take the waiting drift alert's place", n)
	}
	if n := count(f.m.alertsDropped); n != 0 {
		t.Errorf("refreshes must not push other alerts out: %d dropped", n)
	}
	l := f.q.lanes[0]
	l.mu.Lock()
	last := l.waiting[len(l.waiting)-1].alert
	l.mu.Unlock()
	if last.Kind != AlertDrift || last.Revision != "49" {
		t.Errorf("the latest refresh must wait in place of the others: %+v", last)
	}
	close(release)
	waitFor(t, "all delivered", func() bool { return f.q.Len() == 0 })
	if n := rc.requests.Load(); n != 3 {
		t.Errorf("3 requests (dev, prod, one drift), got %d", n)
	}
}

func TestAlertBackoffDoublesWithJitter(t *testing.T) {
	q := NewAlertQueue(nil, QueueOptions{BackoffBase: time.Second, BackoffMax: time.Minute}, nil, nil)
	for n, full := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 7: time.Minute, 40: time.Minute} {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := q.backoff(n)
			if d < full/2 || d > full {
				t.Fatalf("backoff(%d) = %s, want between %s and %s", n, d, full/2, full)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("backoff(%d) has no jitter: %v", n, seen)
		}
	}
}

func TestTargetNameHidesPathAndUserinfo(t *testing.T) {
	for raw, want := range map[string]string{
		"https://hooks.slack.com/services/T0/B0/xyz":     "hooks.slack.com",
		"http://user:pw@alertmanager:9093/api/v2/alerts": "alertmanager:9093",
		"::not a url": "invalid-url",
	} {
		if got := TargetName(raw); got != want {
			t.Errorf("TargetName(%q) = %q, want %q", raw, got, want)
		}
	}
}

// value reads a counter or a gauge.
func value(m prometheus.Metric) float64 {
	var out dto.Metric
	_ = m.Write(&out)
	return out.GetCounter().GetValue() + out.GetGauge().GetValue()
}

// count is the number of series a collector has.
func count(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 100)
	c.Collect(ch)
	close(ch)
	return len(ch)
}
