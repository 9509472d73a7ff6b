package daemon

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/flinksync/flinksync/internal/report"
	"github.com/flinksync/flinksync/internal/sync"
	"github.com/flinksync/flinksync/internal/testenv"
)

const auditFile = "apps/audit-archiver.yaml"

func TestPushIsAppliedAtOnceWithAWebhookAndBadSignaturesAreRefused(t *testing.T) {
	f := newFixture(t, options{})
	eventually(t, 30*time.Second, "the first revision applied everywhere", f.applied(f.head()))
	if got := f.replicas("prod", "audit-archiver"); got != 2 {
		t.Fatalf("audit-archiver replicas %d, want 2", got)
	}
	fetches := f.metric("flinksync_git_requests_total", map[string]string{"type": "fetch"})

	// Triggers without a new commit: the head is asked for, nothing fetched.
	for i := 0; i < 3; i++ {
		if code := f.hook("s3cret"); code != http.StatusAccepted {
			t.Fatalf("webhook: %d", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
	eventually(t, 5*time.Second, "the head checks", func() bool {
		return f.metric("flinksync_git_requests_total", map[string]string{"type": "ls-remote"}) >= 2
	})
	if got := f.metric("flinksync_git_requests_total", map[string]string{"type": "fetch"}); got != fetches {
		t.Errorf("fetched %v times with an unchanged head", got-fetches)
	}

	// A push with a bad signature: refused, nothing happens.
	rev := f.git.commit(auditFile, "taskManagers: 2", "taskManagers: 3")
	if code := f.hook("wrong"); code != http.StatusUnauthorized {
		t.Fatalf("a bad signature must get 401, got %d", code)
	}
	time.Sleep(time.Second)
	if got := f.replicas("prod", "audit-archiver"); got != 2 {
		t.Fatalf("a refused webhook must not apply anything (replicas %d)", got)
	}
	// The same push with a good signature: applied at once.
	start := time.Now()
	if code := f.hook("s3cret"); code != http.StatusAccepted {
		t.Fatalf("webhook: %d", code)
	}
	eventually(t, 10*time.Second, "the push applied", func() bool { return f.replicas("prod", "audit-archiver") == 3 })
	t.Logf("push to applied through the webhook: %s", time.Since(start))
	eventually(t, 10*time.Second, "status shows the revision", f.applied(rev))

	// Status API.
	resp, err := http.Get(f.http.URL + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if st.Revision != rev || len(st.Environments) != 5 || !st.Source.OK || !st.Leader { // the example's five
		t.Fatalf("status: %+v", st)
	}
	for _, e := range st.Environments {
		if e.Result != report.ResultSuccess || len(e.Sizing) == 0 || len(e.Health) == 0 {
			t.Errorf("%s: status %+v", e.Name, e)
		}
		for _, r := range e.Sizing {
			if len(r.Explanation) > 0 || r.TaskManagers == 0 {
				t.Errorf("%s: the daemon keeps a sizing's figures, not its explanation: %+v", e.Name, r)
			}
		}
	}
	// Body too large.
	big := strings.Repeat("x", MaxWebhookBody+10)
	r2, _ := http.Post(f.http.URL+"/hooks/generic", "application/json", strings.NewReader(big))
	if r2.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a huge body must get 413, got %d", r2.StatusCode)
	}
	r2.Body.Close()
}

func TestGitLabAndGenericWebhooks(t *testing.T) {
	d := &Daemon{cfg: Config{WebhookSecret: []byte("tok")}, trigger: make(chan struct{}, 1)}
	d.leader.Store(true)
	d.log = discardLogger()
	h := d.routes()
	for _, tc := range []struct {
		path, header, value string
		want                int
	}{
		{"/hooks/gitlab", "X-Gitlab-Token", "tok", http.StatusAccepted},
		{"/hooks/gitlab", "X-Gitlab-Token", "nope", http.StatusUnauthorized},
		{"/hooks/generic", "X-Signature", "sha256=" + hmacHex("tok", "{}"), http.StatusAccepted},
		{"/hooks/generic", "X-Signature", "sha256=" + hmacHex("other", "{}"), http.StatusUnauthorized},
		{"/hooks/github", "X-Hub-Signature-256", "sha1=abc", http.StatusUnauthorized},
	} {
		req := newRequest(tc.path, "{}")
		req.Header.Set(tc.header, tc.value)
		rec := newRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s %s=%s: got %d, want %d", tc.path, tc.header, tc.value, rec.Code, tc.want)
		}
	}
	// Three valid pushes in a burst coalesce into one pending pass.
	for i := 0; i < 3; i++ {
		req := newRequest("/hooks/gitlab", "{}")
		req.Header.Set("X-Gitlab-Token", "tok")
		h.ServeHTTP(newRecorder(), req)
	}
	if len(d.trigger) != 1 {
		t.Errorf("bursts must coalesce into one pass, %d pending", len(d.trigger))
	}
}

func TestDriftAlertsOnceThenResolved(t *testing.T) {
	f := newFixture(t, options{drift: 300 * time.Millisecond})
	eventually(t, 30*time.Second, "the first revision applied", f.applied(f.head()))
	edit := func(env string, n int) {
		patch := []byte(`{"spec":{"taskManager":{"replicas":` + itoa(n) + `}}}`)
		if _, err := f.dyn.Resource(fdGVR).Namespace(f.ns(env)).Patch(context.Background(), "orders-enrich", types.MergePatchType, patch,
			metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
			t.Fatal(err)
		}
	}
	// staging corrects drift: one alert, the fix, then a resolved notice.
	edit("staging", 11)
	eventually(t, 10*time.Second, "a resolved drift alert for staging", func() bool {
		a := f.alerts.of(report.AlertDrift, "staging")
		return len(a) == 2 && a[0].Status == "firing" && a[1].Status == "resolved"
	})
	if got := f.replicas("staging", "orders-enrich"); got == 11 {
		t.Errorf("staging's drift must be corrected")
	}
	// dev only warns: the drift stays, the alert is sent once however many passes see it.
	edit("dev", 7)
	eventually(t, 10*time.Second, "drift gauge for dev", func() bool {
		return f.metric("flinksync_drifted_objects", map[string]string{"environment": "dev"}) == 1
	})
	time.Sleep(1500 * time.Millisecond) // several drift passes
	if a := f.alerts.of(report.AlertDrift, "dev"); len(a) != 1 || a[0].Status != "firing" || !strings.Contains(strings.Join(a[0].Details, " "), "spec.taskManager.replicas") {
		t.Fatalf("want exactly one firing drift alert naming the field, got %+v", a)
	}
	if f.replicas("dev", "orders-enrich") != 7 {
		t.Errorf("warn mode must leave the live edit")
	}
	// Someone puts it back: resolved, and the gauge goes down.
	edit("dev", 1)
	eventually(t, 10*time.Second, "the resolved notice for dev", func() bool { return len(f.alerts.of(report.AlertDrift, "dev")) == 2 })
	if got := f.metric("flinksync_drifted_objects", map[string]string{"environment": "dev"}); got != 0 {
		t.Errorf("drift gauge %v after the fix", got)
	}
}

func TestGitOutageKeepsStateAndRecovers(t *testing.T) {
	f := newFixture(t, options{interval: 200 * time.Millisecond})
	first := f.head()
	eventually(t, 30*time.Second, "the first revision applied", f.applied(first))
	f.git.stop()
	eventually(t, 10*time.Second, "the outage in metrics", func() bool {
		return f.metric("flinksync_source_up", nil) == 0 && f.metric("flinksync_git_errors_total", nil) > 0
	})
	st := f.d.Snapshot()
	if st.Source.OK || st.Source.Error == "" || st.Revision != first {
		t.Errorf("status must show the outage and keep the last revision: %+v", st.Source)
	}
	if f.replicas("prod", "audit-archiver") != 2 {
		t.Errorf("the last applied state must stay")
	}
	f.git.start()
	rev := f.git.commit(auditFile, "taskManagers: 2", "taskManagers: 4")
	eventually(t, 15*time.Second, "recovery applies the new commit", func() bool { return f.replicas("prod", "audit-archiver") == 4 })
	eventually(t, 10*time.Second, "status recovered", func() bool { s := f.d.Snapshot(); return s.Source.OK && s.Revision == rev })
	if f.metric("flinksync_source_up", nil) != 1 {
		t.Errorf("source_up must be 1 again")
	}
}

// proxy forwards TCP to the API server and can cut every connection, the
// way a restarting API server looks from the daemon.
type proxy struct {
	ln     net.Listener
	target string
	down   atomic.Bool
	// stall holds new connections open without an answer, the way a
	// hung API server looks; resume closes them.
	stall atomic.Bool
	mu    gosync.Mutex
	conns []net.Conn
	held  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.down.Load() {
				c.Close()
				continue
			}
			if p.stall.Load() {
				p.mu.Lock()
				p.held = append(p.held, c)
				p.mu.Unlock()
				continue
			}
			go p.pipe(c)
		}
	}()
	t.Cleanup(func() { ln.Close(); p.cut() })
	return p
}

