package daemon

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/flinksync/flinksync/internal/cmf/cmftest"
	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/report"
	"github.com/flinksync/flinksync/internal/source"
	"github.com/flinksync/flinksync/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

var fdGVR = schema.GroupVersionResource{Group: "flink.apache.org", Version: "v1beta1", Resource: "flinkdeployments"}

var fixtureN atomic.Int64

// gitServer serves a bare repository over HTTP with git http-backend, as a
// Git host would; it can be stopped and started again on the same address.
type gitServer struct {
	t       testing.TB
	bare    string
	work    string
	addr    string
	mu      gosync.Mutex
	srv     *http.Server
	handler http.Handler
}

func newGitServer(t testing.TB, content string, rewrite func(path string, data []byte) []byte) *gitServer {
	t.Helper()
	dir := t.TempDir()
	g := &gitServer{t: t, bare: filepath.Join(dir, "repo.git"), work: filepath.Join(dir, "work")}
	testenv.CopyTree(t, content, g.work, rewrite)
	g.git(g.work, "init", "-q", "-b", "main")
	g.git(g.work, "add", "-A")
	g.git(g.work, "commit", "-q", "-m", "initial")
	g.git(dir, "clone", "-q", "--bare", g.work, g.bare)
	g.git(g.work, "remote", "add", "origin", g.bare)
	backend, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	g.handler = &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(backend)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + dir, "GIT_HTTP_EXPORT_ALL=1"},
	}
	g.start()
	t.Cleanup(g.stop)
	return g
}

func (g *gitServer) git(dir string, args ...string) string {
	g.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		g.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// url is the repository's HTTP URL.
func (g *gitServer) url() string { return "http://" + g.addr + "/repo.git" }

func (g *gitServer) start() {
	g.mu.Lock()
	defer g.mu.Unlock()
	addr := g.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		g.t.Fatalf("git server: %v", err)
	}
	g.addr = ln.Addr().String()
	srv := &http.Server{Handler: g.handler}
	g.srv = srv
	go func() { _ = srv.Serve(ln) }()
}

func (g *gitServer) stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.srv != nil {
		_ = g.srv.Close()
		g.srv = nil
	}
}

// commit edits a file of the work tree and pushes the commit.
func (g *gitServer) commit(file, from, to string) string {
	g.t.Helper()
	p := filepath.Join(g.work, file)
	data, err := os.ReadFile(p)
	if err != nil {
		g.t.Fatal(err)
	}
	if !strings.Contains(string(data), from) {
		g.t.Fatalf("%s does not contain %q", file, from)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(data), from, to, 1)), 0o644); err != nil {
		g.t.Fatal(err)
	}
	g.git(g.work, "commit", "-q", "-am", "change "+file)
	g.git(g.work, "push", "-q", "origin", "main")
	return g.git(g.work, "rev-parse", "HEAD")
}

// fixture is a daemon over a served copy of the example repository.
type fixture struct {
	t      *testing.T
	cfg    *rest.Config
	git    *gitServer
	suffix string
	d      *Daemon
	http   *httptest.Server
	dyn    dynamic.Interface
	cancel context.CancelFunc
	done   chan struct{}
	alerts *alertSink
	// cmf is the CMF stand-in of the example's cmf environment; zero for
	// another repository.
	cmf exampleCMF
}

type options struct {
	interval, drift time.Duration
	restConfig      *rest.Config
	leader          *LeaderElection
	repo            string
	alerts          []report.AlertTarget // nil: the fixture's JSON sink
	alertQueue      report.QueueOptions
	passTimeout     time.Duration
	// pipeline replaces pipeline.Run.
	pipeline func(fs.FS, pipeline.Options) (*pipeline.Result, error)
	// clustersDir is the daemon's ClustersDir.
	clustersDir string
}

func newFixture(t *testing.T, o options) *fixture {
	t.Helper()
	cfg := testenv.Config(t)
	f := &fixture{t: t, cfg: cfg, suffix: fmt.Sprintf("-d%d", fixtureN.Add(1)), alerts: newAlertSink(t)}
	repo := o.repo
	rewrite := testenv.UniqueNamespaces(t, cfg, f.suffix)
	if repo == "" {
		repo = "../../examples/repo-layout"
		f.cmf = exampleCMF{cmftest.ForRepository(t, repo)} // example_cmf_test.go
		rewrite = f.cmf.rewrite(rewrite)
	}
	f.git = newGitServer(t, repo, rewrite)
	if f.cmf.Server != nil {
		f.cmf.WriteClientSecret(t, cfg, f.ns(exampleCMFEnv), exampleCMFSecret)
	}
	f.dyn, _ = dynamic.NewForConfig(cfg)
	f.d = f.newDaemon(o)
	f.start()
	return f
}

