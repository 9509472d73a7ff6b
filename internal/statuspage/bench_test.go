package statuspage

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sort"
	gosync "sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkServe50Clients serves the page to 50 concurrent clients over
// 1,000 apps: each client asks, in turn, for the overview (4 environments
// of 1,000 apps each), two environments' pages (1,000 app rows each) and
// the events, through the whole handler, as fast as it can (every tab
// reloading at the same instant, again and again). It reports the 99th percentile of a
// request's time (p99-ms), the process CPU time per request (cpu-ms/req),
// and what 50 open tabs refreshing every DefaultRefresh cost the daemon
// (cpu-%-50-tabs: percent of one core).
//
//	go test ./internal/statuspage -run '^$' -bench Serve50Clients -benchtime 2000x
func BenchmarkServe50Clients(b *testing.B) {
	// cached: as served (DefaultCacheFor), 50 clients; uncached: 50
	// clients and every request renders, so a request's time is mostly
	// its wait behind the 49 others for the CPU; render: one client, every
	// request renders (a render's own time).
	for _, tc := range []struct {
		name    string
		cache   time.Duration
		clients int
	}{{"cached", 0, 50}, {"uncached", -1, 50}, {"render", -1, 1}} {
		b.Run(tc.name, func(b *testing.B) { serve(b, tc.cache, tc.clients) })
	}
}

func serve(b *testing.B, cache time.Duration, clients int) {
	v := sampleView(1000)
	h := newPage(b, Options{CacheFor: cache}).Handler(func() View { return v })
	paths := []string{"/", "/environments/prod", "/environments/staging", "/events"}
	var mu gosync.Mutex
	var times []time.Duration
	if clients > 1 {
		b.SetParallelism(max(1, clients/maxProcs()))
	} else {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	}
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		i := 0
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, paths[i%len(paths)], nil)
			rec := &discard{header: http.Header{}}
			start := time.Now()
			h.ServeHTTP(rec, req)
			mine = append(mine, time.Since(start))
			if rec.code != 0 && rec.code != http.StatusOK {
				b.Errorf("%s: %d", req.URL.Path, rec.code)
			}
			i++
		}
		mu.Lock()
		times = append(times, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	cpu := cpuTime() - cpu0
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	if len(times) == 0 {
		return
	}
	p99 := times[min(len(times)-1, len(times)*99/100)]
	perReq := cpu / time.Duration(len(times))
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(perReq.Microseconds())/1000, "cpu-ms/req")
	if cache < 0 {
		// 50 tabs, each reloading one page every DefaultRefresh, none
		// sharing a render: what 50 people add to the daemon's CPU.
		perSecond := 50 / DefaultRefresh.Seconds()
		b.ReportMetric(100*perSecond*perReq.Seconds(), "cpu-%-50-tabs")
	}
}

// BenchmarkRenderEnvironment1000 renders one environment page of 1,000
// apps, without HTTP.
func BenchmarkRenderEnvironment1000(b *testing.B) {
	v := sampleView(1000)
	p := newPage(b, Options{})
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Environment(io.Discard, &v, "prod"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderOverview renders the overview of 4 environments of
// 1,000 apps each, without HTTP.
func BenchmarkRenderOverview(b *testing.B) {
	v := sampleView(1000)
	p := newPage(b, Options{})
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Overview(io.Discard, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// discard is a ResponseWriter that keeps only the status.
type discard struct {
	header http.Header
	code   int
}

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(code int)        { d.code = code }

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func maxProcs() int { return runtime.GOMAXPROCS(0) }