// viaProxy is the test API server's config through a new proxy.
func viaProxy(t *testing.T) (*proxy, *rest.Config) {
	cfg := testenvConfig(t)
	u, _ := url.Parse(cfg.Host)
	px := newProxy(t, u.Host)
	via := rest.CopyConfig(cfg)
	via.Host = "https://" + px.ln.Addr().String()
	via.TLSClientConfig.ServerName = "127.0.0.1"
	return px, via
}

func (p *proxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, c, up)
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range append(p.conns, p.held...) {
		c.Close()
	}
	p.conns, p.held = nil, nil
}

// hang makes the API server look hung: every connection is cut, and new
// ones are held without an answer.
func (p *proxy) hang() {
	p.stall.Store(true)
	p.cut()
}

// resume lets connections through again; the held ones are closed.
func (p *proxy) resume() {
	p.stall.Store(false)
	p.cut()
}

func TestAPIServerOutageRecoversWithoutLosingInventory(t *testing.T) {
	px, via := viaProxy(t)
	f := newFixture(t, options{drift: 300 * time.Millisecond, restConfig: via, interval: 200 * time.Millisecond})
	eventually(t, 30*time.Second, "the first revision applied", f.applied(f.head()))
	before := f.metric("flinksync_reconcile_total", map[string]string{"result": "failed"})

	px.down.Store(true)
	px.cut()
	rev := f.git.commit(auditFile, "taskManagers: 2", "taskManagers: 5")
	// Generous bounds: the new revision is fetched and rendered before its
	// passes fail, which takes a while on a busy 2-core CI machine.
	eventually(t, 60*time.Second, "failed passes while the API server is away", func() bool {
		return f.metric("flinksync_reconcile_total", map[string]string{"result": "failed"}) > before
	})
	px.down.Store(false)
	eventually(t, 60*time.Second, "recovery", func() bool { return f.replicas("prod", "audit-archiver") == 5 })
	eventually(t, 60*time.Second, "every environment applied", f.applied(rev))
	for _, env := range []string{"dev", "staging", "prod", "prod-eu"} {
		cm, err := f.dyn.Resource(configMaps).Namespace(f.ns(env)).Get(context.Background(), sync.InventoryName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		data, _ := cm.Object["data"].(map[string]any)
		var entries []sync.Entry
		_ = json.Unmarshal([]byte(data["objects.json"].(string)), &entries)
		if len(entries) < 9 {
			t.Errorf("%s: inventory lost objects: %d entries", env, len(entries))
		}
	}
}

func TestLeaderElectionOnlyLeaderAppliesAndHandsOver(t *testing.T) {
	cfg := testenvConfig(t)
	var writesA, writesB atomic.Int64
	le := func(id string) *LeaderElection {
		return &LeaderElection{Namespace: "default", Name: "flinksync-le" + id[:0], Identity: id,
			LeaseDuration: 2 * time.Second, RenewDeadline: 1500 * time.Millisecond, RetryPeriod: 300 * time.Millisecond}
	}
	a := newFixture(t, options{restConfig: countNonLease(cfg, &writesA), leader: le("a")})
	eventually(t, 30*time.Second, "a leads and applies", func() bool { return a.d.IsLeader() && a.applied(a.head())() })
	// A second replica over the same repository and cluster.
	b := &fixture{t: t, cfg: cfg, git: a.git, suffix: a.suffix, dyn: a.dyn, alerts: a.alerts}
	b.d = b.newDaemon(options{restConfig: countNonLease(cfg, &writesB), leader: le("b")})
	b.start()
	time.Sleep(2 * time.Second)
	if b.d.IsLeader() || writesB.Load() != 0 {
		t.Fatalf("the standby must not apply: leader=%v writes=%d", b.d.IsLeader(), writesB.Load())
	}
	rec := newRecorder()
	b.d.Handler().ServeHTTP(rec, newGet("/readyz"))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "standby") {
		t.Errorf("a standby is ready and says it is a standby, got %d %q", rec.Code, rec.Body.String())
	}
	// A commit the leader has not seen (no webhook, an hour's poll), then
	// kill the leader: b takes over and applies it.
	a.git.commit(auditFile, "taskManagers: 2", "taskManagers: 6")
	a.stop()
	eventually(t, 20*time.Second, "b takes over", b.d.IsLeader)
	eventually(t, 20*time.Second, "b applies", func() bool { return b.replicas("prod", "audit-archiver") == 6 })
	if writesB.Load() == 0 {
		t.Errorf("the new leader made no writes")
	}
}

