package daemon

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	gosync "sync"
	"testing"
	"time"

	"github.com/flinksync/flinksync/internal/source"
	"github.com/flinksync/flinksync/internal/statuspage"
	"github.com/flinksync/flinksync/internal/testenv"
	"github.com/flinksync/flinksync/internal/testrepo"
)

// BenchmarkStatusPage1000Apps serves the status page of a daemon that
// synced a 1,000-app repository on the control plane to 50 clients: each
// loads the overview, then the environment's page (1,000 rows), then the
// events, in a loop, over HTTP, through the daemon's own handler (its
// view of the state, then the render). It reports the p99 of a request's
// time (p99-ms) and the daemon process's CPU per request (cpu-ms/req),
// and from it what 50 open tabs reloading every 10 s add to the daemon
// (cpu-%-50-tabs, percent of one core).
//
//	KUBEBUILDER_ASSETS=$PWD/bin FLINKSYNC_REQUIRE_CONTROLPLANE=1 go test ./internal/daemon -run '^$' -bench StatusPage1000Apps -benchtime 1000x
func BenchmarkStatusPage1000Apps(b *testing.B) {
	cfg := testenv.Config(b)
	ns := fmt.Sprintf("bench-page-%d-%d", os.Getpid(), fixtureN.Add(1))
	testenv.CreateNamespace(b, cfg, ns)
	src := b.TempDir()
	testrepo.Write(b, src, testrepo.Files(testrepo.Options{Apps: 1000, TaskManagers: 1,
		EnvName: func(int) string { return "bench" }, Namespace: func(string) string { return ns }}))
	g := newGitServer(b, src, nil)
	d, err := New(Config{
		Remote:   &source.Remote{URL: g.url(), Ref: "main", CacheDir: b.TempDir()},
		Interval: time.Hour, DriftInterval: time.Hour, RestConfig: cfg, Logger: discardLogger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	srv := startDaemon(b, d)
	eventually(b, 180*time.Second, "the first apply of 1,000 apps", func() bool {
		s := d.Snapshot()
		return len(s.Environments) == 1 && s.Environments[0].AppliedRevision == g.git(g.work, "rev-parse", "HEAD")
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	paths := []string{"/", "/environments/bench", "/events"}
	const clients = 50
	var mu gosync.Mutex
	var times []time.Duration
	next := make(chan int, b.N)
	for i := range b.N {
		next <- i
	}
	close(next)
	for _, p := range paths { // warm: a page served to 50 open tabs has been rendered before
		resp, err := client.Get(srv.URL + p)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	cpu0 := cpuTime()
	b.ResetTimer()
	var wg gosync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for i := range next {
				start := time.Now()
				resp, err := client.Get(srv.URL + paths[i%len(paths)])
				if err != nil {
					b.Error(err)
					return
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mine = append(mine, time.Since(start))
				if resp.StatusCode != http.StatusOK || n < 1000 {
					b.Errorf("%s: %d, %d bytes", paths[i%len(paths)], resp.StatusCode, n)
				}
			}
			mu.Lock()
			times = append(times, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	b.StopTimer()
	cpu := cpuTime() - cpu0
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	if len(times) == 0 {
		return
	}
	perReq := cpu / time.Duration(len(times))
	b.ReportMetric(float64(times[min(len(times)-1, len(times)*99/100)].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(perReq.Microseconds())/1000, "cpu-ms/req")

	// Uncached, the worst case: 50 tabs whose reloads never share a
	// render, each one the daemon's view of its state and the render of
	// the 1,000-row page.
	page, err := statuspage.New(statuspage.Options{CacheFor: -1})
	if err != nil {
		b.Fatal(err)
	}
	const n = 50
	c0 := cpuTime()
	for range n {
		v := d.PageView()
		if err := page.Environment(io.Discard, &v, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	uncached := (cpuTime() - c0) / n
	b.ReportMetric(float64(uncached.Microseconds())/1000, "uncached-cpu-ms/req")
	b.ReportMetric(100*clients/statuspage.DefaultRefresh.Seconds()*uncached.Seconds(), "cpu-%-50-tabs")
}
