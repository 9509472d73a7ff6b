package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"sort"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/sync"
)

// JUnit XML, as CI dashboards read it: one test suite per rule, one test
// case per rule × object (or file, when a finding names no object), a
// failure for each error, a skipped case for each waived finding. Rules
// without findings appear as one passing case, so a dashboard shows what
// was checked.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Line      int           `xml:"line,attr,omitempty"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

// WriteFindingsJUnit writes findings as JUnit XML; rules lists every rule
// that was checked.
func WriteFindingsJUnit(w io.Writer, fs []*diag.Finding, rules []diag.RuleInfo) error {
	fs = sync.MaskedFindings(fs)
	byRule := map[string][]*diag.Finding{}
	for _, f := range fs {
		byRule[f.Rule] = append(byRule[f.Rule], f)
	}
	ids := make([]string, 0, len(rules))
	known := map[string]bool{}
	for _, r := range rules {
		ids, known[r.ID] = append(ids, r.ID), true
	}
	for id := range byRule {
		if !known[id] {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	out := junitSuites{Name: "flinksync validate"}
	for _, id := range ids {
		s := junitSuite{Name: id}
		seen := map[string]int{}
		for _, f := range byRule[id] {
			subject := f.Object
			if subject == "" {
				subject = f.Location()
			}
			name := fmt.Sprintf("%s %s", id, subject)
			// Dashboards key a test case by class and name: a second
			// finding of one rule on one object gets its own name.
			key := classname(f) + "\x00" + name
			if seen[key]++; seen[key] > 1 {
				name = fmt.Sprintf("%s (%d)", name, seen[key])
			}
			c := junitCase{Name: name, Classname: classname(f), File: f.File, Line: f.Line}
			switch {
			case f.Waived:
				c.Skipped = &junitSkipped{Message: "waived: " + f.WaivedBy}
				s.Skipped++
			case f.Severity == diag.Error:
				c.Failure = &junitFailure{Message: f.Message, Type: id, Text: f.String()}
				s.Failures++
			default:
				c.SystemOut = "warning: " + f.String()
			}
			s.Cases = append(s.Cases, c)
		}
		if len(s.Cases) == 0 {
			s.Cases = append(s.Cases, junitCase{Name: id, Classname: "flinksync"})
		}
		s.Tests = len(s.Cases)
		out.Tests += s.Tests
		out.Failures += s.Failures
		out.Skipped += s.Skipped
		out.Suites = append(out.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func classname(f *diag.Finding) string {
	switch {
	case f.Environment != "" && f.App != "":
		return "flinksync." + f.Environment + "." + f.App
	case f.Environment != "":
		return "flinksync." + f.Environment
	case f.App != "":
		return "flinksync." + f.App
	}
	return "flinksync"
}
