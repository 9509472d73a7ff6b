package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/flinksync/flinksync/internal/sync"
	"github.com/flinksync/flinksync/internal/testenv"
)

// sqlEdits add Flink SQL to the compliant repository: in eu (cfk) a
// catalog with one database, a DDL statement and a streaming statement
// whose SQL is in a file; in prod (fko, TLS required) a streaming
// statement run by the SQL runner. Both run on pool sql. Line numbers
// below refer to these files.
var sqlEdits = []edit{
	{"environments/prod.yaml", "  tls:\n", "  sqlRunner:\n    image: flink-sql-runner:1.20\n  tls:\n"},
	{"pools/sql.yaml", "", `apiVersion: flinksync.dev/v1alpha1
kind: ComputePool
metadata:
  name: sql
spec:
  taskManager:
    cpu: "2"
    memory: 8Gi
    slots: 2
  jobManager:
    cpu: "1"
    memory: 2Gi
  maxTaskManagers: 4
`},
	{"catalogs/kafka.yaml", "", `apiVersion: flinksync.dev/v1alpha1
kind: KafkaCatalog
metadata:
  name: kafka
spec:
  environments: [eu]
  schemaRegistry:
    url: https://sr.confluent.svc:8081
    secret: sr-credentials
  databases:
    - name: orders
      bootstrapServers: kafka.confluent.svc:9071
      secret: kafka-credentials
`},
	{"statements/create-orders.yaml", "", `apiVersion: flinksync.dev/v1alpha1
kind: FlinkStatement
metadata:
  name: create-orders
spec:
  environments: [eu]
  pool: sql
  catalog: kafka
  database: orders
  sql: |
    CREATE TABLE orders (id BIGINT) WITH ('connector' = 'confluent');
`},
	{"statements/enrich.yaml", "", `apiVersion: flinksync.dev/v1alpha1
kind: FlinkStatement
metadata:
  name: enrich
spec:
  environments: [eu]
  pool: sql
  catalog: kafka
  database: orders
  sqlFile: sql/enrich.sql
  parallelism: 2
  flinkConfiguration:
    pipeline.name: enrich
`},
	{"sql/enrich.sql", "", "INSERT INTO enriched\nSELECT id FROM orders;\n"},
	{"statements/count.yaml", "", `apiVersion: flinksync.dev/v1alpha1
kind: FlinkStatement
metadata:
  name: count
spec:
  environments: [prod]
  pool: sql
  sql: INSERT INTO counts SELECT COUNT(*) FROM clicks
  workload:
    recordsPerSecond: 1000
`},
}

// Lines of sqlEdits that findings point at.
const (
	enrichName, enrichPool, enrichCatalog, enrichDatabase, enrichParallelism = 4, 7, 8, 9, 11
	catalogURL                                                               = 8
)

// euTLS makes eu require TLS, with its certificate secret.
var euTLS = edit{"environments/eu.yaml", "      authentication: mtls\n", "      authentication: mtls\n  tls:\n    required: true\n    secretName: eu-tls\n"}

// withSQL is sqlEdits followed by edits.
func withSQL(edits ...edit) []edit { return append(append([]edit(nil), sqlEdits...), edits...) }

func TestValidateSQLRepositoryPasses(t *testing.T) {
	code, doc := validateJSON(t, "--repo", writeRepo(t, sqlEdits...))
	if code != 0 || len(doc.Findings) != 0 {
		t.Fatalf("want exit 0 and no finding, got exit %d:\n%s", code, dumpFindings(doc.Findings))
	}
}

// A bad pool, catalog or database reference and a statement name too long
// for CMF each fail validate, with the file and line of the field.
func TestValidateSQLReferencesAndNames(t *testing.T) {
	long := strings.Repeat("n", 46)
	for _, tc := range []struct {
		name string
		edit edit
		line int
		want []string
	}{
		{"pool", edit{"statements/enrich.yaml", "pool: sql", "pool: nope"}, enrichPool, []string{`pool "nope" not found`}},
		{"catalog", edit{"statements/enrich.yaml", "catalog: kafka", "catalog: nope"}, enrichCatalog, []string{`catalog "nope" not found`}},
		{"database", edit{"statements/enrich.yaml", "database: orders", "database: nope"}, enrichDatabase, []string{`database "nope" not found in catalog "kafka"`}},
		{"46-character name", edit{"statements/enrich.yaml", "name: enrich", "name: " + long}, enrichName, []string{long, "46"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := writeRepo(t, withSQL(tc.edit)...)
			code, out, errOut := runCLI(t, "validate", "--repo", repo)
			at := fmt.Sprintf("statements/enrich.yaml:%d: error ", tc.line)
			if code != exitFound || !strings.Contains(out, at) {
				t.Fatalf("want exit 1 and an error at %s, got %d:\n%s%s", at, code, out, errOut)
			}
			for _, line := range strings.Split(out, "\n") {
				if !strings.HasPrefix(line, at) {
					continue
				}
				for _, w := range tc.want {
					if !strings.Contains(line, w) {
						t.Errorf("the error does not say %q: %s", w, line)
					}
				}
			}
		})
	}
}

