package sync

import (
	"context"
	gosync "sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinksync/flinksync/internal/testenv"
)

// Requests that wait for the client-side rate limit are told to
// OnThrottle's function, so a throttled pass is never silently slow.
func TestThrottledRequestsAreReported(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.QPS, cfg.Burst = 5, 1
	var mu gosync.Mutex
	var waits []time.Duration
	OnThrottle(func(_ string, d time.Duration) { mu.Lock(); waits = append(waits, d); mu.Unlock() })
	defer OnThrottle(nil)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if _, err := s.dyn.Resource(namespaceGVR).Get(context.Background(), "default", metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(waits) < 2 {
		t.Fatalf("4 requests at 5 QPS with a burst of 1: want at least 2 reported waits, got %v", waits)
	}
	for _, w := range waits {
		if w < ThrottleLogAfter {
			t.Errorf("a wait of %v was reported, under %v", w, ThrottleLogAfter)
		}
	}
}
