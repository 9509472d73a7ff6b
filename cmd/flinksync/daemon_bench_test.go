package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flinksync/flinksync/internal/testrepo"
)

// BenchmarkDaemonProcess10000Apps runs `flinksync run`, the binary, as its
// own process against the local control plane, following a Git repository
// of 10,000 apps in one environment, and measures the process itself
// (issue 18's targets: ≤ 300 MiB resident, ≤ 2% of a core idle; the
// in-process BenchmarkDaemon10000Apps counts the benchmark's own memory
// and code too). After the first apply and one drift pass, an idle
// window of 61 s (head checks every 5 s, drift passes every 30 s):
//   - idle-RSS-MB: VmRSS at its end, of which idle-anon-MB is the heap's
//     and the runtime's (RssAnon) and idle-file-MB the binary's code and
//     data read from its file (RssFile); heap-inuse-MB: the Go heap's pages
//     in use (go_memstats_heap_inuse_bytes);
//   - window-peak-RSS-MB: the most resident during the window (its drift
//     passes), peak-RSS-MB: before it, since the start (the cold apply of
//     10,000 objects);
//   - idle-cpu-%: the process's CPU over the window, in % of one core;
//     idle-cpu-%-default-drift: the same at the default 5 min drift
//     interval (the window's CPU less its drift passes', plus one pass per
//     5 min);
//   - noop-sync-s: the sync part of the window's drift passes
//     (flinksync_reconcile_duration_seconds), all no-ops;
//   - first-apply-s: from start to the first revision applied.
func BenchmarkDaemonProcess10000Apps(b *testing.B) { daemonProcess(b, 10000) }

func daemonProcess(b *testing.B, n int) {
	kc, repo, bin := benchSetup(b, "bench-run", testrepo.Options{Apps: n, TaskManagers: 1})
	head, err := exec.Command("git", "-C", repo, "rev-parse", "HEAD").Output()
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	const drift = 30 * time.Second
	cmd := exec.Command(bin, "run", "--repo-url", "file://"+repo, "--branch", "main", "--kubeconfig", kc,
		"--listen", addr, "--interval", "5s", "--drift-interval", drift.String(), "--cache-dir", b.TempDir())
	logs, err := os.Create(filepath.Join(b.TempDir(), "daemon.log"))
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logs, logs
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	applied := func() bool {
		resp, err := http.Get("http://" + addr + "/api/v1/status")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st struct {
			Environments []struct {
				AppliedRevision string `json:"appliedRevision"`
			} `json:"environments"`
		}
		return json.NewDecoder(resp.Body).Decode(&st) == nil && len(st.Environments) == 1 && st.Environments[0].AppliedRevision == strings.TrimSpace(string(head))
	}
	for !applied() {
		if time.Since(start) > 15*time.Minute {
			data, _ := os.ReadFile(logs.Name())
			b.Fatalf("the daemon did not apply %d apps in 15 min; its log ends:\n%s", n, tail(string(data), 3000))
		}
		time.Sleep(time.Second)
	}
	firstApply := time.Since(start)
	time.Sleep(drift + 5*time.Second) // one drift pass after the apply: steady

	peak := procField(b, cmd.Process.Pid, "VmHWM")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// The most resident from here on: Linux resets VmHWM to VmRSS.
		hwm := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", cmd.Process.Pid), []byte("5"), 0) == nil
		sum0, n0 := promHistogram(b, addr, "flinksync_reconcile_duration_seconds")
		c0, w0 := procCPU(b, cmd.Process.Pid), time.Now()
		time.Sleep(61 * time.Second)
		cpu, wall := procCPU(b, cmd.Process.Pid)-c0, time.Since(w0)
		sum1, n1 := promHistogram(b, addr, "flinksync_reconcile_duration_seconds")
		b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "idle-cpu-%")
		if passes := float64(n1 - n0); passes > 0 {
			pass := (sum1 - sum0) / passes
			b.ReportMetric(pass, "noop-sync-s")
			// The pass's CPU is at most its duration on 2 cores; the head
			// checks' share is what is left of the window's.
			heads := max(0, cpu.Seconds()-passes*pass) / wall.Seconds()
			b.ReportMetric(100*(heads+pass/(5*time.Minute).Seconds()), "idle-cpu-%-default-drift")
		}
		b.ReportMetric(procField(b, cmd.Process.Pid, "VmRSS"), "idle-RSS-MB")
		b.ReportMetric(procField(b, cmd.Process.Pid, "RssAnon"), "idle-anon-MB")
		b.ReportMetric(procField(b, cmd.Process.Pid, "RssFile"), "idle-file-MB")
		if hwm {
			b.ReportMetric(procField(b, cmd.Process.Pid, "VmHWM"), "window-peak-RSS-MB")
		}
		b.ReportMetric(scrape(b, addr)["go_memstats_heap_inuse_bytes"]/(1<<20), "heap-inuse-MB")
	}
	b.ReportMetric(firstApply.Seconds(), "first-apply-s")
	b.ReportMetric(peak, "peak-RSS-MB") // after ResetTimer, which drops what was reported before
}

// procCPU is a process's user and system CPU time (/proc/<pid>/stat).
func procCPU(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command's closing parenthesis: utime and stime are
	// the 12th and 13th, in clock ticks (100 a second on Linux).
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// procField is a /proc/<pid>/status field in kB, in MiB.
func procField(b *testing.B, pid int, field string) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// promHistogram is the sum and count of a histogram on the daemon's
// /metrics, over all its series.
func promHistogram(b *testing.B, addr, name string) (sum float64, count uint64) {
	m := scrape(b, addr)
	return m[name+"_sum"], uint64(m[name+"_count"])
}

// scrape is the daemon's /metrics, each metric's samples summed over its
// series, by name.
func scrape(b *testing.B, addr string) map[string]float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) != 2 || strings.HasPrefix(line, "#") {
			continue
		}
		metric := fields[0]
		if i := strings.IndexByte(metric, '{'); i >= 0 {
			metric = metric[:i]
		}
		v, _ := strconv.ParseFloat(fields[1], 64)
		out[metric] += v
	}
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