// countNonLease counts writes other than the Lease's.
func countNonLease(cfg *rest.Config, n *atomic.Int64) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return rtFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method != http.MethodGet && !strings.Contains(r.URL.Path, "/leases") && !strings.Contains(r.URL.Path, "/events") {
				n.Add(1)
			}
			return rt.RoundTrip(r)
		})
	})
	return c
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestAPIServerRestartMidLoop(t *testing.T) {
	f := newFixture(t, options{drift: 300 * time.Millisecond, interval: 200 * time.Millisecond})
	eventually(t, 30*time.Second, "the first revision applied", f.applied(f.head()))
	before := f.metric("flinksync_reconcile_total", map[string]string{"result": "failed"})
	restarted := make(chan struct{})
	go func() { defer close(restarted); testenv.RestartAPIServer(t) }()
	rev := f.git.commit(auditFile, "taskManagers: 2", "taskManagers: 7")
	<-restarted
	eventually(t, 30*time.Second, "the commit applied after the restart", func() bool { return f.replicas("prod", "audit-archiver") == 7 })
	eventually(t, 30*time.Second, "every environment applied", f.applied(rev))
	if f.metric("flinksync_reconcile_total", map[string]string{"result": "failed"}) == before {
		t.Errorf("the passes during the restart must show as failed")
	}
	for _, env := range []string{"dev", "staging", "prod", "prod-eu"} {
		cm, err := f.dyn.Resource(configMaps).Namespace(f.ns(env)).Get(context.Background(), sync.InventoryName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		data, _ := cm.Object["data"].(map[string]any)
		var entries []sync.Entry
		_ = json.Unmarshal([]byte(data["objects.json"].(string)), &entries)
		if len(entries) < 9 {
			t.Errorf("%s: inventory lost objects: %d entries", env, len(entries))
		}
	}
}

// TestStopLetsThePassInFlightFinish: a pass that starts as the daemon is
// told to stop (SIGTERM cancels Run's context) still applies everything.
func TestStopLetsThePassInFlightFinish(t *testing.T) {
	f := newFixture(t, options{})
	eventually(t, 30*time.Second, "the first revision applied", f.applied(f.head()))
	f.stop()
	f.git.commit(auditFile, "taskManagers: 2", "taskManagers: 8")
	fsys, rev, err := f.d.cfg.Remote.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	f.d.render(stopped, fsys, rev)
	if got := f.replicas("prod", "audit-archiver"); got != 8 {
		t.Fatalf("the pass in flight must finish after the stop, replicas %d", got)
	}
	if !f.applied(rev)() {
		t.Errorf("every environment must be applied: %+v", f.d.Snapshot().Environments)
	}
}

func TestBackoffDoubles(t *testing.T) {
	base, most := 10*time.Second, 5*time.Minute
	for n, want := range map[int]time.Duration{1: 10 * time.Second, 2: 20 * time.Second, 3: 40 * time.Second, 6: 5 * time.Minute, 60: 5 * time.Minute} {
		if got := backoff(n, base, most); got != want {
			t.Errorf("backoff(%d) = %s, want %s", n, got, want)
		}
	}
}

// TestAFailingEnvironmentBacksOffAlone: dev's namespace disappears from the
// cluster's view (its file names one that does not exist); dev fails and
// backs off, while staging keeps being applied.
func TestAFailingEnvironmentBacksOffAlone(t *testing.T) {
	f := newFixture(t, options{drift: 200 * time.Millisecond, interval: 200 * time.Millisecond})
	eventually(t, 30*time.Second, "the first revision applied", f.applied(f.head()))
	f.breakDev()
	rev := f.git.commit(auditFile, "taskManagers: 2", "taskManagers: 3")
	eventually(t, 15*time.Second, "staging applies the new revision", func() bool {
		for _, e := range f.d.Snapshot().Environments {
			if e.Name == "staging" && e.AppliedRevision == rev {
				return true
			}
		}
		return false
	})
	eventually(t, 15*time.Second, "dev failing repeatedly, with backoff", func() bool {
		for _, e := range f.d.Snapshot().Environments {
			if e.Name == "dev" {
				return e.Result == report.ResultFailed && e.ConsecutiveFail >= 3 && strings.Contains(strings.Join(e.Errors, " "), "does not exist")
			}
		}
		return false
	})
	// Backoff spaces dev's attempts out: 200 ms, 400 ms, 800 ms, then 1 s
	// (the test's maximum), while drift passes of the others run every 200 ms.
	failedDev := f.metric("flinksync_reconcile_total", map[string]string{"environment": "dev", "result": "failed"})
	okStaging := f.metric("flinksync_reconcile_total", map[string]string{"environment": "staging", "result": "success"})
	time.Sleep(2 * time.Second)
	devRate := f.metric("flinksync_reconcile_total", map[string]string{"environment": "dev", "result": "failed"}) - failedDev
	stagingRate := f.metric("flinksync_reconcile_total", map[string]string{"environment": "staging", "result": "success"}) - okStaging
	if devRate > 3 || stagingRate < 3 {
		t.Errorf("in 2 s: dev tried %v times (want at most 3, backing off), staging passed %v times (want 3 or more)", devRate, stagingRate)
	}
}
