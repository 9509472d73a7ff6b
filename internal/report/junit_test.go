package report

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/pipeline"
)

// The JUnit shape the test reads, declared here rather than reused from
// junit.go, so the test checks the XML and not the writer's own types.
type xSuites struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Skipped  int      `xml:"skipped,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Skipped  int    `xml:"skipped,attr"`
		Cases    []struct {
			Name      string `xml:"name,attr"`
			Classname string `xml:"classname,attr"`
			File      string `xml:"file,attr"`
			Line      int    `xml:"line,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
			SystemOut string `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func parseJUnit(t *testing.T, fs []*diag.Finding) xSuites {
	t.Helper()
	var b bytes.Buffer
	if err := WriteFindingsJUnit(&b, fs, pipeline.Rules()); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), xml.Header) {
		t.Errorf("JUnit output must start with the XML declaration")
	}
	var s xSuites
	dec := xml.NewDecoder(&b)
	dec.Strict = true
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("JUnit output does not parse: %v\n%s", err, b.String())
	}
	return s
}

func TestJUnitParsesAndCounts(t *testing.T) {
	fs := fixtureFindings(t)
	// A second finding of one rule on one object, as RBAC-005 gives for a
	// RoleBinding with two foreign subjects, and a message that needs
	// escaping in XML.
	fs = append(fs,
		&diag.Finding{Rule: "RBAC-005", Severity: diag.Error, File: "overlays/prod/kustomization.yaml", Line: 1, Environment: "prod",
			Object: "RoleBinding/flink-prod/x", Message: `binds "a" & <b>`},
		&diag.Finding{Rule: "RBAC-005", Severity: diag.Error, File: "overlays/prod/kustomization.yaml", Line: 1, Environment: "prod",
			Object: "RoleBinding/flink-prod/x", Message: "binds c"})
	s := parseJUnit(t, fs)

	var errors, waived, warnings int
	for _, f := range fs {
		switch {
		case f.Waived:
			waived++
		case f.Severity == diag.Error:
			errors++
		default:
			warnings++
		}
	}
	if errors < 5 || waived != 1 || warnings < 1 {
		t.Fatalf("the fixture must hold errors, a waived and a warning finding: %d %d %d", errors, waived, warnings)
	}

	rules := map[string]bool{}
	for _, r := range pipeline.Rules() {
		rules[r.ID] = true
	}
	rules["EXT-001"] = true // named by a finding only
	if len(s.Suites) != len(rules) {
		t.Errorf("%d suites, want one per rule (%d)", len(s.Suites), len(rules))
	}
	byRule := map[string][]*diag.Finding{}
	for _, f := range fs {
		byRule[f.Rule] = append(byRule[f.Rule], f)
	}
	var tests, failures, skipped int
	names := map[string]bool{}
	for _, suite := range s.Suites {
		if !rules[suite.Name] {
			t.Errorf("suite %q names no rule", suite.Name)
		}
		var sf, ss int
		for _, c := range suite.Cases {
			key := c.Classname + "/" + c.Name
			if names[key] {
				t.Errorf("two test cases are named %s", key)
			}
			names[key] = true
			if c.Failure != nil {
				sf++
				if c.Failure.Type != suite.Name || c.Failure.Message == "" {
					t.Errorf("%s: failure %+v", key, c.Failure)
				}
			}
			if c.Skipped != nil {
				ss++
				if !strings.Contains(c.Skipped.Message, "December") {
					t.Errorf("%s: a skipped case must say which waiver: %q", key, c.Skipped.Message)
				}
			}
			if c.Failure != nil && c.Skipped != nil {
				t.Errorf("%s: both failed and skipped", key)
			}
		}
		want := byRule[suite.Name]
		wantCases := len(want)
		if wantCases == 0 {
			wantCases = 1 // a passing case says the rule was checked
		}
		wantFail, wantSkip := 0, 0
		for _, f := range want {
			if f.Waived {
				wantSkip++
			} else if f.Severity == diag.Error {
				wantFail++
			}
		}
		if len(suite.Cases) != wantCases || suite.Tests != wantCases || sf != wantFail || suite.Failures != wantFail || ss != wantSkip || suite.Skipped != wantSkip {
			t.Errorf("suite %s: %d cases (attr %d), %d failures (attr %d), %d skipped (attr %d); want %d, %d, %d",
				suite.Name, len(suite.Cases), suite.Tests, sf, suite.Failures, ss, suite.Skipped, wantCases, wantFail, wantSkip)
		}
		tests += len(suite.Cases)
		failures += sf
		skipped += ss
	}
	if failures != errors || skipped != waived {
		t.Errorf("want a failure per error (%d) and a skipped case per waived finding (%d), got %d and %d", errors, waived, failures, skipped)
	}
	if s.Tests != tests || s.Failures != failures || s.Skipped != skipped {
		t.Errorf("testsuites totals %d/%d/%d, cases %d/%d/%d", s.Tests, s.Failures, s.Skipped, tests, failures, skipped)
	}
}

func TestJUnitCaseCarriesFileAndMessage(t *testing.T) {
	f := &diag.Finding{Rule: "TLS-004", Severity: diag.Error, File: "apps/a.yaml", Line: 10, Environment: "prod", App: "a",
		Object: "FlinkDeployment/flink-prod/a", Message: "weak <protocol> & more"}
	s := parseJUnit(t, []*diag.Finding{f})
	for _, suite := range s.Suites {
		if suite.Name != "TLS-004" {
			if len(suite.Cases) != 1 || suite.Cases[0].Failure != nil {
				t.Errorf("suite %s: a rule without findings is one passing case", suite.Name)
			}
			continue
		}
		c := suite.Cases[0]
		if c.Name != "TLS-004 FlinkDeployment/flink-prod/a" || c.Classname != "flinksync.prod.a" || c.File != "apps/a.yaml" || c.Line != 10 {
			t.Errorf("case %+v", c)
		}
		if c.Failure == nil || c.Failure.Message != f.Message || !strings.Contains(c.Failure.Text, "apps/a.yaml:10") {
			t.Errorf("failure %+v", c.Failure)
		}
		return
	}
	t.Fatal("no TLS-004 suite")
}
