package main

import (
	"context"
	"fmt"
	"io"
	gosync "sync"
	"time"

	"github.com/flinksync/flinksync/internal/sync"
)

// waitPoll is how often apply --wait reads the jobs it follows: FKO
// acts on a change within seconds, and one GET per job and poll is cheap.
const waitPoll = 2 * time.Second

// pass is one environment's result and what follows its upgrades.
type pass struct {
	r *sync.Result
	s upgradeWaiter
}

// upgradeWaiter follows a pass's upgrades to their end: a cluster's
// *sync.Syncer, or a cmf environment's *cmfsync.Syncer.
type upgradeWaiter interface {
	WaitUpgrades(ctx context.Context, r *sync.Result, poll time.Duration, done func(sync.Upgrade)) []sync.Upgrade
}

// writeUpgrades prints the upgrades of a pass, one line each.
func writeUpgrades(w io.Writer, r *sync.Result) {
	for _, u := range r.Upgrades {
		fmt.Fprintf(w, "  upgrade    %s\n", u)
	}
}

// waitUpgrades is apply --wait: it follows the upgrades the passes started
// or found in progress, in every environment at once, until each
// succeeds, fails or is rolled back, or d is up (or ctx ends), and puts
// the outcome in each result's Upgrades. With w, it prints a line per job
// as its upgrade ends and one for each still in progress at the end. It
// reports whether every upgrade succeeded. Messages come masked from sync.
func waitUpgrades(ctx context.Context, w io.Writer, d time.Duration, passes []pass) bool {
	open := 0
	for _, p := range passes {
		for _, u := range p.r.Upgrades {
			if !u.State.Settled() {
				open++
			}
		}
	}
	if open == 0 {
		return allSucceeded(passes)
	}
	if w != nil {
		fmt.Fprintf(w, "waiting up to %s for %d upgrade(s) to end\n", d, open)
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu gosync.Mutex
	say := func(env string, u sync.Upgrade) {
		if w != nil {
			mu.Lock()
			fmt.Fprintf(w, "%s: %s\n", env, u)
			mu.Unlock()
		}
	}
	var wg gosync.WaitGroup
	for _, p := range passes {
		if p.s == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.r.Upgrades = p.s.WaitUpgrades(ctx, p.r, waitPoll, func(u sync.Upgrade) { say(p.r.Environment, u) })
		}()
	}
	wg.Wait()
	for _, p := range passes {
		for i, u := range p.r.Upgrades {
			if !u.State.Settled() {
				p.r.Upgrades[i].Message = fmt.Sprintf("still in progress after --wait %s: %s", d, u.Message)
				say(p.r.Environment, p.r.Upgrades[i])
			}
		}
	}
	return allSucceeded(passes)
}

// allSucceeded reports whether no upgrade of the passes failed or is still
// in progress.
func allSucceeded(passes []pass) bool {
	for _, p := range passes {
		for _, u := range p.r.Upgrades {
			if u.State.Failed() || !u.State.Settled() {
				return false
			}
		}
	}
	return true
}
