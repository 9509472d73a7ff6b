package sync

import (
	"context"
	"sync/atomic"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// ThrottleLogAfter is how long a request must wait for the client-side
// rate limiter before the wait is reported (Throttled).
const ThrottleLogAfter = 50 * time.Millisecond

// throttled is told of every request that waited for the client-side
// rate limiter (QPS and burst) longer than ThrottleLogAfter (OnThrottle).
var throttled atomic.Pointer[func(host string, wait time.Duration)]

// OnThrottle sets what is told of a request that waited for the
// client-side rate limiter longer than ThrottleLogAfter: the daemon counts
// it (flinksync_client_throttled_seconds_total) and logs it, the CLI warns,
// so that a pass slowed by the client's own limit never stalls silently.
// The last caller wins, for every Syncer of the process.
func OnThrottle(f func(host string, wait time.Duration)) { throttled.Store(&f) }

// observedLimiter is a token bucket that reports long waits.
type observedLimiter struct {
	flowcontrol.RateLimiter
	host string
}

func (l observedLimiter) Wait(ctx context.Context) error {
	t0 := time.Now()
	err := l.RateLimiter.Wait(ctx)
	if w := time.Since(t0); w > ThrottleLogAfter {
		if f := throttled.Load(); f != nil && *f != nil {
			(*f)(l.host, w)
		}
	}
	return err
}

// withLimiter gives cfg (a copy the caller owns) an observed token bucket
// of its QPS and burst, unless it has a limiter of its own or no limit
// (QPS < 0).
func withLimiter(cfg *rest.Config) {
	if cfg.RateLimiter != nil || cfg.QPS < 0 {
		return
	}
	cfg.RateLimiter = observedLimiter{RateLimiter: flowcontrol.NewTokenBucketRateLimiter(cfg.QPS, cfg.Burst), host: cfg.Host}
}
