package render

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/testrepo"
)

const envFKO = `apiVersion: flinksync.dev/v1alpha1
kind: Environment
metadata: {name: prod}
spec:
  target: fko
  namespace: flink-prod
  nodes: {cpu: "8", memory: 32Gi, count: 4}
  serviceAccount: flink-jm
  defaults:
    image: flink:1.20
    flinkVersion: v1_20
    flinkConfiguration:
      state.checkpoints.dir: s3://b/ckpt
      from.env: env
      overridden.by.pool: env
  tls: {required: true, secretName: prod-tls}
`

const envCFK = `apiVersion: flinksync.dev/v1alpha1
kind: Environment
metadata: {name: eu}
spec:
  target: cfk
  namespace: flink-eu
  nodes: {cpu: "8", memory: 32Gi, count: 4}
  defaults:
    image: cp-flink:1.20
    flinkVersion: v1_20
    flinkConfiguration: {state.checkpoints.dir: s3://b/eu}
  cfk:
    cmfRestClassRef: {name: default, namespace: confluent}
`

const pool = `apiVersion: flinksync.dev/v1alpha1
kind: ComputePool
metadata: {name: p}
spec:
  taskManager: {cpu: "2", memory: 8Gi, slots: 2}
  flinkConfiguration:
    overridden.by.pool: pool
    overridden.by.app: pool
`

const app = `apiVersion: flinksync.dev/v1alpha1
kind: FlinkApplication
metadata:
  name: orders
  labels: {team: checkout}
spec:
  environments: [prod, eu]
  pool: p
  image: reg/orders:1.0
  job:
    jarURI: local:///orders.jar
    entryClass: com.example.Orders
    args: [--topic, orders]
    upgradeMode: savepoint
  workload: {recordsPerSecond: 1000}
  flinkConfiguration:
    overridden.by.app: app
`

var fixed = Resources{TaskManagers: 3, Slots: 2, TaskManagerCPU: 2, TaskManagerMemory: 8 << 30,
	JobManagerCPU: 1, JobManagerMemory: 2 << 30, CheckpointInterval: 30 * time.Second}

func fixedSize(env, app string) (Resources, error) { return fixed, nil }

func load(t *testing.T, files map[string]string) (*model.Repository, fstest.MapFS) {
	t.Helper()
	fsys := fstest.MapFS{}
	for k, v := range files {
		fsys[k] = &fstest.MapFile{Data: []byte(v)}
	}
	return testrepo.Clean[*model.Repository](t)(model.LoadFS(fsys)), fsys
}

func baseFiles() map[string]string {
	return map[string]string{"envs/prod.yaml": envFKO, "envs/eu.yaml": envCFK, "pools/p.yaml": pool, "apps/orders.yaml": app}
}

func renderEnv(t *testing.T, files map[string]string, env string, opts Options) *Environment {
	t.Helper()
	repo, fsys := load(t, files)
	if opts.Source == nil {
		opts.Source = fsys
	}
	return testrepo.Clean[*Environment](t)(Render(InputOf(repo, repo.Environment(env), fixedSize), opts))
}

func find(t *testing.T, e *Environment, kind, name string) *Object {
	t.Helper()
	for _, o := range e.Objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s among %d objects", kind, name, len(e.Objects))
	return nil
}

func str(t *testing.T, o *Object, path ...string) string {
	t.Helper()
	v, ok, err := unstructured.NestedFieldNoCopy(o.Object, path...)
	if err != nil || !ok {
		t.Fatalf("%s: no field %s", o.ID(), strings.Join(path, "."))
	}
	switch x := v.(type) {
	case string:
		return x
	default:
		b, _ := yamlString(x)
		return b
	}
}

func yamlString(v any) (string, error) {
	b, err := YAML([]*Object{{Unstructured: &unstructured.Unstructured{Object: map[string]any{"v": v}}}})
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(string(b), "---\n"), "v: ")), err
}

