package render

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/testenv"
	"github.com/flinksync/flinksync/internal/testrepo"
)

// A target: fko environment with a SQL runner, a pool, two DDL and two DML
// statements (one from a sqlFile, with an explicit parallelism, stopped).
const envSQL = `apiVersion: flinksync.dev/v1alpha1
kind: Environment
metadata: {name: dev}
spec:
  target: fko
  namespace: flink-sql-dev
  nodes: {cpu: "8", memory: 32Gi, count: 4}
  serviceAccount: flink
  defaults:
    flinkVersion: v1_20
    flinkConfiguration:
      state.checkpoints.dir: s3://b/ckpt
      state.savepoints.dir: s3://b/sp
      from.env: env
      overridden.by.pool: env
  sqlRunner:
    image: example/sql-runner:1.20
    entryClass: org.example.SqlRunner
`

const fkoSQLPool = `apiVersion: flinksync.dev/v1alpha1
kind: ComputePool
metadata: {name: sql}
spec:
  taskManager: {cpu: "2", memory: 8Gi, slots: 2}
  flinkConfiguration:
    overridden.by.pool: pool
    overridden.by.statement: pool
`

const createOrders = `apiVersion: flinksync.dev/v1alpha1
kind: FlinkStatement
metadata: {name: create-orders}
spec:
  environments: [dev]
  pool: sql
  sql: |
    CREATE TABLE orders (id BIGINT, total DECIMAL(10, 2))
    WITH ('connector' = 'datagen');
`

const createSink = `apiVersion: flinksync.dev/v1alpha1
kind: FlinkStatement
metadata: {name: create-sink}
spec:
  environments: [dev]
  pool: sql
  sql: |
    CREATE TABLE sink WITH ('connector' = 'print') LIKE orders
    -- no semicolon above
`

const ordersToSink = `apiVersion: flinksync.dev/v1alpha1
kind: FlinkStatement
metadata:
  name: orders-to-sink
  labels: {team: checkout}
spec:
  environments: [dev]
  pool: sql
  sql: INSERT INTO sink SELECT * FROM orders;
  workload: {recordsPerSecond: 1000}
  properties:
    pipeline.name: it's orders
    table.exec.state.ttl: 1 h
  flinkConfiguration:
    overridden.by.statement: statement
`

const totals = `apiVersion: flinksync.dev/v1alpha1
kind: FlinkStatement
metadata: {name: totals}
spec:
  environments: [dev]
  pool: sql
  sqlFile: sql/totals.sql
  parallelism: 3
  stopped: true
`

func fkoSQLFiles() map[string]string {
	return map[string]string{
		"envs/dev.yaml": envSQL, "pools/sql.yaml": fkoSQLPool,
		"statements/create-orders.yaml": createOrders, "statements/create-sink.yaml": createSink,
		"statements/orders-to-sink.yaml": ordersToSink, "statements/totals.yaml": totals,
		"sql/totals.sql": "INSERT INTO sink SELECT id, SUM(total) FROM orders GROUP BY id",
	}
}

// withTLS is files with TLS and keystores in the environment.
func withTLS(files map[string]string) map[string]string {
	files["envs/dev.yaml"] = strings.Replace(files["envs/dev.yaml"], "  sqlRunner:\n", "  tls: {required: true, secretName: dev-tls}\n  sqlRunner:\n", 1)
	return files
}

// fkoSQLObjects renders environment dev of files and returns its objects of
// statements (those with the sql-kind label).
func fkoSQLObjects(t *testing.T, files map[string]string) []*Object {
	t.Helper()
	var out []*Object
	for _, o := range renderFKOSQL(t, files).Objects {
		if _, ok := o.GetLabels()[LabelSQLKind]; ok {
			out = append(out, o)
		}
	}
	return out
}

// fkoSQLSize sizes like sizing does for an explicit parallelism: totals
// (parallelism 3, 2 slots) gets 2 TaskManagers, the others fixed's 3.
func fkoSQLSize(env, name string) (Resources, error) {
	r := fixed
	if name == "totals" {
		r.TaskManagers = 2
	}
	return r, nil
}

