package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	gosync "sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/flinksync/flinksync/internal/redact/redacttest"
	"github.com/flinksync/flinksync/internal/report"
	"github.com/flinksync/flinksync/internal/source"
	"github.com/flinksync/flinksync/internal/testenv"
)

// repoToken is the credential in the daemon's --repo-url.
const repoToken = "REPOtoken0987"

// bodySink keeps the raw bodies it receives.
type bodySink struct {
	srv    *httptest.Server
	mu     gosync.Mutex
	bodies []string
}

func newBodySink(t *testing.T) *bodySink {
	s := &bodySink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.mu.Unlock()
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *bodySink) all() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.bodies, "\n")
}

// syncBuffer is a log destination the daemon's goroutines share.
type syncBuffer struct {
	mu gosync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDaemonMasksSecrets: a daemon that follows https://user:token@… and
// syncs a repository with a Secret and every form of inline secret
// (internal/redact/redacttest), whose live objects then change behind
// Git's back, serves a status, sends alerts (Alertmanager, Slack, JSON) and
// writes logs that show neither the token nor any planted secret. Against
// a real API server and a real Git HTTP server.
func TestDaemonMasksSecrets(t *testing.T) {
	cfg := testenv.Config(t)
	suffix := "-dm" + itoa(int(fixtureN.Add(1)))
	content := t.TempDir()
	testenv.CopyTree(t, "../../examples/repo-layout", content, nil)
	redacttest.WriteFiles(t, content, "flink-"+redacttest.Env+suffix)
	git := newGitServer(t, content, testenv.UniqueNamespaces(t, cfg, suffix))
	sinks := map[string]*bodySink{}
	var targets []report.AlertTarget
	for _, f := range []string{report.FormatAlertmanager, report.FormatSlack, report.FormatJSON} {
		sinks[f] = newBodySink(t)
		targets = append(targets, report.AlertTarget{URL: sinks[f].srv.URL, Format: f})
	}
	logs := &syncBuffer{}
	url := "http://ci:" + repoToken + "@" + git.addr + "/repo.git"
	d, err := New(Config{
		Remote:   &source.Remote{URL: url, Ref: "main", CacheDir: t.TempDir(), Timeout: 5 * time.Second},
		Interval: time.Hour, DriftInterval: 300 * time.Millisecond, RestConfig: cfg, Alerts: targets,
		Logger:      slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		BackoffBase: 200 * time.Millisecond, BackoffMax: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	defer func() { cancel(); <-done }()

	status := func() (Status, string) {
		resp, err := http.Get(srv.URL + "/api/v1/status")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var s Status
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("status: %v\n%s", err, b)
		}
		return s, string(b)
	}
	env := func(s Status) EnvironmentStatus {
		for _, e := range s.Environments {
			if e.Name == redacttest.Env {
				return e
			}
		}
		return EnvironmentStatus{}
	}
	eventually(t, time.Minute, "dev applied", func() bool { s, _ := status(); return env(s).AppliedRevision != "" })

	redacttest.PatchLive(t, cfg, "flink-"+redacttest.Env+suffix)

	eventually(t, time.Minute, "drift in the status and in every alert format", func() bool {
		s, _ := status()
		sent := true
		for _, sink := range sinks {
			sent = sent && strings.Contains(sink.all(), "DriftDetected")
		}
		return len(env(s).Drift) >= 4 && sent
	})
	// The remote goes away: the Git error reaches the status and the log.
	git.stop()
	d.Trigger()
	eventually(t, time.Minute, "the source error in the status", func() bool { s, _ := status(); return s.Source.Error != "" })

	s, body := status()
	redacttest.NoLeak(t, "the status API", body)
	for name, sink := range sinks {
		redacttest.NoLeak(t, name+" alerts", sink.all())
	}
	redacttest.NoLeak(t, "the log", logs.String())
	for what, out := range map[string]string{"the status API": body, "the log": logs.String()} {
		if strings.Contains(out, repoToken) {
			t.Errorf("%s shows the repository token:\n%s", what, out)
		}
	}
	kube, _ := kubernetes.NewForConfig(cfg)
	events, err := kube.CoreV1().Events("flink-"+redacttest.Env+suffix).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(events.Items) == 0 {
		t.Errorf("the daemon must have recorded Events: %v", err)
	}
	var notes []string
	for _, e := range events.Items {
		notes = append(notes, e.Reason+": "+e.Message)
	}
	redacttest.NoLeak(t, "the Events", strings.Join(notes, "\n"))
	if want := "http://ci:<masked>@" + git.addr + "/repo.git"; s.Source.URL != want {
		t.Errorf("status source URL = %q, want %q", s.Source.URL, want)
	}
	if !strings.Contains(body, "data.password") || !strings.Contains(body, "masked hmac:") {
		t.Errorf("the status must still show which fields drifted, masked:\n%s", body)
	}
}
