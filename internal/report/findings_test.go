package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/flinksync/flinksync/internal/diag"
)

func TestFindingsJSONIsStable(t *testing.T) {
	fs := fixtureFindings(t)
	var b bytes.Buffer
	if err := WriteFindingsJSON(&b, fs); err != nil {
		t.Fatal(err)
	}
	var doc FindingsDoc
	dec := json.NewDecoder(&b)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("JSON output does not decode into FindingsDoc: %v", err)
	}
	if len(doc.Findings) != len(fs) || doc.Summary != diag.Summarize(fs) {
		t.Errorf("%d findings, summary %+v; want %d, %+v", len(doc.Findings), doc.Summary, len(fs), diag.Summarize(fs))
	}
	if doc.Summary.Waived != 1 || doc.Summary.Errors == 0 || doc.Summary.Warnings == 0 {
		t.Errorf("summary %+v", doc.Summary)
	}
	b.Reset()
	if err := WriteFindingsJSON(&b, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"findings": []`) {
		t.Errorf("no findings must be an empty list, not null: %s", b.String())
	}
}

func TestFindingsTextLines(t *testing.T) {
	fs := []*diag.Finding{
		{Rule: "TLS-004", Severity: diag.Error, File: "apps/a.yaml", Line: 10, Environment: "prod", App: "a", Message: "weak"},
		{Rule: "CPU-005", Severity: diag.Warning, File: "environments/prod.yaml", Line: 7, Environment: "prod", Message: "two nodes",
			Waived: true, WaivedBy: "policy.yaml:6 until 2099-12-31: later"},
		{Rule: "LOAD-011", Severity: diag.Error, Message: "no environment"},
	}
	var b bytes.Buffer
	if err := WriteFindingsText(&b, fs); err != nil {
		t.Fatal(err)
	}
	want := "apps/a.yaml:10: error TLS-004 prod/a: weak\n" +
		"environments/prod.yaml:7: waived CPU-005 prod: two nodes [waived: policy.yaml:6 until 2099-12-31: later]\n" +
		"<repository>: error LOAD-011 -: no environment\n" +
		"2 error(s), 0 warning(s), 1 waived\n"
	if b.String() != want {
		t.Errorf("text output:\n%s\nwant:\n%s", b.String(), want)
	}
}
