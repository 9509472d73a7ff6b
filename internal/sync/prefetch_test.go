package sync

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/pipeline"
)

// waitPrefetched waits until every LIST Prefetch started on s has its
// answer.
func waitPrefetched(t *testing.T, s *Syncer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.prefetch.mu.Lock()
		n, done := len(s.prefetch.m), true
		for _, p := range s.prefetch.m {
			select {
			case <-p.done:
			default:
				done = false
			}
		}
		s.prefetch.mu.Unlock()
		if n > 0 && done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prefetch started %d LISTs, not all answered in 10 s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPrefetchedListsAreTakenOnceAndFresh: after Prefetch, a pass sends
// no LIST of its own for the kinds the inventory holds and finds what a
// pass that LISTs finds; a second pass LISTs again (an answer is taken
// once), and an answer older than 30 s is not taken.
func TestPrefetchedListsAreTakenOnceAndFresh(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	mustOK(t, f.pass(ctx, Options{})) // applies: the inventories hold every kind

	var reads fdReads
	s, err := New(reads.wrap(f.cfg))
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Now()
	s.Now = func() time.Time { return clock }
	f.syncer = s
	res, err := pipeline.Run(os.DirFS(f.dir), pipeline.Options{Revision: "rev1", Now: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	dev := res.Repo.Environment("dev")
	prefetchAndWait := func() {
		t.Helper()
		s.Prefetch(ctx, dev)
		waitPrefetched(t, s)
		reads.lists.Store(0)
	}

	prefetchAndWait()
	r := s.Sync(ctx, dev, res.Rendered["dev"], Options{Guard: res.Guard("dev")})
	mustOK(t, map[string]*Result{"dev": r})
	if n := len(r.Changes) - r.Count(Unchanged); n != 0 || len(r.Drift) != 0 {
		t.Errorf("a pass on prefetched LISTs finds what was applied unchanged: %s %+v", r.Summary(), r.Drift)
	}
	if l := reads.lists.Load(); l != 0 {
		t.Errorf("a pass after Prefetch sent %d LISTs of FlinkDeployments, want none", l)
	}

	s.Sync(ctx, dev, res.Rendered["dev"], Options{Guard: res.Guard("dev")})
	if l := reads.lists.Load(); l != 1 {
		t.Errorf("the pass after that sent %d LISTs of FlinkDeployments, want 1 (a prefetched answer is taken once)", l)
	}

	prefetchAndWait()
	clock = clock.Add(prefetchFresh + time.Second)
	s.Sync(ctx, dev, res.Rendered["dev"], Options{Guard: res.Guard("dev")})
	if l := reads.lists.Load(); l != 1 {
		t.Errorf("a pass 31 s after Prefetch sent %d LISTs of FlinkDeployments, want 1 (the answer is stale)", l)
	}

	if cmf := res.Repo.Environment("prod-cmf"); cmf != nil && cmf.Spec.Target == model.TargetCMF {
		s.Prefetch(ctx, cmf)
		time.Sleep(100 * time.Millisecond)
		s.prefetch.mu.Lock()
		n := len(s.prefetch.m)
		s.prefetch.mu.Unlock()
		if n != 0 {
			t.Errorf("Prefetch of a cmf environment started %d LISTs", n)
		}
	}
}
