package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"runtime/debug"
	"time"

	"github.com/flinksync/flinksync/internal/pipeline"
)

// AlertDrain is how long a stopping daemon waits for its last alerts to
// be delivered.
const AlertDrain = 5 * time.Second

// Stages a pass can be cut off in, the values of the stage label of
// flinksync_pass_timeouts_total.
const (
	stageSource = "source" // the head check and the fetch
	stageRender = "render" // the pipeline: load, size, policy, render
	stageSync   = "sync"   // an environment's sync
)

// outcome is how a step of the loop ended.
type outcome int

const (
	idle outcome = iota // no pass ran: nothing was due, or Git failed
	done                // a pass (a render and sync, or a drift pass) completed within its deadline, whatever its result
	cut                 // the deadline cut a pass off, or the head could not be rendered
)

// beat records that the loop came back from a step, for /readyz, and a
// completed pass for the metrics.
func (d *Daemon) beat(o outcome) {
	now := time.Now()
	d.heartbeat.Store(now.UnixNano())
	if o == done {
		d.metrics.PassCompleted(now)
	}
}

// cutIf reports whether ctx's deadline has passed, and counts it; without
// a cut, the stage counts as done.
func (d *Daemon) cutIf(ctx context.Context, stage string) outcome {
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return done
	}
	d.metrics.PassTimedOut(stage)
	d.log.Error("pass cut off by its deadline", "stage", stage, "passTimeout", d.cfg.PassTimeout.String())
	return cut
}

// untilDeadline is ctx without its cancellation but with its deadline (a
// pass of its own when ctx has none): a stop lets the stage finish, the
// pass deadline still bounds it.
func (d *Daemon) untilDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(context.WithoutCancel(ctx), dl)
	}
	return context.WithTimeout(context.WithoutCancel(ctx), d.cfg.PassTimeout)
}

// runPipeline renders rev within the pass deadline. The pipeline reads
// memory only and takes no context, so it runs on its own goroutine; when
// the deadline passes first, it is abandoned (ok is false): it keeps its
// CPU until it returns, and the revision is not rendered again meanwhile.
func (d *Daemon) runPipeline(ctx context.Context, fsys fs.FS, rev string) (res *pipeline.Result, err error, ok bool) {
	ctx, cancel := d.untilDeadline(ctx)
	defer cancel()
	type result struct {
		res *pipeline.Result
		err error
	}
	out := make(chan result, 1)
	returned := make(chan struct{})
	started := time.Now()
	go func() {
		defer close(returned)
		defer func() {
			// One commit must not take the daemon down for every
			// environment: a panic is that revision's error.
			if p := recover(); p != nil {
				d.log.Error("the pipeline panicked", "revision", rev, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				out <- result{err: fmt.Errorf("revision %s: the pipeline panicked: %v", rev, p)}
			}
		}()
		r, err := d.cfg.pipeline(fsys, pipeline.Options{Revision: rev, Daemon: d.cfg.Policy})
		out <- result{r, err}
	}()
	select {
	case r := <-out:
		return r.res, r.err, true
	case <-ctx.Done():
	}
	d.metrics.PassTimedOut(stageRender)
	msg := fmt.Sprintf("revision %s did not render within the pass timeout (%s): abandoned; the last rendered revision stays in force until a new commit renders", rev, d.cfg.PassTimeout)
	d.log.Error("render cut off by its deadline", "revision", rev, "passTimeout", d.cfg.PassTimeout.String())
	d.mu.Lock()
	d.abandoned[rev] = returned
	d.stuck = rev
	d.sourceOK, d.srcErr = false, msg
	d.metrics.AbandonedRenders(len(d.abandoned))
	d.mu.Unlock()
	go func() {
		<-returned
		d.mu.Lock()
		delete(d.abandoned, rev)
		d.metrics.AbandonedRenders(len(d.abandoned))
		d.mu.Unlock()
		d.log.Warn("an abandoned render returned", "revision", rev, "after", time.Since(started).String())
	}()
	return nil, nil, false
}

// staleAfter is how long the leader's loop may stay away and still be
// ready: it wakes at least every second (the drift tick) and every step is
// bounded by the pass deadline, so it comes back within PassTimeout plus a
// little (releasing memory, listing orphans); twice is room to spare.
func (d *Daemon) staleAfter() time.Duration { return 2 * d.cfg.PassTimeout }

// stalled says why the leader is not ready, or "" when it is: the head
// cannot be rendered in time, every environment's last pass was cut off
// by the deadline, or the loop itself has not come back.
func (d *Daemon) stalled(now time.Time) string {
	d.mu.Lock()
	stuck := d.stuck
	envs, cut := 0, 0
	for _, st := range d.envs {
		if st.missing || st.last == nil {
			continue
		}
		envs++
		if st.cut {
			cut++
		}
	}
	d.mu.Unlock()
	switch {
	case stuck != "":
		return fmt.Sprintf("revision %s did not render within the pass timeout (%s); waiting for a new commit", stuck, d.cfg.PassTimeout)
	case envs > 0 && cut == envs:
		return fmt.Sprintf("no pass has completed: the last pass of every environment was cut off by the pass timeout (%s); is the API server answering?", d.cfg.PassTimeout)
	}
	if since := now.Sub(time.Unix(0, d.heartbeat.Load())); since > d.staleAfter() {
		return fmt.Sprintf("no pass has completed: the sync loop has not come back for %s (more than twice the pass timeout)", since.Round(time.Second))
	}
	return ""
}

// deliverAlerts runs the alert queue until the returned function is
// called, which gives the last alerts up to AlertDrain to go out. The
// queue outlives ctx: the pass in flight at a stop still raises alerts.
func (d *Daemon) deliverAlerts(ctx context.Context) (stop func()) {
	qctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stopped := make(chan struct{})
	go func() { defer close(stopped); d.alerts.Run(qctx) }()
	return func() {
		drain, done := context.WithTimeout(context.Background(), AlertDrain)
		defer done()
		d.alerts.Drain(drain)
		cancel()
		<-stopped
	}
}
