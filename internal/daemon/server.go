package daemon

import (
	"log/slog"
	"net/http"
	"time"
)

// Defaults of HTTPLimits.
const (
	// DefaultReadHeaderTimeout: a webhook's or a scrape's headers fit in
	// one packet.
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultReadTimeout bounds a whole request, a 1 MiB webhook body
	// included (35 KB/s at the least).
	DefaultReadTimeout = 30 * time.Second
	// DefaultWriteTimeout: /metrics and the status API of the 1,000-app
	// benchmark are written in well under a second.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultIdleTimeout is longer than Prometheus' usual 30 s or 60 s
	// scrape interval, so scrapes keep their connection.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultMaxHeaderBytes: GitHub's and GitLab's webhook headers are a
	// few KB (net/http's own default is 1 MiB).
	DefaultMaxHeaderBytes = 64 << 10
	// DefaultMaxConcurrentWebhooks: a webhook is handled in milliseconds
	// and bursts coalesce into one pass, so a few at once is plenty.
	DefaultMaxConcurrentWebhooks = 8
)

// HTTPLimits bound the HTTP server against slow and greedy clients.
type HTTPLimits struct {
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	// MaxConcurrentWebhooks is how many webhook requests are handled at
	// once; more are refused at once with 503 (the next poll picks the
	// change up anyway).
	MaxConcurrentWebhooks int
}

func (l HTTPLimits) withDefaults() HTTPLimits {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&l.ReadTimeout, DefaultReadTimeout)
	def(&l.WriteTimeout, DefaultWriteTimeout)
	def(&l.IdleTimeout, DefaultIdleTimeout)
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxConcurrentWebhooks <= 0 {
		l.MaxConcurrentWebhooks = DefaultMaxConcurrentWebhooks
	}
	return l
}

// Server is the HTTP server of Handler, with the limits of Config.HTTP.
func (d *Daemon) Server() *http.Server {
	l := d.cfg.HTTP.withDefaults()
	srv := &http.Server{
		Handler:           d.Handler(),
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
	}
	if d.log != nil {
		srv.ErrorLog = slog.NewLogLogger(d.log.Handler(), slog.LevelWarn)
	}
	return srv
}

// limiter lets a bounded number of requests in at once.
type limiter chan struct{}

// wrap refuses a request with 503 at once when the limiter is full.
func (l limiter) wrap(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case l <- struct{}{}:
			defer func() { <-l }()
			h(w, r)
		default:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "too many webhook requests at once; retry later (the next poll picks the change up anyway)\n", http.StatusServiceUnavailable)
		}
	}
}