func TestRenderFKO(t *testing.T) {
	e := renderEnv(t, baseFiles(), "prod", Options{Revision: "abc123"})
	var kinds []string
	for _, o := range e.Objects {
		kinds = append(kinds, o.GetKind()+"/"+o.GetName())
		if o.GetNamespace() != "flink-prod" {
			t.Errorf("%s: namespace %q, want flink-prod", o.ID(), o.GetNamespace())
		}
		l := o.GetLabels()
		if l[LabelManagedBy] != "flinksync" || l[LabelEnvironment] != "prod" {
			t.Errorf("%s: labels %v", o.ID(), l)
		}
		if o.GetAnnotations()[AnnRevision] != "abc123" {
			t.Errorf("%s: revision annotation missing: %v", o.ID(), o.GetAnnotations())
		}
	}
	if got := strings.Join(kinds, " "); got != "ServiceAccount/flink-jm Role/flink-jm RoleBinding/flink-jm-role-binding FlinkDeployment/orders" {
		t.Fatalf("objects in apply order: %s", got)
	}
	fd := find(t, e, "FlinkDeployment", "orders")
	checks := map[string][]string{
		"reg/orders:1.0":      {"spec", "image"},
		"v1_20":               {"spec", "flinkVersion"},
		"flink-jm":            {"spec", "serviceAccount"},
		"native":              {"spec", "mode"},
		"8192m":               {"spec", "taskManager", "resource", "memory"},
		"2":                   {"spec", "taskManager", "resource", "cpu"},
		"3":                   {"spec", "taskManager", "replicas"},
		"2048m":               {"spec", "jobManager", "resource", "memory"},
		"6":                   {"spec", "job", "parallelism"},
		"savepoint":           {"spec", "job", "upgradeMode"},
		"running":             {"spec", "job", "state"},
		"local:///orders.jar": {"spec", "job", "jarURI"},
		"orders":              {"metadata", "labels", LabelName},
		"checkout":            {"metadata", "labels", "team"},
	}
	for want, path := range checks {
		if got := str(t, fd, path...); got != want {
			t.Errorf("%s = %q, want %q", strings.Join(path, "."), got, want)
		}
	}
	conf := func(k string) string { return str(t, fd, "spec", "flinkConfiguration", k) }
	for k, want := range map[string]string{
		"from.env": "env", "overridden.by.pool": "pool", "overridden.by.app": "app",
		KeySlots: "2", KeyCheckpointInterval: "30 s",
		"security.ssl.internal.enabled": "true", "security.ssl.rest.enabled": "true",
		"security.ssl.internal.keystore": "/opt/flink/tls/keystore.p12",
		"security.ssl.rest.truststore":   "/opt/flink/tls/truststore.p12",
		"kubernetes.secrets":             "prod-tls:/opt/flink/tls",
	} {
		if got := conf(k); got != want {
			t.Errorf("flinkConfiguration[%s] = %q, want %q", k, got, want)
		}
	}
	role := find(t, e, "Role", "flink-jm")
	if got := str(t, role, "rules"); !strings.Contains(got, "deployments/finalizers") || strings.Contains(got, "secrets") {
		t.Errorf("role rules: %s", got)
	}
	if fd.File != "apps/orders.yaml" || fd.App != "orders" || fd.FromOverlay {
		t.Errorf("origin of the FlinkDeployment: %+v", fd)
	}
}

func TestAppCheckpointIntervalWins(t *testing.T) {
	files := baseFiles()
	files["apps/orders.yaml"] = strings.Replace(app, "overridden.by.app: app", "execution.checkpointing.interval: 2 min", 1)
	fd := find(t, renderEnv(t, files, "prod", Options{}), "FlinkDeployment", "orders")
	if got := str(t, fd, "spec", "flinkConfiguration", KeyCheckpointInterval); got != "2 min" {
		t.Errorf("the app's own interval must win, got %q", got)
	}
}

func TestRenderCFK(t *testing.T) {
	e := renderEnv(t, baseFiles(), "eu", Options{})
	fe := find(t, e, "FlinkEnvironment", "eu")
	if got := str(t, fe, "spec", "kubernetesNamespace"); got != "flink-eu" {
		t.Errorf("kubernetesNamespace %q", got)
	}
	if got := str(t, fe, "spec", "flinkApplicationDefaults", "spec", "flinkConfiguration", "state.checkpoints.dir"); got != "s3://b/eu" {
		t.Errorf("defaults: %q", got)
	}
	if got := str(t, fe, "spec", "cmfRestClassRef", "namespace"); got != "confluent" {
		t.Errorf("cmfRestClassRef: %q", got)
	}
	fa := find(t, e, "FlinkApplication", "orders")
	if got := str(t, fa, "spec", "flinkEnvironment"); got != "eu" {
		t.Errorf("flinkEnvironment %q", got)
	}
	if got := str(t, fa, "spec", "taskManager", "replicas"); got != "3" {
		t.Errorf("replicas %q", got)
	}
	if fa.GetAPIVersion() != "platform.confluent.io/v1beta1" {
		t.Errorf("apiVersion %q", fa.GetAPIVersion())
	}
	if Rank(fe.GetKind()) >= Rank(fa.GetKind()) {
		t.Errorf("FlinkEnvironment must be applied before FlinkApplication")
	}
}