func TestValidateSQLPolicy(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edits []edit
		rule  string
		file  string
		line  int
		app   string
	}{
		{"statement above its pool's maxTaskManagers", []edit{{"statements/enrich.yaml", "parallelism: 2", "parallelism: 10"}},
			"CPU-003", "statements/enrich.yaml", enrichParallelism, "enrich"},
		{"pool of statements larger than a node", []edit{{"pools/sql.yaml", `cpu: "2"`, `cpu: "12"`}},
			"CPU-001", "pools/sql.yaml", poolTMCPU, ""},
		{"password in a statement's SQL", []edit{{"sql/enrich.sql", "orders;", "orders /*+ OPTIONS('properties.sasl.jaas.config' = 'PlainLoginModule required username=\"u\" password=\"p\";') */;"}},
			"TLS-003", "sql/enrich.sql", 2, "enrich"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, doc := validateJSON(t, "--repo", writeRepo(t, withSQL(tc.edits...)...))
			if code != exitFound || len(doc.Findings) == 0 {
				t.Fatalf("want exit 1 with %s, got %d:\n%s", tc.rule, code, dumpFindings(doc.Findings))
			}
			for _, f := range doc.Findings {
				if f.Rule != tc.rule || f.File != tc.file || f.Line != tc.line || f.App != tc.app {
					t.Errorf("want only %s at %s:%d for %q:\n%s", tc.rule, tc.file, tc.line, tc.app, dumpFindings(doc.Findings))
					break
				}
			}
		})
	}
}

// size lists streaming statements beside the applications, of kind
// statement; DDL statements are not sized.
func TestSizeListsStatements(t *testing.T) {
	repo := writeRepo(t, sqlEdits...)
	out, errOut, code := execSize(t, "--repo", repo, "--env", "eu")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var row []string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[0] == "enrich" {
			row = f
		}
	}
	// enrich: parallelism 2 on 2 slots: one TaskManager of 2 CPU.
	if row == nil || row[1] != "statement" || row[2] != "1" || row[3] != "2" || row[4] != "2" || strings.Contains(out, "create-orders") {
		t.Fatalf("want enrich as a statement with 1 TaskManager, 2 slots, parallelism 2, and no DDL row:\n%s", out)
	}
	if !strings.Contains(out, "\n  a  ") || !strings.Contains(out, " app ") {
		t.Errorf("the app is listed as an app:\n%s", out)
	}

	out, _, code = execSize(t, "--repo", repo, "--app", "enrich", "-o", "json")
	var results []struct {
		Environment  string  `json:"environment"`
		App          string  `json:"app"`
		Statement    bool    `json:"statement"`
		TaskManagers int     `json:"taskManagers"`
		Parallelism  int     `json:"parallelism"`
		TotalCPU     float64 `json:"totalCPU"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &results) != nil || len(results) != 1 {
		t.Fatalf("--app enrich: exit %d:\n%s", code, out)
	}
	if r := results[0]; r.Environment != "eu" || !r.Statement || r.TaskManagers != 1 || r.Parallelism != 2 || r.TotalCPU != 3 {
		t.Errorf("enrich: %+v", r)
	}
	out, _, _ = execSize(t, "--repo", repo, "--env", "eu", "--app", "enrich")
	if !strings.Contains(out, "environment total (1 app(s) and 1 statement(s))") {
		t.Errorf("the filtered total counts apps and statements apart:\n%s", out)
	}
}

// size fails, naming file and line, when an application or a statement
// needs more TaskManagers than its pool allows; it still prints the sizing.
func TestSizeFailsAboveMaxTaskManagers(t *testing.T) {
	repo := writeRepo(t, withSQL(edit{"apps/a.yaml", "taskManagers: 2", "taskManagers: 5"},
		edit{"statements/enrich.yaml", "parallelism: 2", "parallelism: 10"})...)
	out, errOut, code := execSize(t, "--repo", repo)
	if code != exitFound {
		t.Fatalf("exit %d, want %d:\n%s%s", code, exitFound, out, errOut)
	}
	for _, want := range []string{
		fmt.Sprintf(`apps/a.yaml:%d: environment eu: app a needs 5 TaskManagers but pool "p" allows at most 4 (maxTaskManagers, policy CPU-003)`, appTaskManagers),
		fmt.Sprintf(`apps/a.yaml:%d: environment prod: app a needs 5 TaskManagers`, appTaskManagers),
		fmt.Sprintf(`statements/enrich.yaml:%d: environment eu: statement enrich needs 5 TaskManagers but pool "sql" allows at most 4`, enrichParallelism),
		"lower spec.parallelism",
		"3 application(s) or statement(s) need more TaskManagers than their pool's maxTaskManagers",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if !strings.Contains(out, "environment eu:") || !strings.Contains(out, "enrich") {
		t.Errorf("the sizing is printed all the same:\n%s", out)
	}
	if !strings.Contains(out, `warning: 5 TaskManagers, above pool sql's maxTaskManagers of 4 (policy CPU-003)`) {
		t.Errorf("the text output warns under the row:\n%s", out)
	}
	out, _, code = execSize(t, "--repo", repo, "--env", "eu", "--app", "enrich", "-o", "json")
	var results []struct {
		Exceeds bool `json:"exceedsMaxTaskManagers"`
		Max     int  `json:"maxTaskManagers"`
	}
	if code != exitFound || json.Unmarshal([]byte(out), &results) != nil || len(results) != 1 || !results[0].Exceeds || results[0].Max != 4 {
		t.Errorf("--output json: exit %d, want %d and exceedsMaxTaskManagers true, maxTaskManagers 4:\n%s", code, exitFound, out)
	}
	if _, errOut, code := execSize(t, "--repo", repo, "--env", "prod", "--app", "count"); code != exitOK {
		t.Errorf("a selection within its pools exits 0, got %d: %s", code, errOut)
	}
}

