package sizing

import (
	"math"
	"testing"
)

// The flink-estimator's model as its code has it (jbcodeforce/flink-estimator,
// src/flink_estimator/estimation.py and models.py at b5fe96d, April 2026),
// for one application on the default bare-metal node (16,384 MB, 8 cores).
const (
	estSimpleRPS    = 24_000 // SIMPLE_RPS, records per second per core, per statement
	estMediumRPS    = 11_000 // MEDIUM_RPS
	estComplexRPS   = 2_500  // COMPLEX_RPS
	estTMCores      = 4      // TM_vCPUs: each statement's cores are capped at it
	estTMMemMB      = 4096   // TM_MEM_MB
	estTMMaxMB      = 65536  // TM_PROCESS_MEMORY_MAX_MB
	estNodeMemMB    = 16384  // VM_TSHIRT_MB_CPU["S"], the default node
	estNodeCores    = 8
	estOSMemMB      = 512 // OS_MEM_MB
	estInFlight     = 0.4 // IN_FLIGHT_TO_BUFFER
	estThroughputMB = 1.4 // THROUGHPUT_BUFFER_K
)

// estResult is what the estimator reports: total CPUs (TaskManagers and the
// JobManager), TaskManagers, their process memory and the worker nodes.
type estResult struct {
	cpus, tms, tmMemMB, nodes int
}

// byLatency picks one of four values by the estimator's latency classes:
// ≤ 0.5 s, ≤ 1 s, < 5 s, and the rest.
func byLatency(lat float64, tight, low, moderate, relaxed float64) float64 {
	switch {
	case lat <= 0.5:
		return tight
	case lat <= 1:
		return low
	case lat < 5:
		return moderate
	}
	return relaxed
}

// estimator runs the estimator's calculate_flink_estimation for one
// application with the given statements (latency in seconds).
func estimator(rps, bytes, keys float64, simple, medium, complex int, lat float64) estResult {
	keys = max(1, keys) // num_distinct_keys is at least 1
	mb := 1024.0 * 1024
	thr := rps * bytes / mb
	jmCPU, jmMem := 1, 2048
	switch {
	case keys > 100_000_000:
		jmCPU, jmMem = 4, 8192
	case keys > 10_000_000:
		jmCPU, jmMem = 2, 4096
	}
	nodes := 1
	// place grows the node count until n TaskManagers of mem MB pack onto
	// the nodes, each on the node with the most room; it returns the nodes
	// that got one.
	place := func(n, mem int) int {
		for {
			free := make([]int, nodes)
			total := 0
			for i := range free {
				free[i] = estNodeMemMB - estOSMemMB
				total += free[i]
			}
			free[0] -= jmMem
			total -= jmMem
			if total < n*mem {
				nodes++
				continue
			}
			alloc := make([]int, nodes)
			placed := 0
			for ; placed < n; placed++ {
				best := -1
				for i, r := range free {
					if r >= mem && (best < 0 || r > free[best]) {
						best = i
					}
				}
				if best < 0 {
					break
				}
				free[best] -= mem
				alloc[best]++
			}
			if placed < n {
				nodes++
				continue
			}
			used := 0
			for _, a := range alloc {
				if a > 0 {
					used++
				}
			}
			return used
		}
	}
	// State: keys × stateful statements × record size of managed memory, a
	// share of the TaskManager's process memory that shrinks with latency.
	raw := math.Ceil(keys*float64(medium+complex)*bytes/mb) / byLatency(lat, 0.32, 0.35, 0.38, 0.4)
	stateMem := max(estTMMemMB, raw)
	nState := max(1, int(math.Ceil(stateMem/estTMMemMB)))
	place(nState, estTMMemMB)
	// CPU: each statement's cores, capped at a TaskManager's, × latency, + the JobManager.
	stmt := func(rate float64, n int) float64 { return min(estTMCores, thr/(rate*bytes/mb)) * float64(n) }
	cpu := int(math.Ceil((stmt(estSimpleRPS, simple)+stmt(estMediumRPS, medium)+stmt(estComplexRPS, complex))*
		byLatency(lat, 1.5, 1.2, 1.1, 1) + float64(jmCPU)))
	workers := nodes
	for workers*estNodeCores < cpu {
		workers++
	}
	nCPU := int(math.Ceil(float64(cpu-jmCPU) / estTMCores))
	// The process memory per TaskManager and the count, which depend on each other.
	statements := max(1, simple+medium+complex)
	buffers := func(n int) int {
		perTM := thr / float64(n)
		inFlight := thr * min(max(lat, 0.01), 30) / float64(n)
		rec := max(100, bytes) / 1024
		through := perTM * estThroughputMB * (1 + 0.02*min(rec, 64)) * byLatency(lat, 2, 1.5, 1.15, 1)
		return max(0, int(math.Ceil(through+estInFlight*inFlight+256*(1+0.01*float64(statements)))))
	}
	limit := min(estTMMaxMB, max(estNodeMemMB-estOSMemMB, estTMMemMB))
	perTMState := int(math.Ceil(stateMem / float64(nState)))
	p, n := estTMMemMB, max(nState, nCPU)
	for range 12 {
		pNew := min(max(estTMMemMB, perTMState, buffers(n)), limit)
		nNew := max(max(1, int(math.Ceil(stateMem/float64(pNew)))), nCPU)
		if pNew == p && nNew == n {
			break
		}
		p, n = pNew, nNew
	}
	used := place(n, p)
	return estResult{cpus: max(cpu, n*estTMCores), tms: n, tmMemMB: p, nodes: min(used, workers)}
}

// The estimator's outputs for these inputs, from running its code
// (calculate_flink_estimation at b5fe96d, defaults otherwise).
func TestEstimatorMatchesItsCode(t *testing.T) {
	for _, tc := range []struct {
		rps, bytes, keys float64
		s, m, c          int
		lat              float64
		want             estResult
	}{
		{10_000, 512, 0, 1, 0, 0, 10, estResult{4, 1, 4096, 1}},
		{200_000, 512, 0, 0, 1, 0, 10, estResult{5, 1, 4096, 1}},
		{50_000, 1024, 2_000_000, 0, 1, 0, 1, estResult{8, 2, 4096, 1}},
		{30_000, 2048, 50_000_000, 0, 0, 1, 0.4, estResult{300, 75, 4096, 26}},
		{2_000, 1024, 10_000_000, 0, 1, 0, 10, estResult{24, 6, 4096, 2}},
		{150_000, 2000, 50_000_000, 1, 2, 3, 60, estResult{1168, 292, 4096, 98}},
		{10_000, 512, 1, 1, 0, 0, 0.3, estResult{4, 1, 4096, 1}},
		{1_000_000, 300, 200_000_000, 2, 1, 1, 0.2, estResult{352, 88, 4096, 30}},
		{5_000, 1024, 1_000_000, 0, 1, 0, 0.3, estResult{4, 1, 4096, 1}},
		{80_000, 4096, 30_000_000, 0, 2, 1, 3, estResult{904, 226, 4096, 76}},
	} {
		if got := estimator(tc.rps, tc.bytes, tc.keys, tc.s, tc.m, tc.c, tc.lat); got != tc.want {
			t.Errorf("%v rec/s, %v B, %v keys, %d/%d/%d statements, %v s: %+v, want %+v", tc.rps, tc.bytes, tc.keys, tc.s, tc.m, tc.c, tc.lat, got, tc.want)
		}
	}
}
