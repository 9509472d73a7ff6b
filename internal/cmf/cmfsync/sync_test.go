package cmfsync_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"

	"github.com/flinksync/flinksync/internal/cmf"
	"github.com/flinksync/flinksync/internal/cmf/cmfsync"
	"github.com/flinksync/flinksync/internal/cmf/cmftest"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/render"
	"github.com/flinksync/flinksync/internal/state"
	"github.com/flinksync/flinksync/internal/sync"
	"github.com/flinksync/flinksync/internal/testenv"
)

const envName = "prod-cmf"

// fixture is the test repository (testdata/repo) pointed at a stand-in.
type fixture struct {
	t   *testing.T
	s   *cmftest.Server
	dir string
	// guard is the environment's state guard as the last render found it.
	guard *state.Guard
}

func newFixture(t *testing.T, mode cmftest.Auth) *fixture {
	t.Helper()
	s := cmftest.New(t, cmftest.Options{Auth: mode})
	t.Cleanup(func() {
		if v := s.Violations(); len(v) > 0 {
			t.Errorf("the CMF stand-in counted %d violation(s) of CMF's API description:\n%s", len(v), strings.Join(v, "\n"))
		}
	})
	// The catalog's credentials: CMF secrets an administrator created.
	s.AddSecret("sr-credentials")
	s.AddSecret("kafka-credentials")
	return &fixture{t: t, s: s, dir: s.Repository(t, "testdata/repo")}
}

func (f *fixture) write(rel, text string) error {
	p := filepath.Join(f.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(text), 0o644)
}

// pass runs the pipeline over the repository and one sync pass.
func (f *fixture) pass(mode sync.Mode) *sync.Result {
	f.t.Helper()
	env, out, blocked := f.render()
	sy, err := cmfsync.New(context.Background(), env, cmf.Sources{FilesDir: f.s.FilesDir})
	if err != nil {
		f.t.Fatal(err)
	}
	return sy.Sync(context.Background(), env, out, sync.Options{Mode: mode, Blocked: blocked, Guard: f.guard})
}

func (f *fixture) render() (*model.Environment, *render.Environment, []string) {
	f.t.Helper()
	res, err := pipeline.Run(os.DirFS(f.dir), pipeline.Options{Revision: "abc123"})
	if err != nil {
		f.t.Fatal(err)
	}
	if b := res.Blocked[envName]; len(b) > 0 {
		f.t.Fatalf("the test repository is blocked: %v", b)
	}
	f.guard = res.Guard(envName)
	return res.Repo.Environment(envName), res.Rendered[envName], nil
}

func actions(r *sync.Result) map[string]sync.Action {
	out := map[string]sync.Action{}
	for _, c := range r.Changes {
		out[c.Kind+"/"+c.Name] = c.Action
	}
	return out
}

func mustOK(t *testing.T, r *sync.Result) {
	t.Helper()
	if !r.OK() {
		b, _ := json.MarshalIndent(r, "", "  ")
		t.Fatalf("the pass failed:\n%s", b)
	}
}

// statementNames are the CMF statements of the environment, by repository name.
func (f *fixture) statementNames() map[string]string {
	out := map[string]string{}
	for _, p := range f.s.Paths("/environments/" + envName + "/statements/") {
		o := f.s.Get(p)
		labels := o["metadata"].(map[string]any)["labels"].(map[string]any)
		out[labels["app.kubernetes.io/name"].(string)] = filepath.Base(p)
	}
	return out
}