// renderFKOSQL renders environment dev of files.
func renderFKOSQL(t *testing.T, files map[string]string) *Environment {
	t.Helper()
	repo, fsys := load(t, files)
	return testrepo.Clean[*Environment](t)(Render(InputOf(repo, repo.Environment("dev"), fkoSQLSize), Options{Source: fsys, Revision: "abc"}))
}

// runnerName is the name of statement st's runner objects in env dev.
func runnerName(t *testing.T, files map[string]string, st string) string {
	t.Helper()
	var names []string
	for _, o := range fkoSQLObjects(t, files) {
		if o.App == st && o.GetKind() == FlinkDeploymentGVK.Kind {
			names = append(names, o.GetName())
		}
	}
	if len(names) != 1 {
		t.Fatalf("statement %s: runner FlinkDeployments %v, want one", st, names)
	}
	return names[0]
}

func TestFKOSQLScript(t *testing.T) {
	repo, _ := load(t, fkoSQLFiles())
	var ddl []*model.EffectiveStatement
	var dml *model.EffectiveStatement
	for _, st := range repo.EffectiveStatements("dev") {
		switch {
		case st.Kind == model.SQLDDL:
			ddl = append(ddl, st)
		case st.Name == "orders-to-sink":
			dml = st
		}
	}
	slices.Reverse(ddl) // the script orders them by name whatever the input order
	b := &builder{env: repo.Environment("dev")}
	objs, errs := b.fkoSQL(Input{Env: b.env, Statements: append(ddl, dml), Size: fixedSize})
	if len(errs) > 0 || len(objs) != 2 {
		t.Fatalf("objects %d, errors %v", len(objs), errs)
	}
	want := `-- flinksync: statement orders-to-sink in environment dev, after the DDL statements it uses.
SET 'pipeline.name' = 'it''s orders';
SET 'table.exec.state.ttl' = '1 h';

-- create-orders
CREATE TABLE orders (id BIGINT, total DECIMAL(10, 2))
WITH ('connector' = 'datagen');

-- create-sink
CREATE TABLE sink WITH ('connector' = 'print') LIKE orders
-- no semicolon above
;

-- orders-to-sink
INSERT INTO sink SELECT * FROM orders;
`
	cm := objs[0]
	if got := str(t, cm, "data", SQLScriptKey); got != want {
		t.Errorf("script:\n%s\nwant:\n%s", got, want)
	}
	if cm.GetName() != ScriptName(dml, want) || objs[1].GetName() != cm.GetName() {
		t.Errorf("names %s and %s, want both %s", cm.GetName(), objs[1].GetName(), ScriptName(dml, want))
	}
}

