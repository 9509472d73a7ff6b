package plan

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/sync"
)

// secret is the value the plan must never show.
const secret = "HUNTER2plan"

// leaks lists the forms of secret found in out: itself, its base64, and
// the unsalted SHA-256 prefixes the old mask published.
func leaks(out string) []string {
	b64 := base64.StdEncoding.EncodeToString([]byte(secret))
	var found []string
	for _, v := range []string{secret, b64} {
		sum := sha256.Sum256([]byte(v))
		for _, form := range []string{v, hex.EncodeToString(sum[:4])} {
			if strings.Contains(out, form) {
				found = append(found, form)
			}
		}
	}
	return found
}

// hostilePlan is a plan whose every free-text field carries the secret,
// and whose object names try to break out of the Markdown comment.
func hostilePlan() *Result {
	b64 := base64.StdEncoding.EncodeToString([]byte(secret))
	evil := "x\r\n\r\n<img src=x onerror=alert(1)>\u2028# heading`|"
	secretObj := map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "db", "namespace": "dev"},
		"data": map[string]any{"url": b64}}
	f := &diag.Finding{Rule: "TLS-003", Severity: diag.Error, File: "apps/x.yaml", Line: 3, Environment: "dev", App: "x",
		Object: "FlinkDeployment/dev/" + evil, Message: `job argument "--password=` + secret + `" of "x" passes a secret inline`}
	return &Result{
		Base: Revision{Ref: "main", Commit: "aaaa"}, Head: Revision{Ref: "pr", Commit: "bbbb"}, Live: true,
		Findings: []Finding{{Finding: &diag.Finding{Rule: "LOAD-001", Severity: diag.Error, File: "a.yaml", Message: "fetch https://u:" + secret + "@git.example.com failed"}, New: true}},
		Resolved: []*diag.Finding{{Rule: "TLS-003", Severity: diag.Warning, Message: "-Djavax.net.ssl.keyStorePassword=" + secret}},
		Environments: []*EnvironmentPlan{{
			Name: "dev", Namespace: "dev", Status: Changed,
			Objects: []ObjectChange{
				{ID: "ConfigMap/dev/" + evil, ObjectID: sync.ObjectID{Kind: "ConfigMap", Namespace: "dev", Name: evil}, Action: Update, Diff: unified("ConfigMap/dev/x", nil, map[string]any{"kind": "ConfigMap"})},
				{ID: "Secret/dev/db", ObjectID: sync.ObjectID{Kind: "Secret", Namespace: "dev", Name: "db"}, Action: Create, Diff: unified("Secret/dev/db", nil, secretObj)},
			},
			Findings:    []Finding{{Finding: f, New: true}},
			Resolved:    []*diag.Finding{{Rule: "X", Message: "--db-pass " + secret}},
			HeadBlocked: []string{"blocked: password=" + secret},
			BaseBlocked: []string{"Authorization: Bearer " + secret},
			Notes:       []string{"namespace " + evil},
			Live: &LiveDiff{Objects: []sync.ObjectDiff{{ObjectID: sync.ObjectID{Kind: "Secret", Namespace: "dev", Name: "db"}, Action: sync.Configured,
				Unified: sync.UnifiedDiff("Secret/dev/db", secretObj, map[string]any{"kind": "Secret", "data": map[string]any{"url": "b2xk"}})}}},
		}},
	}
}

func TestPlanOutputsMaskSecrets(t *testing.T) {
	r := hostilePlan()
	for name, write := range map[string]func(*bytes.Buffer, *Result) error{
		"text":     func(b *bytes.Buffer, r *Result) error { return WriteText(b, r) },
		"markdown": func(b *bytes.Buffer, r *Result) error { return WriteMarkdown(b, r) },
		"json":     func(b *bytes.Buffer, r *Result) error { return WriteJSON(b, r) },
	} {
		var b bytes.Buffer
		if err := write(&b, r); err != nil {
			t.Fatal(err)
		}
		if l := leaks(b.String()); len(l) > 0 {
			t.Errorf("%s output shows %q:\n%s", name, l, b.String())
		}
	}
	if r.Environments[0].Findings[0].Message == "" || !strings.Contains(r.Environments[0].Findings[0].Message, secret) {
		t.Error("writing must not change the plan it writes")
	}
}

// TestMarkdownNamesCannotInject: an object name from an overlay (never
// validated) cannot end a code span or an HTML block and start Markdown or
// HTML of its own in the pull-request comment.
func TestMarkdownNamesCannotInject(t *testing.T) {
	var b bytes.Buffer
	if err := WriteMarkdown(&b, hostilePlan()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, bad := range []string{"\r", "\u2028", "\n# heading", "\n<img"} {
		if strings.Contains(out, bad) {
			t.Errorf("the comment holds %q from an object name:\n%s", bad, out)
		}
	}
	// Raw HTML from a name stands only inside a code span, on its line.
	for _, line := range strings.Split(out, "\n") {
		for i := strings.Index(line, "<img"); i >= 0; i = indexFrom(line, "<img", i+1) {
			if strings.Count(line[:i], "`")%2 != 1 {
				t.Errorf("raw HTML outside a code span: %q", line)
			}
		}
	}
	if !strings.Contains(out, "&lt;img src=x onerror=alert(1)&gt;") {
		t.Errorf("the name must still be shown, escaped:\n%s", out)
	}
}

func indexFrom(s, sub string, from int) int {
	if i := strings.Index(s[from:], sub); i >= 0 {
		return from + i
	}
	return -1
}
