package report

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/sync"
)

// leak is the secret the report tests plant.
const leak = "TOKENreport42"

// leakyResult is a pass whose free text quotes secrets the way errors,
// operators and a repository can: URL userinfo, flags, JVM properties,
// headers.
func leakyResult() *sync.Result {
	return &sync.Result{
		Environment: "prod", Namespace: "flink-prod", Revision: "abc",
		Errors: []string{"fetch https://ci:" + leak + "@git.example.com/r.git: 401"},
		Changes: []sync.Change{{ObjectID: sync.ObjectID{Kind: "FlinkDeployment", Namespace: "flink-prod", Name: "a"}, Action: sync.Failed,
			Message: `spec.flinkConfiguration.s3.secret-key: Invalid value: "` + leak + `"`,
			Diffs:   []sync.FieldDiff{{Field: "error", Live: "--db-pass=" + leak}}}},
		Drift: []sync.Drift{{Environment: "prod", ObjectID: sync.ObjectID{Kind: "FlinkDeployment", Namespace: "flink-prod", Name: "a"},
			Field: "spec.flinkConfiguration[\"env.java.opts.all\"]", Desired: "-Dx.keyStorePassword=" + leak, Live: "Authorization: Bearer " + leak}},
		Health: []sync.AppHealth{{App: "a", Health: sync.Degraded, Message: "job failed: password=" + leak + " rejected <!channel>"}},
	}
}

// TestAlertPayloadsMaskSecrets: whatever a pass quotes, no alert payload
// (Alertmanager, Slack, JSON) shows a secret, and Slack's payload cannot
// mention a channel.
func TestAlertPayloadsMaskSecrets(t *testing.T) {
	a := &Alerter{}
	sent := a.Observe(context.Background(), leakyResult())
	blocked := leakyResult()
	blocked.Environment, blocked.Blocked = "dev", []string{"apps/a.yaml:3: job argument \"--password " + leak + "\" passes a secret inline"}
	sent = append(sent, a.Observe(context.Background(), blocked)...)
	if len(sent) < 4 {
		t.Fatalf("want failed, drift, degraded and blocked alerts, got %+v", sent)
	}
	for _, al := range append(sent, a.Active()...) {
		for _, f := range []string{FormatAlertmanager, FormatSlack, FormatJSON} {
			b, err := Encode(f, al)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), leak) {
				t.Errorf("%s payload of %s shows the secret: %s", f, al.Kind, b)
			}
			if f == FormatSlack && strings.Contains(string(b), "<!channel>") {
				t.Errorf("a Slack payload must escape <!channel>: %s", b)
			}
		}
	}
	// Encode masks even an alert it did not build.
	b, _ := Encode(FormatSlack, Alert{Kind: AlertSyncFailed, Summary: "token=" + leak, Details: []string{"https://u:" + leak + "@h"}})
	if strings.Contains(string(b), leak) {
		t.Errorf("slack payload shows the secret: %s", b)
	}
}

// TestFindingWritersMaskSecrets: a finding that quotes the inline secret
// it is about does not publish it in text, JSON, SARIF or JUnit.
func TestFindingWritersMaskSecrets(t *testing.T) {
	fs := []*diag.Finding{
		{Rule: "TLS-003", Severity: diag.Error, File: "apps/a.yaml", Line: 7, App: "a",
			Message: `job argument "--password=` + leak + `" of "a" passes a secret inline`},
		{Rule: "TLS-003", Severity: diag.Error, File: "apps/b.yaml", Line: 7, App: "b",
			Message: `job argument "--password ` + leak + `" of "b" passes a secret inline`, Waived: true, WaivedBy: "until the vault works; token=" + leak},
	}
	rules := []diag.RuleInfo{{ID: "TLS-003"}}
	for name, write := range map[string]func(*bytes.Buffer) error{
		"text":  func(b *bytes.Buffer) error { return WriteFindingsText(b, fs) },
		"json":  func(b *bytes.Buffer) error { return WriteFindingsJSON(b, fs) },
		"sarif": func(b *bytes.Buffer) error { return WriteFindingsSARIF(b, fs, rules, "test") },
		"junit": func(b *bytes.Buffer) error { return WriteFindingsJUnit(b, fs, rules) },
	} {
		var b bytes.Buffer
		if err := write(&b); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), leak) || !strings.Contains(b.String(), "--password=") {
			t.Errorf("%s must show the finding without the secret:\n%s", name, b.String())
		}
	}
	if !strings.Contains(fs[0].Message, leak) {
		t.Error("writing findings must not change them")
	}
	var doc FindingsDoc
	var b bytes.Buffer
	_ = WriteFindingsJSON(&b, fs)
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil || len(doc.Findings) != 2 || doc.Summary.Waived != 1 {
		t.Errorf("JSON findings: %v %+v", err, doc)
	}
}
