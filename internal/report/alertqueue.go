package report

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	gosync "sync"
	"time"
)

// Defaults of an AlertQueue.
const (
	// DefaultAlertQueueSize is how many notifications wait per target: a
	// pass raises at most four alerts per environment, so this holds a
	// burst across dozens of environments while a receiver is down.
	DefaultAlertQueueSize = 256
	// DefaultAlertAttempts tries a notification for about six minutes with
	// DefaultAlertBackoffBase and DefaultAlertBackoffMax (1+2+4+…+128 s,
	// then 2 min), long enough for a receiver's rolling restart.
	DefaultAlertAttempts = 10
	// DefaultAlertTimeout bounds one delivery attempt, as the synchronous
	// sender's client did before the queue.
	DefaultAlertTimeout     = 10 * time.Second
	DefaultAlertBackoffBase = time.Second
	DefaultAlertBackoffMax  = 2 * time.Minute
	// drainPoll is how often Drain looks whether the queue emptied.
	drainPoll = 20 * time.Millisecond
)

// Reasons an alert notification was dropped, the values of the reason
// label of flinksync_alerts_dropped_total.
const (
	DropAttempts  = "attempts"   // every attempt failed
	DropRejected  = "rejected"   // the receiver refused it for good (a 4xx other than 408, 425, 429)
	DropQueueFull = "queue_full" // the oldest waiting notification, pushed out by a new one
	DropEncode    = "encode"     // it could not be written in the target's format
	DropShutdown  = "shutdown"   // the daemon stopped before it was delivered
)

// QueueOptions bound an AlertQueue; zero values take the defaults above.
type QueueOptions struct {
	// Size is how many notifications may wait per target.
	Size int
	// Attempts is how many times one notification is tried.
	Attempts int
	// Timeout bounds one attempt.
	Timeout time.Duration
	// The wait after the n-th failed attempt is BackoffBase·2^(n-1), at
	// most BackoffMax, of which a random part up to a half is taken off
	// (so receivers that come back are not hit by every sender at once);
	// a longer Retry-After from the receiver is honoured up to BackoffMax.
	BackoffBase, BackoffMax time.Duration
}

func (o QueueOptions) withDefaults() QueueOptions {
	if o.Size <= 0 {
		o.Size = DefaultAlertQueueSize
	}
	if o.Attempts <= 0 {
		o.Attempts = DefaultAlertAttempts
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultAlertTimeout
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = DefaultAlertBackoffBase
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultAlertBackoffMax
	}
	return o
}

// AlertQueue delivers alert notifications in the background, so a sync
// pass never waits on a receiver. Each target has its own bounded queue,
// delivered in order by one worker: a receiver that hangs or fails holds
// back only its own notifications, and a resolved notice never overtakes
// its firing one. A failed attempt is retried with exponential back-off and
// jitter, up to QueueOptions.Attempts; a full queue drops its oldest
// notification. Every failure is logged and counted in the metrics.
type AlertQueue struct {
	opts    QueueOptions
	client  *http.Client
	log     *slog.Logger
	metrics *Metrics
	lanes   []*lane
}

// lane is one target's queue.
type lane struct {
	target AlertTarget
	name   string // the URL's host, for logs and metrics
	wake   chan struct{}

	mu      gosync.Mutex
	waiting []notification
	busy    bool // a notification is being delivered
}

// notification is one alert written for one target.
type notification struct {
	alert Alert
	body  []byte
}

// NewAlertQueue prepares a queue per target; Run delivers them. metrics
// and log may be nil.
func NewAlertQueue(targets []AlertTarget, opts QueueOptions, metrics *Metrics, log *slog.Logger) *AlertQueue {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	q := &AlertQueue{opts: opts.withDefaults(), client: &http.Client{}, log: log, metrics: metrics}
	for _, t := range targets {
		q.lanes = append(q.lanes, &lane{target: t, name: TargetName(t.URL), wake: make(chan struct{}, 1)})
	}
	return q
}

// TargetName is how logs and metrics name an alert webhook: its host,
// never its path or query (a Slack webhook's path is its credential) nor
// its user information.
func TargetName(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "invalid-url"
	}
	return u.Host
}

// Enqueue queues al for every target and returns at once.
func (q *AlertQueue) Enqueue(al Alert) {
	for _, l := range q.lanes {
		if al.Refresh && l.target.Format != FormatAlertmanager {
			continue
		}
		body, err := Encode(l.target.Format, al)
		if err != nil {
			q.dropped(l, al, DropEncode, err)
			continue
		}
		l.mu.Lock()
		pushed, full := l.add(notification{alert: al, body: body}, q.opts.Size)
		l.mu.Unlock()
		if full {
			q.dropped(l, pushed.alert, DropQueueFull, fmt.Errorf("more than %d notifications wait for %s", q.opts.Size, l.name))
		}
		q.queued(l)
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// add queues n, pushing out the oldest notification when size wait
// already. A re-send of an alert still firing (Refresh) takes the place of
// a firing notification of the same alert that still waits: a receiver
// that is down for long gets the latest state once, and re-sends never
// push out other alerts.
func (l *lane) add(n notification, size int) (pushed notification, full bool) {
	if n.alert.Refresh {
		for i, w := range l.waiting {
			if w.alert.key() == n.alert.key() && w.alert.Status == n.alert.Status {
				l.waiting[i] = n
				return notification{}, false
			}
		}
	}
	if len(l.waiting) >= size {
		pushed, full = l.waiting[0], true
		l.waiting = l.waiting[1:]
	}
	l.waiting = append(l.waiting, n)
	return pushed, full
}

// Run delivers until ctx is cancelled; what is still waiting then is
// dropped, logged and counted. Call Drain before cancelling to give the
// last notifications a chance.
func (q *AlertQueue) Run(ctx context.Context) {
	var wg gosync.WaitGroup
	for _, l := range q.lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q.work(ctx, l)
		}()
	}
	wg.Wait()
	for _, l := range q.lanes {
		l.mu.Lock()
		rest := l.waiting
		l.waiting = nil
		l.mu.Unlock()
		for _, n := range rest {
			q.dropped(l, n.alert, DropShutdown, ctx.Err())
		}
		q.queued(l)
	}
}