func TestFlinkMemory(t *testing.T) {
	for in, want := range map[int64]string{8 << 30: "8192m", 1536 << 20: "1536m", 1000 << 10: "1000k", 1000: "1000"} {
		if got := FlinkMemory(in); got != want {
			t.Errorf("FlinkMemory(%d) = %q, want %q", in, got, want)
		}
	}
	q := model.MustQuantity("8Gi")
	if got := FlinkMemory(q.Value()); got != "8192m" {
		t.Errorf("8Gi → %q", got)
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	var first []byte
	for i := 0; i < 5; i++ {
		e := renderEnv(t, withOverlay(overlayLabelAndToleration), "prod", Options{Revision: "r"})
		b, err := YAML(e.Objects)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = b
		} else if !bytes.Equal(first, b) {
			t.Fatalf("render %d differs from the first", i)
		}
	}
}

const overlayLabelAndToleration = `labels:
- pairs: {cost-center: data}
patches:
- target: {kind: FlinkDeployment}
  patch: |-
    - op: add
      path: /spec/podTemplate
      value:
        spec:
          tolerations: [{key: dedicated, operator: Equal, value: flink, effect: NoSchedule}]
`

func withOverlay(k string, extra ...string) map[string]string {
	f := baseFiles()
	f["overlays/prod/kustomization.yaml"] = k
	for i := 0; i+1 < len(extra); i += 2 {
		f[extra[i]] = extra[i+1]
	}
	return f
}

func TestOverlayPatchesShowUp(t *testing.T) {
	e := renderEnv(t, withOverlay(overlayLabelAndToleration), "prod", Options{})
	if e.Overlay != "overlays/prod/kustomization.yaml" {
		t.Errorf("overlay file %q", e.Overlay)
	}
	fd := find(t, e, "FlinkDeployment", "orders")
	if got := fd.GetLabels()["cost-center"]; got != "data" {
		t.Errorf("overlay label missing: %v", fd.GetLabels())
	}
	if got := str(t, fd, "spec", "podTemplate", "spec", "tolerations"); !strings.Contains(got, "dedicated") {
		t.Errorf("overlay toleration missing: %s", got)
	}
	if fd.FromOverlay || fd.File != "apps/orders.yaml" {
		t.Errorf("a patched object keeps its origin: %+v", fd)
	}
	if _, ok := fd.GetAnnotations()[annRenderID]; ok {
		t.Errorf("internal annotation leaked")
	}
}

func TestOverlayInjectedObjectIsAttributedToOverlay(t *testing.T) {
	crb := `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: sneaky}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: flink-jm, namespace: flink-prod}]
`
	e := renderEnv(t, withOverlay("resources: [crb.yaml]\n", "overlays/prod/crb.yaml", crb), "prod", Options{})
	o := find(t, e, "ClusterRoleBinding", "sneaky")
	if !o.FromOverlay || o.File != "overlays/prod/kustomization.yaml" {
		t.Errorf("an injected object must point at the overlay: %+v", o)
	}
	if e.Objects[0].GetKind() != "ClusterRoleBinding" {
		t.Errorf("cluster-scoped RBAC sorts first in apply order, got %s", e.Objects[0].GetKind())
	}
}

func TestOverlayRefusesRemote(t *testing.T) {
	for _, k := range []string{
		"resources:\n- https://github.com/example/repo//base?ref=v1\n",
		"resources: [github.com/example/repo/base]\n",
		"components: [git@github.com:example/c.git]\n",
		"helmCharts: [{name: x, repo: https://charts.example.com}]\n",
	} {
		repo, fsys := load(t, withOverlay(k))
		err := problems(t)(Render(InputOf(repo, repo.Environment("prod"), fixedSize), Options{Source: fsys}))
		if err == nil || !strings.Contains(err.Error(), ErrRemoteOverlay.Error()) || !strings.Contains(err.Error(), "overlays/prod/kustomization.yaml") {
			t.Errorf("%q: want a refusal naming the file, got %v", k, err)
		}
	}
}

