package daemon

import (
	"bytes"
	"context"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/flinksync/flinksync/internal/source"
	"github.com/flinksync/flinksync/internal/testenv"
)

func TestEventsAreRecordedOnTheInventory(t *testing.T) {
	f := newFixture(t, options{})
	eventually(t, 30*time.Second, "the first revision applied", f.applied(f.head()))
	events := schema.GroupVersionResource{Version: "v1", Resource: "events"}
	eventually(t, 10*time.Second, "an Applied event on prod's inventory", func() bool {
		list, err := f.dyn.Resource(events).Namespace(f.ns("prod")).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false
		}
		for _, e := range list.Items {
			obj, _ := e.Object["involvedObject"].(map[string]any)
			if e.Object["reason"] == "Applied" && obj["name"] == "flinksync-inventory" && strings.Contains(e.Object["message"].(string), "FlinkDeployment") {
				return true
			}
		}
		return false
	})
}

func TestHTTPSBasicAuthToTheGitServer(t *testing.T) {
	cfg := testenvConfig(t)
	g := newGitServer(t, "../../examples/repo-layout", testenv.UniqueNamespaces(t, cfg, "-auth"))
	g.stop()
	inner := g.handler
	g.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "flinksync" || p != "t0ken" {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		inner.ServeHTTP(w, r)
	})
	g.start()
	dir := t.TempDir()
	write := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	user := write("username", "flinksync")
	for _, tc := range []struct {
		pass string
		ok   bool
	}{{"wrong", false}, {"t0ken", true}} {
		r := &source.Remote{URL: g.url(), Ref: "main", CacheDir: t.TempDir(),
			Auth: source.Auth{UsernameFile: user, PasswordFile: write("password", tc.pass)}}
		_, err := r.Head(context.Background())
		if (err == nil) != tc.ok {
			t.Fatalf("password %q: head error %v", tc.pass, err)
		}
		if !tc.ok {
			continue
		}
		fsys, rev, err := r.Fetch(context.Background())
		if err != nil || len(rev) != 40 {
			t.Fatalf("fetch: %v", err)
		}
		if _, err := fsys.Open("environments/prod.yaml"); err != nil {
			t.Fatalf("fetched tree: %v", err)
		}
	}
}

func TestOnlySignedCommitsAreApplied(t *testing.T) {
	entity, err := openpgp.NewEntity("flinksync test", "", "signer@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	var ring bytes.Buffer
	w, _ := armor.Encode(&ring, openpgp.PublicKeyType, nil)
	if err := entity.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()

	cfg := testenvConfig(t)
	g := newGitServer(t, "../../examples/repo-layout", testenv.UniqueNamespaces(t, cfg, "-sig"))
	r := &source.Remote{URL: g.url(), Ref: "main", CacheDir: t.TempDir(), Keyring: ring.String()}
	if _, _, err := r.Fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "not signed") {
		t.Fatalf("an unsigned head must be refused, got %v", err)
	}
	// A signed commit on top.
	repo, err := git.PlainOpen(g.work)
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	p := filepath.Join(g.work, auditFile)
	data, _ := os.ReadFile(p)
	_ = os.WriteFile(p, bytes.Replace(data, []byte("taskManagers: 2"), []byte("taskManagers: 3"), 1), 0o644)
	if _, err := wt.Add(auditFile); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "signer", Email: "signer@example.com", When: time.Now()}
	signed, err := wt.Commit("signed change", &git.CommitOptions{Author: sig, Committer: sig, SignKey: entity})
	if err != nil {
		t.Fatal(err)
	}
	g.git(g.work, "push", "-q", "origin", "main")
	_, rev, err := r.Fetch(context.Background())
	if err != nil || rev != signed.String() {
		t.Fatalf("a signed head must be accepted: %v (rev %s, want %s)", err, rev, signed)
	}
	// Signed by someone else: refused.
	other, _ := openpgp.NewEntity("intruder", "", "x@example.com", nil)
	_ = os.WriteFile(p, bytes.Replace(data, []byte("taskManagers: 2"), []byte("taskManagers: 9"), 1), 0o644)
	_, _ = wt.Add(auditFile)
	if _, err := wt.Commit("intruder", &git.CommitOptions{Author: sig, Committer: sig, SignKey: other}); err != nil {
		t.Fatal(err)
	}
	g.git(g.work, "push", "-q", "origin", "main")
	if _, _, err := r.Fetch(context.Background()); err == nil {
		t.Fatalf("a commit signed by an unknown key must be refused")
	}
}

func TestFollowATag(t *testing.T) {
	g := newGitServer(t, "../../examples/repo-layout", nil)
	first := g.git(g.work, "rev-parse", "HEAD")
	g.git(g.work, "tag", "-a", "v1.0.0", "-m", "release")
	g.git(g.work, "push", "-q", "origin", "v1.0.0")
	g.commit(auditFile, "taskManagers: 2", "taskManagers: 3") // main moves on; the tag does not
	r := &source.Remote{URL: g.url(), Ref: "refs/tags/v1.0.0", CacheDir: t.TempDir()}
	head, err := r.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fsys, rev, err := r.Fetch(context.Background())
	if err != nil || rev != first {
		t.Fatalf("the tag's commit: %s %v, want %s", rev, err, first)
	}
	if head != first {
		t.Errorf("the head of an annotated tag is its commit %s (what Fetch returns, so polls skip the fetch), got %s", first, head)
	}
	data, _ := fs.ReadFile(fsys, auditFile)
	if !strings.Contains(string(data), "taskManagers: 2") {
		t.Errorf("the tag's tree must be read, not main's")
	}
}