// TestSyncOverMTLS is the whole life of a cmf environment on the stand-in,
// over mTLS: the first pass creates the environment, applications, pools,
// statements, catalog, database and secret mappings; the second writes
// nothing; a change made in CMF is drift, reported and corrected; a
// changed statement is replaced; a removed app is deleted.
func TestSyncOverMTLS(t *testing.T) {
	f := newFixture(t, cmftest.MTLS)
	r := f.pass(sync.ModeApply)
	mustOK(t, r)
	a := actions(r)
	for _, want := range []string{"Environment/prod-cmf", "FlinkApplication/orders-enrich", "FlinkApplication/audit-archiver",
		"ComputePool/sql", "KafkaCatalog/kafka", "KafkaDatabase/clickstream", "EnvironmentSecretMapping/sr-credentials", "EnvironmentSecretMapping/kafka-credentials"} {
		if a[want] != sync.Created {
			t.Errorf("%s: %q, want created (all: %v)", want, a[want], a)
		}
	}
	stmts := f.statementNames()
	if len(stmts) != 2 || stmts["checkout-pageviews"] == "" || stmts["create-pageviews"] == "" {
		t.Fatalf("statements in the stand-in: %v", stmts)
	}
	app := f.s.Get("/environments/prod-cmf/applications/orders-enrich")
	if app["apiVersion"] != cmf.APIVersion || app["spec"].(map[string]any)["job"].(map[string]any)["upgradeMode"] != "savepoint" {
		t.Errorf("application in the stand-in: %v", app)
	}
	if env := f.s.Get("/environments/prod-cmf"); env["kubernetesNamespace"] != "flink-prod" {
		t.Errorf("environment in the stand-in: %v", env)
	}
	for _, h := range r.Health {
		if h.Health != sync.Healthy {
			t.Errorf("health %s: %s (%s)", h.App, h.Health, h.Message)
		}
	}
	if len(r.Health) != 5 { // 2 apps, 2 statements, 1 pool
		t.Errorf("health: %+v", r.Health)
	}

	writes := f.s.Writes()
	r = f.pass(sync.ModeApply)
	mustOK(t, r)
	if n := f.s.Writes() - writes; n != 0 || r.Count(sync.Unchanged) != len(r.Changes) {
		t.Fatalf("second pass wrote %d time(s): %s", n, r.Summary())
	}

	// A change made directly in CMF: drift, reported and then corrected.
	const path = "/environments/prod-cmf/applications/orders-enrich"
	live := f.s.Get(path)
	live["spec"].(map[string]any)["flinkConfiguration"].(map[string]any)["taskmanager.numberOfTaskSlots"] = "7"
	f.s.Set(path, live)
	r = f.pass(sync.ModeObserve)
	if len(r.Drift) != 1 || r.Drift[0].Field != `spec.flinkConfiguration["taskmanager.numberOfTaskSlots"]` || r.Drift[0].Live != "7" || r.Drift[0].Desired != "2" {
		t.Fatalf("drift: %+v", r.Drift)
	}
	if f.s.Writes() != writes {
		t.Fatal("an observing pass wrote")
	}
	r = f.pass(sync.ModeApply)
	mustOK(t, r)
	if actions(r)["FlinkApplication/orders-enrich"] != sync.Configured || len(r.Drift) != 1 {
		t.Fatalf("drift not corrected: %s %+v", r.Summary(), r.Drift)
	}
	if got := f.s.Get(path)["spec"].(map[string]any)["flinkConfiguration"].(map[string]any)["taskmanager.numberOfTaskSlots"]; got != "2" {
		t.Fatalf("after correction the stand-in holds %v", got)
	}

	// A changed statement: its SQL cannot change in CMF, so it is replaced.
	old := f.statementNames()["checkout-pageviews"]
	text, _ := os.ReadFile(filepath.Join(f.dir, "statements/checkout-pageviews.yaml"))
	if err := f.write("statements/checkout-pageviews.yaml", strings.Replace(string(text), "'/checkout/%'", "'/cart/%'", 1)); err != nil {
		t.Fatal(err)
	}
	r = f.pass(sync.ModeApply)
	mustOK(t, r)
	now := f.statementNames()["checkout-pageviews"]
	if now == old || actions(r)["Statement/"+now] != sync.Created || actions(r)["Statement/"+old] != sync.Pruned {
		t.Fatalf("statement not replaced (%s → %s): %v", old, now, actions(r))
	}
	if f.s.Get("/environments/prod-cmf/statements/"+old) != nil {
		t.Fatal("the old statement is still in the stand-in")
	}

	// A removed app is deleted.
	if err := os.Remove(filepath.Join(f.dir, "apps/audit-archiver.yaml")); err != nil {
		t.Fatal(err)
	}
	r = f.pass(sync.ModeApply)
	mustOK(t, r)
	if actions(r)["FlinkApplication/audit-archiver"] != sync.Pruned || f.s.Get("/environments/prod-cmf/applications/audit-archiver") != nil {
		t.Fatalf("removed app not pruned: %v", actions(r))
	}
	// Something flinksync did not create is never pruned.
	f.s.Set("/environments/prod-cmf/applications/someone-elses", map[string]any{"apiVersion": cmf.APIVersion, "kind": "FlinkApplication",
		"metadata": map[string]any{"name": "someone-elses"}, "spec": map[string]any{}})
	env, out, _ := f.render()
	sy, err := cmfsync.New(context.Background(), env, cmf.Sources{FilesDir: f.s.FilesDir})
	if err != nil {
		t.Fatal(err)
	}
	diffs, err := sy.Diff(context.Background(), env, out)
	if err != nil || len(diffs) != 0 {
		t.Fatalf("diff after the passes: %v %+v", err, diffs)
	}
	r = f.pass(sync.ModeApply)
	mustOK(t, r)
	if f.s.Get("/environments/prod-cmf/applications/someone-elses") == nil {
		t.Fatal("pruned an application flinksync did not create")
	}
}