func TestFKOSQLTerminated(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"INSERT INTO a SELECT 1;", "INSERT INTO a SELECT 1;\n"},
		{"  INSERT INTO a SELECT 1 ;  \n\n", "INSERT INTO a SELECT 1 ;\n"},
		{"INSERT INTO a SELECT 1", "INSERT INTO a SELECT 1\n;\n"},
		{"INSERT INTO a SELECT 1 -- one", "INSERT INTO a SELECT 1 -- one\n;\n"},
		{"INSERT INTO a SELECT 1;\n-- done\n  -- really", "INSERT INTO a SELECT 1;\n-- done\n  -- really\n"},
		{"EXECUTE STATEMENT SET\nBEGIN\nINSERT INTO a SELECT 1;\nEND", "EXECUTE STATEMENT SET\nBEGIN\nINSERT INTO a SELECT 1;\nEND\n;\n"},
	} {
		if got := terminated(c.in); got != c.want {
			t.Errorf("terminated(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestFKOSQLSetQuoting(t *testing.T) {
	for _, c := range []struct{ key, value, want string }{
		{"a.b", "c", "SET 'a.b' = 'c';\n"},
		{"pipeline.name", "it's", "SET 'pipeline.name' = 'it''s';\n"},
		{"k'", "''", "SET 'k''' = '''''';\n"},
		{"k", "", "SET 'k' = '';\n"},
		{"k", "a -- b; /* c */", "SET 'k' = 'a -- b; /* c */';\n"},
	} {
		got, err := setStatement(c.key, c.value)
		if err != nil || got != c.want {
			t.Errorf("setStatement(%q, %q) = %q, %v; want %q", c.key, c.value, got, err, c.want)
		}
	}
	for _, bad := range [][2]string{{"k", "a\nb"}, {"k", "a\rb"}, {"k\n", "v"}} {
		if got, err := setStatement(bad[0], bad[1]); err == nil {
			t.Errorf("setStatement(%q, %q) = %q, want an error", bad[0], bad[1], got)
		}
	}
}

func TestFKOSQLPropertyLineBreakIsAnError(t *testing.T) {
	files := fkoSQLFiles()
	files["statements/orders-to-sink.yaml"] = strings.Replace(ordersToSink, "pipeline.name: it's orders", `pipeline.name: "two\nlines"`, 1)
	repo, fsys := load(t, files)
	err := problems(t)(Render(InputOf(repo, repo.Environment("dev"), fixedSize), Options{Source: fsys}))
	if err == nil || !strings.Contains(err.Error(), `statements/orders-to-sink.yaml:12: cannot render statement orders-to-sink: spec.properties["pipeline.name"]:`) {
		t.Fatalf("want an error at the property's line, got %v", err)
	}
}

func TestFKOSQLObjects(t *testing.T) {
	objs := fkoSQLObjects(t, fkoSQLFiles())
	var ids []string
	for _, o := range objs {
		ids = append(ids, o.GetKind()+"/"+o.App)
		l := o.GetLabels()
		if l[LabelSQLKind] != "dml" || l[LabelName] != o.App || l[LabelManagedBy] != ManagedByValue || l[LabelEnvironment] != "dev" {
			t.Errorf("%s: labels %v", o.ID(), l)
		}
		if o.GetNamespace() != "flink-sql-dev" || o.GetAnnotations()[AnnRevision] != "abc" {
			t.Errorf("%s: namespace %q, annotations %v", o.ID(), o.GetNamespace(), o.GetAnnotations())
		}
		if want := "statements/" + o.App + ".yaml"; o.File != want || o.Line != 1 {
			t.Errorf("%s: from %s:%d, want %s:1", o.ID(), o.File, o.Line, want)
		}
	}
	// DDL statements are no job of their own; ConfigMaps come first in apply order.
	if got := strings.Join(ids, " "); got != "ConfigMap/orders-to-sink ConfigMap/totals FlinkDeployment/orders-to-sink FlinkDeployment/totals" {
		t.Fatalf("objects: %s", got)
	}
	name := objs[0].GetName()
	if !strings.HasPrefix(name, "orders-to-sink-") || len(name) != len("orders-to-sink-")+model.StatementHashLength {
		t.Errorf("name %q is not <statement>-<hash>", name)
	}
	if objs[0].GetLabels()["team"] != "checkout" {
		t.Errorf("the statement's own labels are missing: %v", objs[0].GetLabels())
	}
	fd := objs[2]
	if fd.GetName() != name {
		t.Errorf("FlinkDeployment %s and ConfigMap %s differ", fd.GetName(), name)
	}
	for want, path := range map[string][]string{
		"example/sql-runner:1.20":    {"spec", "image"},
		"v1_20":                      {"spec", "flinkVersion"},
		"flink":                      {"spec", "serviceAccount"},
		"native":                     {"spec", "mode"},
		"8192m":                      {"spec", "taskManager", "resource", "memory"},
		"3":                          {"spec", "taskManager", "replicas"},
		"2048m":                      {"spec", "jobManager", "resource", "memory"},
		"6":                          {"spec", "job", "parallelism"},
		"savepoint":                  {"spec", "job", "upgradeMode"},
		"running":                    {"spec", "job", "state"},
		model.DefaultSQLRunnerJarURI: {"spec", "job", "jarURI"},
		"org.example.SqlRunner":      {"spec", "job", "entryClass"},
		"env":                        {"spec", "flinkConfiguration", "from.env"},
		"pool":                       {"spec", "flinkConfiguration", "overridden.by.pool"},
		"statement":                  {"spec", "flinkConfiguration", "overridden.by.statement"},
		"2":                          {"spec", "flinkConfiguration", KeySlots},
		"30 s":                       {"spec", "flinkConfiguration", KeyCheckpointInterval},
	} {
		if got := str(t, fd, path...); got != want {
			t.Errorf("%s = %q, want %q", strings.Join(path, "."), got, want)
		}
	}
	if args, _, _ := unstructured.NestedStringSlice(fd.Object, "spec", "job", "args"); !slices.Equal(args, []string{SQLScriptDir + "/" + SQLScriptKey}) {
		t.Errorf("job.args %q: want the script's path", args)
	}
	if _, ok, _ := unstructured.NestedFieldNoCopy(fd.Object, "spec", "flinkConfiguration", KeySQLParallelism); ok {
		t.Errorf("a sized statement needs no %s", KeySQLParallelism)
	}
	if _, ok, _ := unstructured.NestedFieldNoCopy(fd.Object, "spec", "taskManager", "podTemplate"); ok {
		t.Error("without TLS the TaskManagers need no pod template")
	}
	checkScriptVolume(t, fd, name)
}

// checkScriptVolume checks that the JobManager of fd mounts ConfigMap cm at
// SQLScriptDir in Flink's main container.
func checkScriptVolume(t *testing.T, fd *Object, cm string) {
	t.Helper()
	pt := podTemplate(t, fd, "jobManager")
	found := false
	for _, v := range pt.Spec.Volumes {
		if v.Name == SQLScriptVolume {
			found = v.ConfigMap != nil && v.ConfigMap.Name == cm
		}
	}
	if !found {
		t.Errorf("%s: no volume %s of ConfigMap %s: %+v", fd.ID(), SQLScriptVolume, cm, pt.Spec.Volumes)
	}
	for _, c := range pt.Spec.Containers {
		if c.Name != MainContainer {
			t.Errorf("%s: container %q in the JobManager template", fd.ID(), c.Name)
			continue
		}
		for _, m := range c.VolumeMounts {
			if m.Name == SQLScriptVolume && m.MountPath == SQLScriptDir && m.ReadOnly {
				return
			}
		}
	}
	t.Errorf("%s: %s is not mounted read-only at %s in %s", fd.ID(), SQLScriptVolume, SQLScriptDir, MainContainer)
}

func TestFKOSQLStoppedAndExplicitParallelism(t *testing.T) {
	fd := fkoSQLObjects(t, fkoSQLFiles())[3]
	if fd.App != "totals" {
		t.Fatalf("got %s", fd.ID())
	}
	for _, c := range []struct {
		path []string
		want string
	}{
		{[]string{"spec", "job", "state"}, "suspended"},
		{[]string{"spec", "job", "parallelism"}, "3"},
		{[]string{"spec", "taskManager", "replicas"}, "2"},
		{[]string{"spec", "flinkConfiguration", KeySQLParallelism}, "3"},
	} {
		if got := str(t, fd, c.path...); got != c.want {
			t.Errorf("%s = %q, want %q", strings.Join(c.path, "."), got, c.want)
		}
	}
	// Stopping and resuming is an upgrade in place, not a new job.
	files := fkoSQLFiles()
	files["statements/totals.yaml"] = strings.Replace(totals, "stopped: true", "stopped: false", 1)
	if got := runnerName(t, files, "totals"); got != fd.GetName() {
		t.Errorf("resuming renamed the job: %s → %s", fd.GetName(), got)
	}
	fd = fkoSQLObjects(t, files)[3]
	if got := str(t, fd, "spec", "job", "state"); got != "running" {
		t.Errorf("state %q after stopped: false", got)
	}
}

// A change to the script (the statement's SQL or properties, or any DDL of
// the environment) is a new job; a change of its size or configuration is
// not.
func TestFKOSQLScriptChangeRenamesJobs(t *testing.T) {
	base := map[string]string{"orders-to-sink": runnerName(t, fkoSQLFiles(), "orders-to-sink"), "totals": runnerName(t, fkoSQLFiles(), "totals")}
	for _, c := range []struct {
		what    string
		file    string
		from    string
		to      string
		renamed []string
	}{
		{"a DDL statement's SQL", "statements/create-orders.yaml", "id BIGINT", "id INT", []string{"orders-to-sink", "totals"}},
		{"a DML statement's SQL", "statements/orders-to-sink.yaml", "SELECT *", "SELECT id, total", []string{"orders-to-sink"}},
		{"a property", "statements/orders-to-sink.yaml", "1 h", "2 h", []string{"orders-to-sink"}},
		{"a Flink key", "statements/orders-to-sink.yaml", "overridden.by.statement: statement", "x: y", nil},
		{"the parallelism", "statements/totals.yaml", "parallelism: 3", "parallelism: 5", nil},
		{"the runner's image", "envs/dev.yaml", "sql-runner:1.20", "sql-runner:1.21", nil},
	} {
		files := fkoSQLFiles()
		if !strings.Contains(files[c.file], c.from) {
			t.Fatalf("%s: %q not in %s", c.what, c.from, c.file)
		}
		files[c.file] = strings.Replace(files[c.file], c.from, c.to, 1)
		for st, old := range base {
			got := runnerName(t, files, st)
			if renamed := slices.Contains(c.renamed, st); renamed != (got != old) {
				t.Errorf("changing %s: %s's job %s → %s, want renamed: %v", c.what, st, old, got, renamed)
			}
		}
	}
}

func TestFKOSQLWithTLS(t *testing.T) {
	objs := fkoSQLObjects(t, withTLS(fkoSQLFiles()))
	fd := objs[2]
	if fd.GetKind() != FlinkDeploymentGVK.Kind {
		t.Fatalf("got %s", fd.ID())
	}
	checkScriptVolume(t, fd, fd.GetName())
	// The TLS wiring is the one applications get, for the runner's image;
	// the JobManager's template has the script volume besides.
	repo, _ := load(t, withTLS(fkoSQLFiles()))
	b := &builder{env: repo.Environment("dev")}
	tls := &Object{Unstructured: &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{
		"tm": map[string]any{"podTemplate": podTemplateMap(b.tlsPodTemplate("example/sql-runner:1.20", ""))},
	}}}}
	want := podTemplate(t, tls, "tm")
	if tm := podTemplate(t, fd, "taskManager"); !reflect.DeepEqual(tm, want) {
		t.Errorf("TaskManager template:\n%+v\nwant the TLS one:\n%+v", tm, want)
	}
	jm := podTemplate(t, fd, "jobManager")
	jm.Spec.Volumes = slices.DeleteFunc(jm.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == SQLScriptVolume })
	for i := range jm.Spec.Containers {
		c := &jm.Spec.Containers[i]
		c.VolumeMounts = slices.DeleteFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == SQLScriptVolume })
	}
	if !reflect.DeepEqual(jm, want) {
		t.Errorf("JobManager template without the script volume:\n%+v\nwant the TLS one:\n%+v", jm, want)
	}
	if got := str(t, fd, "spec", "flinkConfiguration", "kubernetes.secrets"); got != "dev-tls:/opt/flink/tls" {
		t.Errorf("kubernetes.secrets = %q", got)
	}
}