// render prints the objects of the SQL kinds: the CFK ones in eu, the SQL
// runner's ConfigMap and FlinkDeployment in prod.
func TestRenderSQLObjects(t *testing.T) {
	code, out, errOut := runCLI(t, "render", "--repo", writeRepo(t, sqlEdits...))
	if code != 0 {
		t.Fatalf("render exited %d:\n%s", code, errOut)
	}
	for _, want := range []string{
		"kind: FlinkComputePool\nmetadata:\n", "kind: FlinkStatement\n", "kind: FlinkKafkaCatalog\n", "kind: FlinkKafkaDatabase\n",
		"kind: FlinkSecret\n", "kind: FlinkEnvironmentSecretMapping\n", "name: enrich-", "name: create-orders-", "name: count-",
		"computePoolName: sql\n", "sql.current-catalog: kafka\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("render output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// apply then drift on a repository with SQL in a cfk environment: no drift;
// a live edit of a FlinkStatement's parallelism is drift, named by field.
func TestApplyDriftSQL(t *testing.T) {
	cfg := testenv.Config(t)
	kc := testenv.WriteKubeconfig(t, cfg)
	sfx := fmt.Sprintf("-s%d", clusterRuns.Add(1))
	repo := t.TempDir()
	testenv.CopyTree(t, writeRepo(t, sqlEdits...), repo, testenv.UniqueNamespaces(t, cfg, sfx))

	code, out, errOut := runCLI(t, "apply", "--repo", repo, "--kubeconfig", kc, "--output", "json")
	if code != 0 {
		t.Fatalf("apply exited %d:\n%.3000s%s", code, out, errOut)
	}
	var applied struct{ Environments []*sync.Result }
	if err := json.Unmarshal([]byte(out), &applied); err != nil {
		t.Fatal(err)
	}
	if len(applied.Environments) != 2 {
		t.Fatalf("want 2 environments, got %d", len(applied.Environments))
	}
	if code, out, errOut := runCLI(t, "drift", "--repo", repo, "--kubeconfig", kc); code != 0 || !strings.Contains(out, "0 drifted") {
		t.Fatalf("no drift after apply, got %d:\n%s%s", code, out, errOut)
	}

	ns := "flink-eu" + sfx
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Group: "platform.confluent.io", Version: "v1beta1", Resource: "flinkstatements"}
	list, err := dyn.Resource(gvr).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var name string
	for _, u := range list.Items {
		if strings.HasPrefix(u.GetName(), "enrich-") {
			name = u.GetName()
		}
	}
	if name == "" {
		t.Fatalf("no FlinkStatement enrich-… in %s", ns)
	}
	if _, err := dyn.Resource(gvr).Namespace(ns).Patch(context.Background(), name, types.MergePatchType,
		[]byte(`{"spec":{"parallelism":7}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCLI(t, "drift", "--repo", repo, "--kubeconfig", kc, "--output", "json")
	var drift []sync.Drift
	if err := json.Unmarshal([]byte(out), &drift); err != nil {
		t.Fatalf("drift JSON: %v\n%s", err, out)
	}
	if code != 1 || len(drift) != 1 || drift[0].Kind != "FlinkStatement" || drift[0].Name != name || drift[0].Field != "spec.parallelism" ||
		drift[0].Desired != "2" || drift[0].Live != "7" || drift[0].Environment != "eu" {
		t.Fatalf("drift must name the FlinkStatement's parallelism, got %d %+v", code, drift)
	}
	code, out, _ = runCLI(t, "drift", "--repo", repo, "--kubeconfig", kc)
	if code != 1 || !strings.Contains(out, "eu FlinkStatement/"+ns+"/"+name+" spec.parallelism: Git 2, live 7") {
		t.Errorf("text drift must name the field, got %d:\n%s", code, out)
	}
}
