package main

import (
	"fmt"
	"io"
	"os"
	gosync "sync"
	"time"

	"golang.org/x/term"
)

// progress shows long work on a terminal: one line per environment,
// rewritten in place ("apply prod: 120/450 objects"), and the final count
// when the environment is done. It is silent when the output is not a
// terminal or the command writes JSON, so pipes and scripts see nothing.
type progress struct {
	w     io.Writer
	verb  string
	every time.Duration
	now   func() time.Time

	mu   gosync.Mutex
	last time.Time
	open bool // a line is on screen without its newline
}

// newProgress shows progress on w when it is a terminal and output is text.
func newProgress(w io.Writer, verb, output string) *progress {
	f, ok := w.(*os.File)
	if !ok || output == "json" || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return &progress{w: w, verb: verb, every: 100 * time.Millisecond, now: time.Now}
}

// of is the progress function of one environment (nil when silent).
func (p *progress) of(env, unit string) func(done, total int) {
	if p == nil {
		return nil
	}
	return func(done, total int) {
		p.mu.Lock()
		defer p.mu.Unlock()
		finished := done >= total
		if !finished && done > 0 && p.now().Sub(p.last) < p.every {
			return // at most ten updates a second
		}
		p.last = p.now()
		fmt.Fprintf(p.w, "\r\033[K%s %s: %d/%d %s", p.verb, env, done, total, unit)
		p.open = !finished
		if finished {
			fmt.Fprintln(p.w)
		}
	}
}

// done ends a line left open (an environment that stopped early).
func (p *progress) done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open {
		fmt.Fprintln(p.w)
		p.open = false
	}
}