func TestOverlayErrorNamesFile(t *testing.T) {
	repo, fsys := load(t, withOverlay("patches: [{path: missing.yaml}]\n"))
	err := problems(t)(Render(InputOf(repo, repo.Environment("prod"), fixedSize), Options{Source: fsys}))
	if err == nil || !strings.Contains(err.Error(), "overlays/prod/kustomization.yaml") {
		t.Fatalf("want an error naming the overlay, got %v", err)
	}
}

func TestSizingErrorBlocksEnvironment(t *testing.T) {
	repo, fsys := load(t, baseFiles())
	err := problems(t)(Render(InputOf(repo, repo.Environment("prod"),
		func(string, string) (Resources, error) { return Resources{}, errors.New("too big") }), Options{Source: fsys}))
	if err == nil || !strings.Contains(err.Error(), "apps/orders.yaml") {
		t.Fatalf("want an error naming the app's file, got %v", err)
	}
}

func TestOverlayEntriesMustBeLocalFiles(t *testing.T) {
	for k, want := range map[string]string{
		"resources: [example.com/org/repo/base]\n": "no such file or folder",
		"resources: [../../environments]\n":        "outside the overlays/ folder",
		"components: [missing]\n":                  "no such file or folder",
		"transformers: [t.yaml]\n":                 "not allowed in overlays",
	} {
		repo, fsys := load(t, withOverlay(k))
		err := problems(t)(Render(InputOf(repo, repo.Environment("prod"), fixedSize), Options{Source: fsys}))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "overlays/prod/kustomization.yaml") {
			t.Errorf("%q: want an error %q naming the overlay, got %v", k, want, err)
		}
	}
}

// problems returns a function that takes a render that should have failed
// and returns its findings as one error ("file:line: message" each), nil
// when it rendered. It fails tb when the render broke the stage contract:
// an error (Render ran), output beside findings, or a finding that is not
// a RENDER-001 error with a file and a line.
func problems(tb testing.TB) func(*Environment, []*diag.Finding, error) error {
	return func(out *Environment, findings []*diag.Finding, err error) error {
		tb.Helper()
		if err != nil {
			tb.Fatalf("Render could not run: %v; a render problem is a finding", err)
		}
		if len(findings) == 0 {
			return nil
		}
		if out != nil {
			tb.Fatalf("output beside findings %v", findings)
		}
		msgs := make([]string, len(findings))
		for i, f := range findings {
			if f.Rule != RENDER001.ID() || f.Severity != diag.Error || f.File == "" || f.Line < 1 || f.Environment == "" {
				tb.Fatalf("a finding without its rule, severity, file, line or environment: %+v", f)
			}
			msgs[i] = f.String()
		}
		return errors.New(strings.Join(msgs, "\n"))
	}
}

// A render error of an app or a statement is a finding at the line of its
// own document, not at the environment's file.
func TestRenderFindingsArePlacedAtTheirDocument(t *testing.T) {
	env := &model.Environment{Metadata: model.ObjectMeta{Name: "dev"}, Origin: model.Origin{File: "environments/dev.yaml"}}
	err := &renderError{errors: []*SourceError{
		{File: "statements/views.yaml", Line: 12, What: "statement views", Err: errors.New("a line break in a property")},
		{File: "apps/orders.yaml", Line: 3, What: "app orders", Err: errors.New("too big")},
	}}
	got := findings(env, err)
	if len(got) != 2 || got[0].File != "statements/views.yaml" || got[0].Line != 12 || got[0].App != "views" ||
		got[1].File != "apps/orders.yaml" || got[1].Line != 3 || got[1].App != "orders" || got[0].Environment != "dev" || got[0].Rule != RENDER001.ID() {
		t.Fatalf("findings: %+v %+v", got[0], got[1])
	}
	if f := findings(env, errors.New("odd")); len(f) != 1 || f[0].File != "environments/dev.yaml" || f[0].Line != 1 {
		t.Fatalf("an unplaced error goes to the environment's file: %+v", f[0])
	}
}
