package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// Progress is silent off a terminal and with JSON output; on a terminal
// it rewrites one line per environment, at most ten times a second, and
// ends it with the total.
func TestProgress(t *testing.T) {
	var buf bytes.Buffer
	if p := newProgress(&buf, "apply", "text"); p != nil {
		t.Fatal("a buffer is not a terminal: progress must be silent")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if p := newProgress(f, "apply", "text"); p != nil {
		t.Fatal("a plain file is not a terminal: progress must be silent")
	}
	if p := newProgress(os.Stderr, "apply", "json"); p != nil {
		t.Fatal("--output json: progress must be silent")
	}
	var p *progress
	p.of("prod", "objects") // nil progress: no panic
	p.done()                // nor here
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	p = &progress{w: &buf, verb: "apply", every: 100 * time.Millisecond, now: func() time.Time { return now }}
	tick := p.of("prod", "objects written")
	tick(0, 3)
	tick(1, 3) // within 100ms of the last: skipped
	now = now.Add(time.Second)
	tick(2, 3)
	tick(3, 3) // the end is always shown
	want := "\r\033[Kapply prod: 0/3 objects written\r\033[Kapply prod: 2/3 objects written\r\033[Kapply prod: 3/3 objects written\n"
	if got := buf.String(); got != want {
		t.Errorf("progress wrote %q, want %q", got, want)
	}
	buf.Reset()
	p.of("dev", "objects written")(0, 5)
	p.done()
	if got := buf.String(); !strings.HasSuffix(got, "0/5 objects written\n") {
		t.Errorf("done must end an open line: %q", got)
	}
}
