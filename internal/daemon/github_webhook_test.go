package daemon

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/flinksync/flinksync/internal/testenv"
)

// The daemon's GitHub webhook takes the payloads GitHub really sends
// (@octokit/webhooks-examples, which `make github-webhooks` puts in bin/),
// signed and headed as GitHub does: a ping is answered, pushes of another
// branch and of a tag are accepted and ignored (no pass: a commit waiting on
// the followed branch stays unapplied), and a push of the followed branch is
// applied to the real API server at once.
func TestRealGitHubPayloads(t *testing.T) {
	ping := githubExamples(t, "ping")[0]
	var tagPush, branchPush []byte
	for _, p := range githubExamples(t, "push") {
		var head struct {
			Ref     string `json:"ref"`
			Deleted bool   `json:"deleted"`
		}
		if err := json.Unmarshal(p, &head); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(head.Ref, "refs/tags/") && !head.Deleted && tagPush == nil:
			tagPush = p
		case strings.HasPrefix(head.Ref, "refs/heads/") && head.Ref != "refs/heads/main" && !head.Deleted && branchPush == nil:
			branchPush = p
		}
	}
	if tagPush == nil || branchPush == nil {
		t.Fatal("GitHub's examples have no push of a new tag or of a branch other than main")
	}

	f := newFixture(t, options{}) // follows main; polls hourly
	eventually(t, 30*time.Second, "the first revision applied everywhere", f.applied(f.head()))

	if code, body := f.github("ping", ping); code != http.StatusOK || !strings.Contains(body, "pong") {
		t.Fatalf("ping: %d %q, want 200 pong", code, body)
	}

	// A commit on main the daemon has not heard of.
	rev := f.git.commit(auditFile, "taskManagers: 2", "taskManagers: 3")
	heads := f.metric("flinksync_git_requests_total", map[string]string{"type": "ls-remote"})
	for name, p := range map[string][]byte{"a tag": tagPush, "another branch": branchPush} {
		if code, body := f.github("push", p); code != http.StatusAccepted || !strings.Contains(body, "ignored") {
			t.Errorf("push of %s: %d %q, want 202 and ignored", name, code, body)
		}
	}
	time.Sleep(time.Second) // a pass, had one started, would be done
	if got := f.metric("flinksync_git_requests_total", map[string]string{"type": "ls-remote"}); got != heads {
		t.Errorf("pushes of other refs started %v pass(es)", got-heads)
	}
	if got := f.replicas("prod", "audit-archiver"); got != 2 {
		t.Fatalf("pushes of other refs must apply nothing: replicas %d, want 2", got)
	}

	// GitHub's branch push, for main and the new commit.
	mainPush := withField(t, withField(t, branchPush, "ref", "refs/heads/main"), "after", rev)
	if code, body := f.github("push", mainPush); code != http.StatusAccepted || !strings.Contains(body, "pass triggered") {
		t.Fatalf("push of main: %d %q, want 202 and a pass", code, body)
	}
	eventually(t, 10*time.Second, "the push applied", func() bool { return f.replicas("prod", "audit-archiver") == 3 })
	eventually(t, 10*time.Second, "status shows the revision", f.applied(rev))
}

// githubExamples returns GitHub's example payloads of event, each as GitHub
// sends it: compact JSON, keys in GitHub's order.
func githubExamples(t *testing.T, event string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(testenv.BinFile(t, "github-webhook-examples.json", "github-webhooks"))
	if err != nil {
		t.Fatal(err)
	}
	var events []struct {
		Name     string            `json:"name"`
		Examples []json.RawMessage `json:"examples"`
	}
	if err := json.Unmarshal(data, &events); err != nil {
		t.Fatalf("GitHub's webhook examples: %v", err)
	}
	for _, e := range events {
		if e.Name != event {
			continue
		}
		var out [][]byte
		for _, ex := range e.Examples {
			var b bytes.Buffer
			if err := json.Compact(&b, ex); err != nil {
				t.Fatal(err)
			}
			out = append(out, b.Bytes())
		}
		if len(out) > 0 {
			return out
		}
	}
	t.Fatalf("GitHub's webhook examples have no %s payload", event)
	return nil
}

// withField sets the top-level string field of a compact payload to value,
// leaving every other byte as GitHub sent it.
func withField(t *testing.T, payload []byte, field, value string) []byte {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(payload, &top); err != nil {
		t.Fatal(err)
	}
	old := []byte(`"` + field + `":` + string(top[field]))
	if bytes.Count(payload, old) != 1 {
		t.Fatalf("payload has %d fields %s", bytes.Count(payload, old), old)
	}
	v, _ := json.Marshal(value)
	return bytes.Replace(payload, old, []byte(`"`+field+`":`+string(v)), 1)
}

// github delivers payload as GitHub does: POST with its headers, signed
// with the daemon's secret in X-Hub-Signature-256 (and the legacy SHA-1
// X-Hub-Signature); it returns the status and body.
func (f *fixture) github(event string, payload []byte) (int, string) {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.http.URL+"/hooks/github", bytes.NewReader(payload))
	if err != nil {
		f.t.Fatal(err)
	}
	guid := make([]byte, 16)
	_, _ = rand.Read(guid)
	sig256 := hmac.New(sha256.New, []byte("s3cret"))
	sig256.Write(payload)
	sig1 := hmac.New(sha1.New, []byte("s3cret"))
	sig1.Write(payload)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/044aadd")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("%x-%x-%x-%x-%x", guid[:4], guid[4:6], guid[6:8], guid[8:10], guid[10:]))
	req.Header.Set("X-GitHub-Hook-ID", "109948940")
	req.Header.Set("X-GitHub-Hook-Installation-Target-Type", "repository")
	req.Header.Set("X-GitHub-Hook-Installation-Target-ID", "186853002")
	req.Header.Set("X-Hub-Signature", "sha1="+hex.EncodeToString(sig1.Sum(nil)))
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(sig256.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