// TestSyncOverOAuth: the same environment over OAuth client credentials;
// a token the stand-in holds expired fails the environment with words
// that say so.
func TestSyncOverOAuth(t *testing.T) {
	f := newFixture(t, cmftest.OAuth)
	mustOK(t, f.pass(sync.ModeApply))
	writes := f.s.Writes()
	r := f.pass(sync.ModeApply)
	mustOK(t, r)
	if f.s.Writes() != writes {
		t.Fatalf("second pass wrote: %s", r.Summary())
	}
	f.s.ExpireTokens(true)
	r = f.pass(sync.ModeApply)
	if r.OK() || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "401") || !strings.Contains(r.Errors[0], "expired") ||
		!strings.Contains(r.Errors[0], "environment prod-cmf") {
		t.Fatalf("expired token: %+v", r.Errors)
	}
}

// TestSyncFailures: a client certificate CMF does not trust, and a
// missing role binding (403, naming the scope), fail the environment
// before it writes anything.
func TestSyncFailures(t *testing.T) {
	f := newFixture(t, cmftest.MTLS)
	mustOK(t, f.pass(sync.ModeApply))

	f.s.Forbid(cmf.ScopeEnvironment, envName)
	r := f.pass(sync.ModeApply)
	if r.OK() || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "403") || !strings.Contains(r.Errors[0], "scope of environment prod-cmf") {
		t.Fatalf("403: %+v", r.Errors)
	}
	f.s.Allow(cmf.ScopeEnvironment, envName)
	f.s.Forbid(cmf.ScopeCluster, "")
	r = f.pass(sync.ModeApply)
	if r.OK() || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "CMF cluster scope") {
		t.Fatalf("403: %+v", r.Errors)
	}
	f.s.Allow(cmf.ScopeCluster, "")

	other := cmftest.NewCA(t, "another-ca").Issue(t, "flinksync", false)
	dir := f.s.FilesDir
	cert, key := filepath.Join(dir, "other.crt"), filepath.Join(dir, "other.key")
	_ = os.WriteFile(cert, other.Cert, 0o600)
	_ = os.WriteFile(key, other.Key, 0o600)
	text, _ := os.ReadFile(filepath.Join(f.dir, "environments/prod-cmf.yaml"))
	env := string(text)
	start := strings.Index(env, "certFile: ")
	end := strings.Index(env, "}\n")
	env = env[:start] + "certFile: " + cert + ", keyFile: " + key + env[end:]
	if err := f.write("environments/prod-cmf.yaml", env); err != nil {
		t.Fatal(err)
	}
	r = f.pass(sync.ModeApply)
	if r.OK() || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "TLS handshake") || !strings.Contains(r.Errors[0], "client certificate") {
		t.Fatalf("untrusted client certificate: %+v", r.Errors)
	}
}

// TestDryRunWritesNothing: a dry run reports what it would create.
func TestDryRunWritesNothing(t *testing.T) {
	f := newFixture(t, cmftest.MTLS)
	r := f.pass(sync.ModeDryRun)
	mustOK(t, r)
	if !r.DryRun || r.Count(sync.Created) == 0 || f.s.Writes() != 0 {
		t.Fatalf("dry run: %s, %d write(s)", r.Summary(), f.s.Writes())
	}
}

