// Package diag is the shared vocabulary for problems found in a repository:
// a Finding names a rule, a severity and the file and line it comes from.
//
// The loader (internal/model) reports load errors as findings with LOAD-…
// rule IDs; the policy engine (internal/policy) adds its own. Output formats
// live in internal/report. diag depends on nothing else in the project.
package diag

import (
	"fmt"
	"sort"
	"strings"
)

// Severity says whether a finding blocks an environment.
type Severity string

const (
	// Error blocks the environment it concerns: nothing is applied there.
	Error Severity = "error"
	// Warning is reported but does not block.
	Warning Severity = "warning"
)

// Finding is one problem, with where it comes from and what to change.
type Finding struct {
	Rule        string   `json:"rule"`
	Severity    Severity `json:"severity"`
	File        string   `json:"file"`
	Line        int      `json:"line"`
	Environment string   `json:"environment"`
	App         string   `json:"app"`
	// Object names the Kubernetes object a policy finding concerns
	// (Kind/namespace/name), when there is one.
	Object  string `json:"object,omitempty"`
	Message string `json:"message"`
	// Waived is set when a waiver suppresses the finding; WaivedBy says why.
	Waived   bool   `json:"waived,omitempty"`
	WaivedBy string `json:"waivedBy,omitempty"`
}

// Error formats the finding as "file:line: message", so findings can travel
// as errors (for example inside a go-multierror).
func (f *Finding) Error() string {
	var b strings.Builder
	b.WriteString(f.Location())
	b.WriteString(": ")
	b.WriteString(f.Message)
	return b.String()
}

// Location is "file:line", "file" or "" as far as they are known.
func (f *Finding) Location() string {
	switch {
	case f.File != "" && f.Line > 0:
		return fmt.Sprintf("%s:%d", f.File, f.Line)
	case f.File != "":
		return f.File
	default:
		return "<repository>"
	}
}

// Blocks reports whether the finding stops its environment from syncing.
func (f *Finding) Blocks() bool { return f.Severity == Error && !f.Waived }

// Sort orders findings by file, line, rule and message, so every output is
// stable across runs.
func Sort(fs []*Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		if a.Environment != b.Environment {
			return a.Environment < b.Environment
		}
		if a.App != b.App {
			return a.App < b.App
		}
		return a.Message < b.Message
	})
}

// RuleInfo describes a rule for output formats that list rules (SARIF, JUnit).
type RuleInfo struct {
	ID       string
	Severity Severity
	// Summary is one line on what the rule finds.
	Summary string
}

// Summary counts findings the way every output format reports them.
type Summary struct {
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	Waived   int `json:"waived"`
}

// Summarize counts errors, warnings and waived findings. A waived finding
// counts only as waived.
func Summarize(fs []*Finding) Summary {
	var s Summary
	for _, f := range fs {
		switch {
		case f.Waived:
			s.Waived++
		case f.Severity == Error:
			s.Errors++
		default:
			s.Warnings++
		}
	}
	return s
}
