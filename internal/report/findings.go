// Package report turns the results of the pipeline into what people and
// machines read: text, JSON, JUnit and SARIF for findings; alerts, events
// and metrics for the daemon. It is the last stage and nothing depends on
// it but the command line and the daemon. Every writer masks secrets
// through internal/redact (findings through sync.MaskedFindings, sync
// results through sync.Masked) before it writes.
package report

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/sync"
)

// FindingsDoc is the stable JSON schema of `flinksync validate --output json`.
type FindingsDoc struct {
	Findings []*diag.Finding `json:"findings"`
	Summary  diag.Summary    `json:"summary"`
}

// WriteFindingsJSON writes findings as {"findings":[…],"summary":{…}}.
func WriteFindingsJSON(w io.Writer, fs []*diag.Finding) error {
	fs = sync.MaskedFindings(fs)
	if fs == nil {
		fs = []*diag.Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(FindingsDoc{Findings: fs, Summary: diag.Summarize(fs)})
}

// WriteFindingsText writes one line a finding,
// "file:line: severity RULE-ID env/app: message", then a summary line.
func WriteFindingsText(w io.Writer, fs []*diag.Finding) error {
	fs = sync.MaskedFindings(fs)
	for _, f := range fs {
		sev := string(f.Severity)
		if f.Waived {
			sev = "waived"
		}
		scope := f.Environment
		switch {
		case scope != "" && f.App != "":
			scope += "/" + f.App
		case f.App != "":
			scope = f.App
		}
		if scope == "" {
			scope = "-"
		}
		msg := f.Message
		if f.Waived && f.WaivedBy != "" {
			msg += " [waived: " + f.WaivedBy + "]"
		}
		if _, err := fmt.Fprintf(w, "%s: %s %s %s: %s\n", f.Location(), sev, f.Rule, scope, msg); err != nil {
			return err
		}
	}
	s := diag.Summarize(fs)
	_, err := fmt.Fprintf(w, "%d error(s), %d warning(s), %d waived\n", s.Errors, s.Warnings, s.Waived)
	return err
}
