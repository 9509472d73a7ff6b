package plan

import (
	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/redact"
	"github.com/flinksync/flinksync/internal/sync"
)

// masked returns a copy of r for output with the secrets internal/redact
// finds in text masked in every free-text field a repository or a cluster
// can fill: findings, notes, the reasons an environment is blocked and the
// live comparison's error. Object diffs are masked already (by kind and
// path, through sync.MaskedYAML and sync.UnifiedDiff). WriteText,
// WriteMarkdown and WriteJSON print masked(r).
func masked(r *Result) *Result {
	m := *r
	m.Findings = maskedFindings(r.Findings)
	m.Resolved = sync.MaskedFindings(r.Resolved)
	m.Environments = make([]*EnvironmentPlan, len(r.Environments))
	for i, e := range r.Environments {
		c := *e
		c.Findings = maskedFindings(e.Findings)
		c.Resolved = sync.MaskedFindings(e.Resolved)
		c.BaseBlocked, c.HeadBlocked, c.Notes = redact.Texts(e.BaseBlocked), redact.Texts(e.HeadBlocked), redact.Texts(e.Notes)
		if e.Live != nil {
			l := *e.Live
			l.Error = redact.Text(l.Error)
			c.Live = &l
		}
		m.Environments[i] = &c
	}
	return &m
}

func maskedFindings(fs []Finding) []Finding {
	if fs == nil {
		return nil
	}
	out := make([]Finding, len(fs))
	for i, f := range fs {
		out[i] = Finding{Finding: sync.MaskedFindings([]*diag.Finding{f.Finding})[0], New: f.New}
	}
	return out
}