// TestPlainHTTPEndpointIsAnError: policy TLS-006 refuses an http:// CMF
// endpoint at its line, and the environment is blocked.
func TestPlainHTTPEndpointIsAnError(t *testing.T) {
	f := newFixture(t, cmftest.OAuth)
	text, _ := os.ReadFile(filepath.Join(f.dir, "environments/prod-cmf.yaml"))
	if err := f.write("environments/prod-cmf.yaml", strings.Replace(string(text), "endpoint: https://", "endpoint: http://", 1)); err != nil {
		t.Fatal(err)
	}
	res, err := pipeline.Run(os.DirFS(f.dir), pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, fd := range res.Findings {
		if fd.Rule == "TLS-006" {
			got = append(got, fd.Location())
		}
	}
	if len(got) != 1 || got[0] != "environments/prod-cmf.yaml:22" || len(res.Blocked[envName]) == 0 {
		t.Fatalf("TLS-006 at %v, blocked %v", got, res.Blocked[envName])
	}
}

// TestCredentialsFromSecrets: mTLS and OAuth credentials come from
// Secrets of the environment's namespace; a missing key is named, the
// values never are.
func TestCredentialsFromSecrets(t *testing.T) {
	s := cmftest.New(t, cmftest.Options{Auth: cmftest.MTLS})
	secrets := map[string]map[string][]byte{
		"flink-prod/cmf-client": {"tls.crt": s.Client.Cert, "tls.key": s.Client.Key, "ca.crt": s.CA.PEM},
		"flink-prod/half":       {"tls.crt": s.Client.Cert},
	}
	read := func(_ context.Context, ns, name string) (map[string][]byte, error) {
		if d, ok := secrets[ns+"/"+name]; ok {
			return d, nil
		}
		return nil, os.ErrNotExist
	}
	env := &model.Environment{Metadata: model.ObjectMeta{Name: envName}, Spec: model.EnvironmentSpec{Namespace: "flink-prod",
		CMF: &model.CMF{Endpoint: s.URL, Auth: model.CMFAuth{MTLS: &model.CMFMTLS{SecretRef: "cmf-client"}}}}}
	sy, err := cmfsync.New(context.Background(), env, cmf.Sources{Secrets: read})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sy.Client.List(context.Background(), cmf.Ref{Kind: cmf.KindEnvironment}); err != nil {
		t.Fatalf("mTLS from a Secret: %v", err)
	}
	env.Spec.CMF.Auth.MTLS.SecretRef = "half"
	_, err = cmfsync.New(context.Background(), env, cmf.Sources{Secrets: read})
	if err == nil || !strings.Contains(err.Error(), `Secret flink-prod/half has no key "tls.key"`) || strings.Contains(err.Error(), "BEGIN") {
		t.Fatalf("half a Secret: %v", err)
	}
}

// TestSyncWithCredentialsFromAKubernetesSecret: the client certificate
// comes from a kubernetes.io/tls Secret in the environment's namespace on
// a real API server, read with sync.Syncer.ReadSecret as apply and the
// daemon read it.
func TestSyncWithCredentialsFromAKubernetesSecret(t *testing.T) {
	cfg := testenv.Config(t)
	f := newFixture(t, cmftest.MTLS)
	ns := "cmf-creds"
	testenv.CreateNamespace(t, cfg, ns)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "cmf-client"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": f.s.Client.Cert, "tls.key": f.s.Client.Key, "ca.crt": f.s.CA.PEM},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(filepath.Join(f.dir, "environments/prod-cmf.yaml"))
	env := string(text)
	env = env[:strings.Index(env, "    caFile: ")] + "    auth:\n      mtls: {secretRef: cmf-client}\n"
	env = strings.Replace(env, "namespace: flink-prod", "namespace: "+ns, 1)
	if err := f.write("environments/prod-cmf.yaml", env); err != nil {
		t.Fatal(err)
	}
	e, out, _ := f.render()
	k8s, err := sync.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sy, err := cmfsync.New(context.Background(), e, cmf.Sources{Secrets: k8s.ReadSecret})
	if err != nil {
		t.Fatal(err)
	}
	r := sy.Sync(context.Background(), e, out, sync.Options{})
	mustOK(t, r)
	if r.Count(sync.Created) == 0 {
		t.Fatalf("nothing created: %s", r.Summary())
	}
	b, _ := json.Marshal(r)
	if strings.Contains(string(b), "PRIVATE KEY") || strings.Contains(string(b), "BEGIN CERTIFICATE") {
		t.Fatal("a credential reached the result")
	}
}

// TestTLSSettingsTravelInTheCMFEnvironment: with tls.required, the TLS
// keys are in the CMF environment's application defaults, and policy reads
// them there as it reads a FlinkEnvironment's (no TLS-001 on the apps).
func TestTLSSettingsTravelInTheCMFEnvironment(t *testing.T) {
	f := newFixture(t, cmftest.MTLS)
	text, _ := os.ReadFile(filepath.Join(f.dir, "environments/prod-cmf.yaml"))
	env := strings.Replace(string(text), "  cmf:\n", "  tls: {required: true, secretName: flink-prod-tls}\n  cmf:\n", 1)
	if err := f.write("environments/prod-cmf.yaml", env); err != nil {
		t.Fatal(err)
	}
	res, err := pipeline.Run(os.DirFS(f.dir), pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range res.Findings {
		if fd.Rule == "TLS-001" {
			t.Errorf("%s %s: %s", fd.Rule, fd.Location(), fd.Message)
		}
	}
	conf, _, _ := unstructured.NestedStringMap(res.Rendered[envName].Objects[0].Object, "spec", "flinkApplicationDefaults", "spec", "flinkConfiguration")
	if conf["security.ssl.internal.enabled"] != "true" {
		t.Errorf("the CMF environment's defaults: %v", conf)
	}
}

// TestStatementChangedInCMFIsReplaced: SQL changed in CMF behind Git's
// back is drift; CMF refuses to change a running statement's SQL back
// (422), so the correction deletes the statement and creates it again.
func TestStatementChangedInCMFIsReplaced(t *testing.T) {
	f := newFixture(t, cmftest.MTLS)
	mustOK(t, f.pass(sync.ModeApply))
	name := f.statementNames()["checkout-pageviews"]
	path := "/environments/prod-cmf/statements/" + name
	live := f.s.Get(path)
	live["spec"].(map[string]any)["statement"] = "INSERT INTO x SELECT 1;"
	f.s.Set(path, live)
	r := f.pass(sync.ModeApply)
	mustOK(t, r)
	if actions(r)["Statement/"+name] != sync.Replaced || len(r.Drift) != 1 || r.Drift[0].Field != "spec.statement" {
		t.Fatalf("not replaced: %v %+v", actions(r), r.Drift)
	}
	if got := f.s.Get(path)["spec"].(map[string]any)["statement"]; !strings.Contains(got.(string), "checkout_pageviews") {
		t.Fatalf("the stand-in holds %v", got)
	}
}

// TestDefaultsCMFWritesAreNotDrift: a field CMF fills in with an empty
// default is not drift; one with a value is.
func TestDefaultsCMFWritesAreNotDrift(t *testing.T) {
	f := newFixture(t, cmftest.MTLS)
	mustOK(t, f.pass(sync.ModeApply))
	name := f.statementNames()["checkout-pageviews"]
	path := "/environments/prod-cmf/statements/" + name
	live := f.s.Get(path)
	live["spec"].(map[string]any)["stopped"] = false
	f.s.Set(path, live)
	if r := f.pass(sync.ModeObserve); len(r.Drift) != 0 {
		t.Fatalf("an empty default is drift: %+v", r.Drift)
	}
	live["spec"].(map[string]any)["flinkConfiguration"].(map[string]any)["pipeline.name"] = "mine"
	f.s.Set(path, live)
	if r := f.pass(sync.ModeObserve); len(r.Drift) != 1 || r.Drift[0].Field != `spec.flinkConfiguration["pipeline.name"]` || r.Drift[0].Desired != "(absent)" {
		t.Fatalf("a key added in CMF: %+v", r.Drift)
	}
}

// TestCredentialFilesOnlyFromTheirFolder: a file outside the folder of
// CMF credential files is refused, even through a symbolic link, so that
// a repository cannot send another file of flinksync's machine to an
// endpoint it chooses.
func TestCredentialFilesOnlyFromTheirFolder(t *testing.T) {
	f := newFixture(t, cmftest.OAuth)
	outside := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(outside, []byte("not for the repository"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(f.s.FilesDir, "link")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(filepath.Join(f.dir, "environments/prod-cmf.yaml"))
	for _, file := range []string{outside, link} {
		env := string(text)
		start := strings.Index(env, "clientSecretFile: ") + len("clientSecretFile: ")
		end := start + strings.Index(env[start:], "\n")
		if err := f.write("environments/prod-cmf.yaml", env[:start]+file+env[end:]); err != nil {
			t.Fatal(err)
		}
		e, _, _ := f.render()
		_, err := cmfsync.New(context.Background(), e, cmf.Sources{FilesDir: f.s.FilesDir})
		if err == nil || !strings.Contains(err.Error(), "is not in "+f.s.FilesDir) {
			t.Errorf("%s: %v", file, err)
		}
	}
}
