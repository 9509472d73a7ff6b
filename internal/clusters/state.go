package clusters

import "time"

// State is what a Set knows of one cluster's health, for a status page.
type State struct {
	Name   string
	Source string // where its credentials came from
	// Failures in a row, and the time before which it is not tried again
	// (zero when it is not backing off).
	Failures        int
	BackingOffUntil time.Time
	// LastError is the last failure, nil after a success. It may quote a
	// URL or a server's message: mask it before showing it.
	LastError error
}

// State is cluster name's state; false when the Set has no such cluster.
func (s *Set) State(name string) (State, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[name]
	if !ok {
		return State{}, false
	}
	return State{Name: name, Source: e.source, Failures: e.failures, BackingOffUntil: e.until, LastError: e.lastErr}, true
}
