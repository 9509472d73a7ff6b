package sync

import (
	"context"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// ThrottleLogAfter is how long a request must wait for the client-side
// rate limiter before the wait is reported (Throttled).
const ThrottleLogAfter = 50 * time.Millisecond

// Throttled, when set, is told of every request that waited for the
// client-side rate limiter (QPS and burst) longer than ThrottleLogAfter:
// the daemon counts it in flinksync_client_throttled_seconds and logs it,
// so a pass slowed by the client's own limit never stalls silently. It is
// set once at start, before any Syncer is made.
var Throttled func(host string, wait time.Duration)

// observedLimiter is a token bucket that reports long waits.
type observedLimiter struct {
	flowcontrol.RateLimiter
	host string
}

func (l observedLimiter) Wait(ctx context.Context) error {
	t0 := time.Now()
	err := l.RateLimiter.Wait(ctx)
	if w := time.Since(t0); w > ThrottleLogAfter && Throttled != nil {
		Throttled(l.host, w)
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