// Drain waits until nothing waits or is being delivered, or ctx is done.
func (q *AlertQueue) Drain(ctx context.Context) {
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	for q.Len() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Len is the number of notifications waiting or being delivered.
func (q *AlertQueue) Len() int {
	n := 0
	for _, l := range q.lanes {
		n += l.len()
	}
	return n
}

func (l *lane) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.busy {
		return len(l.waiting) + 1
	}
	return len(l.waiting)
}

// work delivers one target's notifications in order.
func (q *AlertQueue) work(ctx context.Context, l *lane) {
	for {
		l.mu.Lock()
		if len(l.waiting) == 0 {
			l.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-l.wake:
				continue
			}
		}
		n := l.waiting[0]
		l.waiting = l.waiting[1:]
		l.busy = true
		l.mu.Unlock()
		q.queued(l)
		q.deliver(ctx, l, n)
		l.mu.Lock()
		l.busy = false
		l.mu.Unlock()
		q.queued(l)
		if ctx.Err() != nil {
			return
		}
	}
}

// deliver tries one notification until it is accepted, refused for good,
// out of attempts, or the queue stops.
func (q *AlertQueue) deliver(ctx context.Context, l *lane, n notification) {
	for attempt := 1; ; attempt++ {
		err := q.post(ctx, l.target.URL, n.body)
		if err == nil {
			if q.metrics != nil {
				q.metrics.alertsSent.WithLabelValues(l.name, n.alert.Kind).Inc()
			}
			if attempt > 1 {
				q.log.Info("alert delivered after retries", "target", l.name, "alert", n.alert.Kind, "environment", n.alert.Environment, "attempts", attempt)
			}
			return
		}
		if ctx.Err() != nil {
			q.dropped(l, n.alert, DropShutdown, err)
			return
		}
		var de *deliveryError
		errors.As(err, &de)
		if q.metrics != nil {
			q.metrics.alertFailures.WithLabelValues(l.name, failureReason(err)).Inc()
		}
		if de != nil && !de.retryable() {
			q.dropped(l, n.alert, DropRejected, err)
			return
		}
		if attempt >= q.opts.Attempts {
			q.dropped(l, n.alert, DropAttempts, fmt.Errorf("%d attempts failed, the last: %w", attempt, err))
			return
		}
		wait := q.backoff(attempt)
		if de != nil && de.retryAfter > wait {
			wait = min(de.retryAfter, q.opts.BackoffMax)
		}
		q.log.Warn("alert delivery failed, will retry", "target", l.name, "alert", n.alert.Kind, "status", n.alert.Status,
			"environment", n.alert.Environment, "attempt", attempt, "retryIn", wait.Round(time.Millisecond).String(), "error", err.Error())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			q.dropped(l, n.alert, DropShutdown, err)
			return
		case <-t.C:
		}
	}
}

// backoff is the wait after the n-th failed attempt, with jitter.
func (q *AlertQueue) backoff(n int) time.Duration {
	d := q.opts.BackoffBase
	for i := 1; i < n && d < q.opts.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, q.opts.BackoffMax)
	return d - time.Duration(rand.Int64N(int64(d)/2+1))
}

func (q *AlertQueue) post(ctx context.Context, target string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, q.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := q.client.Do(req)
	if err != nil {
		return err
	}
	// Read a little of the body so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	de := &deliveryError{status: resp.StatusCode}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		de.retryAfter = time.Duration(s) * time.Second
	}
	return de
}

func (q *AlertQueue) dropped(l *lane, al Alert, reason string, err error) {
	if q.metrics != nil {
		q.metrics.alertsDropped.WithLabelValues(l.name, reason).Inc()
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	q.log.Error("alert dropped", "target", l.name, "alert", al.Kind, "status", al.Status, "environment", al.Environment,
		"app", al.App, "reason", reason, "error", msg)
}

// queued publishes the length of a target's queue.
func (q *AlertQueue) queued(l *lane) {
	if q.metrics != nil {
		q.metrics.alertQueue.WithLabelValues(l.name).Set(float64(l.len()))
	}
}

// deliveryError is a receiver's answer other than 2xx.
type deliveryError struct {
	status     int
	retryAfter time.Duration
}

func (e *deliveryError) Error() string {
	return fmt.Sprintf("the receiver answered %d %s", e.status, http.StatusText(e.status))
}

// retryable: server errors, and the client errors that mean "later".
func (e *deliveryError) retryable() bool {
	switch e.status {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return true
	}
	return e.status >= 500
}

// failureReason is the reason label of a failed attempt.
func failureReason(err error) string {
	var de *deliveryError
	var ne net.Error
	switch {
	case errors.As(err, &de) && de.status >= 500:
		return "http_5xx"
	case de != nil:
		return "http_4xx"
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return "timeout"
	}
	return "network"
}