func (f *fixture) newDaemon(o options) *Daemon {
	f.t.Helper()
	rc := o.restConfig
	if rc == nil {
		rc = f.cfg
	}
	if o.interval == 0 {
		o.interval = time.Hour
	}
	if o.drift == 0 {
		o.drift = time.Hour
	}
	if o.alerts == nil {
		o.alerts = []report.AlertTarget{{URL: f.alerts.srv.URL, Format: report.FormatJSON}}
	}
	d, err := New(Config{
		Remote:        &source.Remote{URL: f.git.url(), Ref: "main", CacheDir: f.t.TempDir(), Timeout: 5 * time.Second},
		Interval:      o.interval,
		DriftInterval: o.drift,
		RestConfig:    rc,
		WebhookSecret: []byte("s3cret"),
		Alerts:        o.alerts,
		AlertQueue:    o.alertQueue,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		BackoffBase:   200 * time.Millisecond, BackoffMax: time.Second,
		LeaderElection: o.leader,
		PassTimeout:    o.passTimeout,
		pipeline:       o.pipeline,
		ClustersDir:    o.clustersDir,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

func (f *fixture) start() {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel, f.done = cancel, make(chan struct{})
	f.http = httptest.NewServer(f.d.Handler())
	go func() { defer close(f.done); _ = f.d.Run(ctx) }()
	f.t.Cleanup(func() { f.stop(); f.http.Close() })
}

func (f *fixture) stop() {
	if f.cancel != nil {
		f.cancel()
		<-f.done
		f.cancel = nil
	}
}

func (f *fixture) ns(env string) string { return "flink-" + env + f.suffix }

// eventually polls cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

func (f *fixture) replicas(env, app string) int64 {
	u, err := f.dyn.Resource(fdGVR).Namespace(f.ns(env)).Get(context.Background(), app, metav1.GetOptions{})
	if err != nil {
		return -1
	}
	n, _, _ := unstructured.NestedInt64(u.Object, "spec", "taskManager", "replicas")
	return n
}

func (f *fixture) applied(rev string) func() bool {
	return func() bool {
		s := f.d.Snapshot()
		if len(s.Environments) == 0 {
			return false
		}
		for _, e := range s.Environments {
			if e.AppliedRevision != rev {
				return false
			}
		}
		return true
	}
}

func (f *fixture) head() string { return f.git.git(f.git.work, "rev-parse", "HEAD") }

// ready asks /readyz.
func (f *fixture) ready() (int, string) {
	resp, err := http.Get(f.http.URL + "/readyz")
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// env is one environment's status.
func (f *fixture) env(name string) EnvironmentStatus {
	for _, e := range f.d.Snapshot().Environments {
		if e.Name == name {
			return e
		}
	}
	return EnvironmentStatus{}
}

// breakDev points dev at a namespace that does not exist: dev's passes
// fail (and raise SyncFailed) until fixDev.
func (f *fixture) breakDev() string {
	return f.git.commit("environments/dev.yaml", "namespace: "+f.ns("dev"), "namespace: nowhere"+f.suffix)
}

// fixDev undoes breakDev.
func (f *fixture) fixDev() string {
	return f.git.commit("environments/dev.yaml", "namespace: nowhere"+f.suffix, "namespace: "+f.ns("dev"))
}

// hook posts a GitHub push webhook signed with secret.
func (f *fixture) hook(secret string) int {
	body := []byte(`{"ref":"refs/heads/main"}`)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, f.http.URL+"/hooks/github", strings.NewReader(string(body)))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// metric reads one sample from the daemon's registry (0 when absent).
func (f *fixture) metric(name string, labels map[string]string) float64 {
	return metricValue(f.d.registry, name, labels)
}

func metricValue(reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	mfs, _ := reg.Gather()
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			if !matches(m, labels) {
				continue
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}

func matches(m *dto.Metric, labels map[string]string) bool {
	for k, v := range labels {
		found := false
		for _, lp := range m.Label {
			if lp.GetName() == k && lp.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// alertSink is a local HTTP receiver of JSON alerts.
type alertSink struct {
	srv    *httptest.Server
	mu     gosync.Mutex
	alerts []report.Alert
}

func newAlertSink(t testing.TB) *alertSink {
	s := &alertSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a report.Alert
		if err := json.NewDecoder(r.Body).Decode(&a); err == nil {
			s.mu.Lock()
			s.alerts = append(s.alerts, a)
			s.mu.Unlock()
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *alertSink) of(kind, env string) []report.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []report.Alert
	for _, a := range s.alerts {
		if a.Kind == kind && a.Environment == env {
			out = append(out, a)
		}
	}
	return out
}