// TestFKOSQLGolden compares the objects rendered for the statements of
// fkoSQLFiles, without and with TLS, with testdata/golden/fko-sql-*.yaml. Run
// `go test ./internal/render -run Golden -update` after a deliberate change
// and review the diff.
func TestFKOSQLGolden(t *testing.T) {
	for name, files := range map[string]map[string]string{"plain": fkoSQLFiles(), "tls": withTLS(fkoSQLFiles())} {
		got, err := YAML(fkoSQLObjects(t, files))
		if err != nil {
			t.Fatal(err)
		}
		checkGolden(t, filepath.Join("testdata", "golden", "fko-sql-"+name+".yaml"), got)
	}
}

// TestFKOSQLAcceptedByRealFKOSchema serves the real FKO 1.15 CRDs (from
// ../shared, beside the checkout in CI) and dry-runs everything rendered
// for the statements, without and with TLS: the ConfigMaps, the runner
// FlinkDeployments and the environment's RBAC.
func TestFKOSQLAcceptedByRealFKOSchema(t *testing.T) {
	cfg := testenv.Config(t)
	testenv.UseRealCRDs(t, cfg, "../shared/reference/crds")
	checked := map[string]int{}
	for _, name := range []string{"plain", "tls"} {
		files := fkoSQLFiles()
		if name == "tls" {
			files = withTLS(files)
		}
		var objs []*unstructured.Unstructured
		for _, o := range renderFKOSQL(t, files).Objects {
			objs = append(objs, o.Unstructured)
			checked[o.GetKind()]++
		}
		if f := testenv.DryRunApply(t, cfg, objs); len(f) > 0 {
			t.Errorf("%s: rejected:\n  %s", name, strings.Join(f, "\n  "))
		}
	}
	testenv.RequireChecked(t, checked, "ConfigMap", "FlinkDeployment")
}
