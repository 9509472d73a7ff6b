// Package diag is the shared vocabulary for problems found in a repository:
// a Finding names a rule, a severity and the file and line it comes from.
//
// # The stage contract
//
// Every offline stage returns three things: its value, its findings, and an
// error.
//
//	model.LoadFS(fsys)                 (*model.Repository, []*diag.Finding, error)
//	sizing.ForRepository(repo, limits) (*sizing.Plan, []*diag.Finding, error)
//	render.Render(in, opts)            (*render.Environment, []*diag.Finding, error)
//	policy.Evaluate(in)                []*diag.Finding
//	pipeline.Run(fsys, opts)           (*pipeline.Result, error), Result.Findings
//
// A problem in the repository, however bad, is a Finding (file, line, rule,
// severity, message) and the value beside it is as much as could be made of
// the rest. The error means only that the stage could not run at all (the
// repository cannot be read, a caller's mistake): never a problem a user
// fixes in the repository, and never a carrier of findings. A new kind or
// target adds findings under its own rules; it never adds an error channel.
//
// Findings are made from a Rule (Rule.At), which carries its ID, severity
// and summary: no finding can name a rule that lacks them. The loader
// (internal/model) reports under LOAD-… rules, sizing SIZE-…, render
// RENDER-…, policy (internal/policy) its own, the state guard STATE-….
// Output formats live in internal/report. diag depends on nothing else in
// the project.
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

// String formats the finding as "file:line: message".
func (f *Finding) String() string {
	var b strings.Builder
	b.WriteString(f.Location())
	b.WriteString(": ")
	b.WriteString(f.Message)
	return b.String()
}

// For sets the environment and app the finding concerns, and returns it.
func (f *Finding) For(env, app string) *Finding {
	f.Environment, f.App = env, app
	return f
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

// Rule is a rule findings are reported under: a fixed ID, the severity its
// findings have, and one line on what it finds. A Rule is made once, by
// NewRule, as a package variable; every finding of it comes from At or Atf,
// so none can name a rule without its severity.
type Rule struct {
	id       string
	severity Severity
	summary  string
}

// NewRule makes a rule. An empty ID, severity or summary is a programming
// error, caught when the package holding the rule is initialised.
func NewRule(id string, severity Severity, summary string) *Rule {
	if id == "" || (severity != Error && severity != Warning) || summary == "" {
		panic(fmt.Sprintf("diag.NewRule(%q, %q, %q): a rule needs an ID, a severity and a summary", id, severity, summary))
	}
	return &Rule{id: id, severity: severity, summary: summary}
}

// ID is the rule's fixed ID, such as "CPU-003".
func (r *Rule) ID() string { return r.id }

// Severity is the severity of the rule's findings.
func (r *Rule) Severity() Severity { return r.severity }

// Info describes the rule for output formats that list rules.
func (r *Rule) Info() RuleInfo { return RuleInfo{ID: r.id, Severity: r.severity, Summary: r.summary} }

// At is a finding of the rule at file and line, saying msg.
func (r *Rule) At(file string, line int, msg string) *Finding {
	return &Finding{Rule: r.id, Severity: r.severity, File: file, Line: line, Message: msg}
}

// Atf is At with a formatted message.
func (r *Rule) Atf(file string, line int, format string, args ...any) *Finding {
	return r.At(file, line, fmt.Sprintf(format, args...))
}

// Infos describes rules for output formats that list rules.
func Infos(rules ...*Rule) []RuleInfo {
	out := make([]RuleInfo, len(rules))
	for i, r := range rules {
		out[i] = r.Info()
	}
	return out
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
