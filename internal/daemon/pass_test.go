package daemon

import (
	"io/fs"
	"net/http"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flinksync/flinksync/internal/pipeline"
)

// hangingPipeline renders as pipeline.Run does until armed; then every
// revision it is given hangs until the test ends, as a render that spins
// on hostile input would.
type hangingPipeline struct {
	armed   atomic.Bool
	release chan struct{}
	mu      gosync.Mutex
	calls   map[string]int
}

func newHangingPipeline(t *testing.T) *hangingPipeline {
	h := &hangingPipeline{release: make(chan struct{}), calls: map[string]int{}}
	t.Cleanup(func() { close(h.release) })
	return h
}

func (h *hangingPipeline) run(fsys fs.FS, opts pipeline.Options) (*pipeline.Result, error) {
	h.mu.Lock()
	h.calls[opts.Revision]++
	h.mu.Unlock()
	if h.armed.Load() {
		<-h.release
	}
	return pipeline.Run(fsys, opts)
}

func (h *hangingPipeline) callsFor(rev string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[rev]
}

// A revision whose render never returns: the pass is cut off at its
// deadline, /readyz stops answering ok and says why, the last applied
// state stays, the revision is not rendered again on every poll, and the
// next commit that renders makes the daemon ready again. Before the pass
// deadline, the loop waited on the render for ever and /readyz said ok.
func TestARenderThatNeverReturnsIsCutOffAndReadinessFails(t *testing.T) {
	h := newHangingPipeline(t)
	f := newFixture(t, options{interval: 200 * time.Millisecond, passTimeout: 3 * time.Second, pipeline: h.run})
	first := f.head()
	eventually(t, 30*time.Second, "the first revision applied", f.applied(first))
	if code, body := f.ready(); code != http.StatusOK {
		t.Fatalf("readyz before: %d %s", code, body)
	}

	h.armed.Store(true)
	stuck := f.git.commit(auditFile, "taskManagers: 2", "taskManagers: 3")
	eventually(t, 10*time.Second, "readyz to stop answering ok", func() bool {
		code, body := f.ready()
		return code == http.StatusServiceUnavailable && strings.Contains(body, stuck) && strings.Contains(body, "did not render")
	})
	if got := f.metric("flinksync_pass_timeouts_total", map[string]string{"stage": "render"}); got < 1 {
		t.Errorf("flinksync_pass_timeouts_total{stage=render} = %v", got)
	}
	if got := f.metric("flinksync_abandoned_renders", nil); got != 1 {
		t.Errorf("flinksync_abandoned_renders = %v, want 1", got)
	}
	st := f.d.Snapshot()
	if st.Source.OK || !strings.Contains(st.Source.Error, stuck) || st.Revision != first {
		t.Errorf("the status must name the revision that did not render and keep the last one: %+v", st.Source)
	}
	if f.replicas("prod", "audit-archiver") != 2 || !f.applied(first)() {
		t.Errorf("the last applied state must stay")
	}
	time.Sleep(time.Second) // five polls of the same head
	if n := h.callsFor(stuck); n != 1 {
		t.Errorf("a head whose render still runs must not be rendered again: %d renders", n)
	}
	if code, _ := f.ready(); code != http.StatusServiceUnavailable {
		t.Errorf("readyz must stay unready while the head cannot render")
	}

	h.armed.Store(false)
	committed := time.Now().Unix() // the metric's seconds: a pass after this one is fresh
	fixed := f.git.commit(auditFile, "taskManagers: 3", "taskManagers: 4")
	eventually(t, 20*time.Second, "the next commit applied", f.applied(fixed))
	if f.replicas("prod", "audit-archiver") != 4 {
		t.Errorf("the commit after the stuck one must be applied")
	}
	eventually(t, 5*time.Second, "readyz ok again", func() bool { code, _ := f.ready(); return code == http.StatusOK })
	// The pass ends after its environments show the revision (orphans are
	// looked for last): its completion is counted a moment later.
	eventually(t, 5*time.Second, "a pass completed after the fixed commit", func() bool {
		return f.metric("flinksync_last_pass_completed_timestamp_seconds", nil) >= float64(committed)
	})
}

// An API server that accepts connections and never answers: every sync is
// cut off at the pass deadline (it used to wait five minutes per
// environment), no pass completes, so /readyz stops answering ok while
// /healthz still does; when the API server answers again the daemon
// applies what waited and is ready again.
func TestAHungAPIServerCutsPassesAndReadinessFails(t *testing.T) {
	px, via := viaProxy(t)
	f := newFixture(t, options{drift: 300 * time.Millisecond, interval: 200 * time.Millisecond, passTimeout: 2 * time.Second, restConfig: via})
	eventually(t, 30*time.Second, "the first revision applied", f.applied(f.head()))
	if code, body := f.ready(); code != http.StatusOK {
		t.Fatalf("readyz before: %d %s", code, body)
	}

	px.hang()
	hung := time.Now()
	rev := f.git.commit(auditFile, "taskManagers: 2", "taskManagers: 5")
	var why string
	eventually(t, 15*time.Second, "readyz to stop answering ok", func() bool {
		code, body := f.ready()
		why = body
		return code == http.StatusServiceUnavailable && strings.Contains(body, "was cut off by the pass timeout")
	})
	t.Logf("unready %s after the API server hung: %s", time.Since(hung).Round(time.Millisecond), strings.TrimSpace(why))
	if got := f.metric("flinksync_pass_timeouts_total", map[string]string{"stage": "sync"}); got < 1 {
		t.Errorf("flinksync_pass_timeouts_total{stage=sync} = %v", got)
	}
	resp, err := http.Get(f.http.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz means the process answers: %d", resp.StatusCode)
	}

	px.resume()
	eventually(t, 30*time.Second, "the commit applied once the API server answers", f.applied(rev))
	eventually(t, 5*time.Second, "readyz ok again", func() bool { code, _ := f.ready(); return code == http.StatusOK })
}

// The last resort: a loop that does not come back (a call that ignores
// its deadline) makes the leader unready after twice the pass timeout; a
// standby stays ready.
func TestReadinessFailsWhenTheLoopDoesNotComeBack(t *testing.T) {
	d := httpDaemon(HTTPLimits{})
	d.cfg.PassTimeout = time.Second
	h := d.routes()
	ready := func() (int, string) {
		rec := newRecorder()
		h.ServeHTTP(rec, newGet("/readyz"))
		return rec.Code, rec.Body.String()
	}
	d.heartbeat.Store(time.Now().UnixNano())
	if code, body := ready(); code != http.StatusOK {
		t.Fatalf("a loop that just came back is ready: %d %s", code, body)
	}
	d.heartbeat.Store(time.Now().Add(-3 * time.Second).UnixNano())
	if code, body := ready(); code != http.StatusServiceUnavailable || !strings.Contains(body, "has not come back") {
		t.Errorf("a loop away for 3 s with a 1 s pass timeout: %d %s", code, body)
	}
	d.leader.Store(false)
	if code, body := ready(); code != http.StatusOK || !strings.Contains(body, "standby") {
		t.Errorf("a standby does not run the loop and stays ready: %d %s", code, body)
	}
}
