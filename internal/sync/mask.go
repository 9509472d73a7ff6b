package sync

import (
	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/redact"
	"github.com/flinksync/flinksync/internal/state"
)

// Masked returns a copy of r for output: the free text of a pass (why it
// was blocked, errors, conflict and failure messages, the operators' health
// messages, findings) with the secrets internal/redact finds in text
// masked. Field values in Diffs and Drift are masked already, by object
// kind and path, when compare builds them; Masked passes them through the
// text masking too. Every printer of a Result (apply, drift, the daemon's
// status API, alerts, Events) prints Masked(r), never r.
func Masked(r *Result) *Result {
	if r == nil {
		return nil
	}
	m := *r
	m.Blocked = redact.Texts(r.Blocked)
	m.Errors = redact.Texts(r.Errors)
	if r.Changes != nil {
		m.Changes = make([]Change, len(r.Changes))
		for i, c := range r.Changes {
			c.Message = redact.Text(c.Message)
			c.Diffs = maskedDiffs(c.Diffs)
			m.Changes[i] = c
		}
	}
	if r.Drift != nil {
		m.Drift = make([]Drift, len(r.Drift))
		for i, d := range r.Drift {
			d.Desired, d.Live = redact.Text(d.Desired), redact.Text(d.Live)
			m.Drift[i] = d
		}
	}
	if r.Health != nil {
		m.Health = make([]AppHealth, len(r.Health))
		for i, h := range r.Health {
			h.Message = redact.Text(h.Message)
			m.Health[i] = h
		}
	}
	if r.Savepoints != nil {
		m.Savepoints = make([]Savepoint, len(r.Savepoints))
		for i, sp := range r.Savepoints {
			// The operator's error, or a path with userinfo, may carry a
			// credential.
			sp.Path, sp.Error = redact.Text(sp.Path), redact.Text(sp.Error)
			m.Savepoints[i] = sp
		}
	}
	if r.State != nil {
		m.State = make([]state.Impact, len(r.State))
		for i, st := range r.State {
			st.Message = redact.Text(st.Message)
			m.State[i] = st
		}
	}
	if r.Upgrades != nil {
		m.Upgrades = make([]Upgrade, len(r.Upgrades))
		for i, u := range r.Upgrades {
			// The operator's words, which may quote a job's argument.
			u.Message = redact.Text(u.Message)
			m.Upgrades[i] = u
		}
	}
	m.Findings = MaskedFindings(r.Findings)
	return &m
}

// MaskedFindings returns copies of findings whose message and waiver reason
// have the secrets internal/redact finds in text masked (a finding may
// quote the value it is about: "job argument "--password=…" passes a
// secret inline").
func MaskedFindings(fs []*diag.Finding) []*diag.Finding {
	if fs == nil {
		return nil
	}
	out := make([]*diag.Finding, len(fs))
	for i, f := range fs {
		c := *f
		c.Message, c.WaivedBy = redact.Text(f.Message), redact.Text(f.WaivedBy)
		out[i] = &c
	}
	return out
}

func maskedDiffs(ds []FieldDiff) []FieldDiff {
	if ds == nil {
		return nil
	}
	out := make([]FieldDiff, len(ds))
	for i, d := range ds {
		out[i] = FieldDiff{Field: d.Field, Desired: redact.Text(d.Desired), Live: redact.Text(d.Live)}
	}
	return out
}
