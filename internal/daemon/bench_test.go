package daemon

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/flinksync/flinksync/internal/source"

	"github.com/flinksync/flinksync/internal/testenv"
	"github.com/flinksync/flinksync/internal/testrepo"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func procStatus(field string) float64 {
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field+":") {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, field+":")), "%f", &kb)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkDaemon1000Apps measures a daemon following a 1,000-app
// repository: the time from a push (one app changed) through the webhook
// to the change being in the cluster (target under 2 s), and, idle between
// changes, its CPU share (target under 2% of a core), its resident memory
// (under 150 MB) and that it fetches nothing while the head is unchanged.
func BenchmarkDaemon1000Apps(b *testing.B) {
	cfg := testenv.Config(b)
	// testing runs a benchmark more than once: a fresh namespace each time.
	ns := fmt.Sprintf("bench-daemon-%d-%d", os.Getpid(), fixtureN.Add(1))
	testenv.CreateNamespace(b, cfg, ns)
	src := b.TempDir()
	// One environment in ns, 1,000 apps pinned to one TaskManager each.
	testrepo.Write(b, src, testrepo.Files(testrepo.Options{Apps: 1000, TaskManagers: 1,
		EnvName: func(int) string { return "bench" }, Namespace: func(string) string { return ns }}))
	g := newGitServer(b, src, nil)
	d, err := New(Config{
		Remote:   &source.Remote{URL: g.url(), Ref: "main", CacheDir: b.TempDir()},
		Interval: 5 * time.Second, DriftInterval: 15 * time.Second,
		RestConfig: cfg, WebhookSecret: []byte("s3cret"), Logger: discardLogger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	eventually(b, 120*time.Second, "the first apply of 1,000 apps", func() bool {
		s := d.Snapshot()
		return len(s.Environments) == 1 && s.Environments[0].AppliedRevision == g.git(g.work, "rev-parse", "HEAD")
	})
	replicas := func(app string) int64 {
		u, err := dyn.Resource(fdGVR).Namespace(ns).Get(context.Background(), app, metav1.GetOptions{})
		if err != nil {
			return -1
		}
		n, _, _ := unstructured.NestedInt64(u.Object, "spec", "taskManager", "replicas")
		return n
	}
	hook := func() int {
		body := `{"ref":"refs/heads/main"}`
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hooks/github", strings.NewReader(body))
		req.Header.Set("X-Hub-Signature-256", "sha256="+hmacHex("s3cret", body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	b.ResetTimer()
	var latency time.Duration
	for i := 0; i < b.N; i++ {
		app := testrepo.AppName(i)
		g.commit(testrepo.AppFile(i), "taskManagers: 1", "taskManagers: 2")
		start := time.Now()
		if code := hook(); code != http.StatusAccepted {
			b.Fatalf("webhook: %d", code)
		}
		eventually(b, 30*time.Second, "the push applied", func() bool { return replicas(app) == 2 })
		latency += time.Since(start)
	}
	b.StopTimer()
	b.ReportMetric(latency.Seconds()/float64(b.N), "push-to-applied-s")

	// Idle: no commits for 31 s (6 polls, 2 drift passes over 1,000 apps).
	fetches := metricValue(d.registry, "flinksync_git_requests_total", map[string]string{"type": "fetch"})
	polls := metricValue(d.registry, "flinksync_git_requests_total", map[string]string{"type": "ls-remote"})
	c0, w0 := cpuTime(), time.Now()
	time.Sleep(31 * time.Second)
	cpu, wall := cpuTime()-c0, time.Since(w0)
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "idle-cpu-%")
	b.ReportMetric(procStatus("VmRSS"), "idle-RSS-MB")
	b.ReportMetric(metricValue(d.registry, "flinksync_git_requests_total", map[string]string{"type": "fetch"})-fetches, "idle-fetches")
	b.ReportMetric(metricValue(d.registry, "flinksync_git_requests_total", map[string]string{"type": "ls-remote"})-polls, "idle-head-checks")
}
