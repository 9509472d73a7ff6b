package render

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/testrepo"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// A SQL pipeline in the cfk environment eu: a dedicated pool with its own
// image and a shared one, two catalogs that share a credentials Secret
// (one with two databases), a DDL statement and two DML statements, one
// from a sqlFile.
const (
	cfkSQLPool = `apiVersion: flinksync.dev/v1alpha1
kind: ComputePool
metadata: {name: sql}
spec:
  type: dedicated
  image: cp-flink-sql:1.20
  taskManager: {cpu: 1500m, memory: 4Gi, slots: 2}
  jobManager: {cpu: 500m, memory: 1536Mi}
  flinkConfiguration: {state.backend.type: rocksdb}
`
	cfkAdhocPool = `apiVersion: flinksync.dev/v1alpha1
kind: ComputePool
metadata: {name: adhoc}
spec:
  type: shared
  taskManager: {cpu: "1", memory: 2Gi}
`
	cfkKafkaCatalog = `apiVersion: flinksync.dev/v1alpha1
kind: KafkaCatalog
metadata: {name: kafka}
spec:
  environments: [eu]
  schemaRegistry:
    url: https://sr.confluent.svc:8081
    secret: kafka-credentials
  databases:
    - name: clickstream
      bootstrapServers: kafka.confluent.svc:9071
      secret: kafka-credentials
      ddlEnvironments: [eu]
    - name: orders-db
      bootstrapServers: kafka-orders.confluent.svc:9071
`
	cfkAuditCatalog = `apiVersion: flinksync.dev/v1alpha1
kind: KafkaCatalog
metadata: {name: audit}
spec:
  environments: [eu]
  schemaRegistry: {url: https://sr-audit.confluent.svc:8081}
  databases:
    - name: audit-db
      bootstrapServers: kafka-audit.confluent.svc:9071
      secret: kafka-credentials
`
	cfkCreateStatement = `apiVersion: flinksync.dev/v1alpha1
kind: FlinkStatement
metadata: {name: create-pageviews}
spec:
  environments: [eu]
  pool: sql
  catalog: kafka
  database: clickstream
  sql: |
    CREATE TABLE pageviews (user_id INT, page_id STRING);
`
	cfkViewsStatement = `apiVersion: flinksync.dev/v1alpha1
kind: FlinkStatement
metadata:
  name: pageviews-by-user
  labels: {team: web}
spec:
  environments: [eu]
  pool: sql
  catalog: kafka
  database: clickstream
  sqlFile: sql/pageviews-by-user.sql
  workload: {recordsPerSecond: 2000}
  properties: {sql.local-time-zone: UTC}
`
	cfkOrdersStatement = `apiVersion: flinksync.dev/v1alpha1
kind: FlinkStatement
metadata: {name: orders-enriched}
spec:
  environments: [eu]
  pool: adhoc
  catalog: audit
  parallelism: 5
  stopped: true
  flinkConfiguration: {execution.checkpointing.interval: 1 min}
  sql: INSERT INTO enriched SELECT * FROM orders;
`
)

// cfkSQLFiles is the base repository with the SQL pipeline in eu.
func cfkSQLFiles() map[string]string {
	f := baseFiles()
	f["pools/sql.yaml"] = cfkSQLPool
	f["pools/adhoc.yaml"] = cfkAdhocPool
	f["catalogs/kafka.yaml"] = cfkKafkaCatalog
	f["catalogs/audit.yaml"] = cfkAuditCatalog
	f["statements/create.yaml"] = cfkCreateStatement
	f["statements/views.yaml"] = cfkViewsStatement
	f["statements/orders.yaml"] = cfkOrdersStatement
	f["sql/pageviews-by-user.sql"] = "-- per user\nINSERT INTO pageviews_by_user\nSELECT user_id, COUNT(*) FROM pageviews GROUP BY user_id;\n\n"
	return f
}

// cfkSQLObjects renders eu and returns the objects of the SQL kinds, in
// apply order.
func cfkSQLObjects(t *testing.T, files map[string]string) []*Object {
	t.Helper()
	var out []*Object
	for _, o := range renderEnv(t, files, "eu", Options{Revision: "abc"}).Objects {
		if cfkSQLKinds[o.GetKind()] {
			out = append(out, o)
		}
	}
	return out
}

var cfkSQLKinds = map[string]bool{
	FlinkSecretGVK.Kind: true, FlinkEnvironmentSecretMappingGVK.Kind: true, FlinkKafkaCatalogGVK.Kind: true,
	FlinkKafkaDatabaseGVK.Kind: true, FlinkComputePoolGVK.Kind: true, FlinkStatementGVK.Kind: true,
}

// cfkStatementOf returns the FlinkStatement rendered for the statement called name.
func cfkStatementOf(t *testing.T, objs []*Object, name string) *Object {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == FlinkStatementGVK.Kind && o.App == name {
			return o
		}
	}
	t.Fatalf("no FlinkStatement of %s", name)
	return nil
}

func fieldOf(o *Object, path ...string) (any, bool) {
	v, ok, _ := unstructured.NestedFieldNoCopy(o.Object, path...)
	return v, ok
}

func TestCFKSQLInApplyOrder(t *testing.T) {
	var got []string
	for _, o := range cfkSQLObjects(t, cfkSQLFiles()) {
		got = append(got, o.GetKind()+"/"+o.GetName())
		if o.GetNamespace() != "flink-eu" || o.GetLabels()[LabelEnvironment] != "eu" || o.GetAnnotations()[AnnRevision] != "abc" {
			t.Errorf("%s: namespace, labels or annotations: %s %v %v", o.ID(), o.GetNamespace(), o.GetLabels(), o.GetAnnotations())
		}
		if ref, _ := fieldOf(o, "spec", "cmfRestClassRef"); !reflect.DeepEqual(ref, map[string]any{"name": "default", "namespace": "confluent"}) {
			t.Errorf("%s: cmfRestClassRef %v", o.ID(), ref)
		}
	}
	repo, _ := load(t, cfkSQLFiles())
	name := map[string]string{}
	for _, st := range repo.EffectiveStatements("eu") {
		name[st.Name] = StatementName(st)
	}
	want := []string{
		"FlinkSecret/kafka-credentials", "FlinkEnvironmentSecretMapping/kafka-credentials",
		"FlinkKafkaCatalog/audit", "FlinkKafkaCatalog/kafka",
		"FlinkKafkaDatabase/audit-db", "FlinkKafkaDatabase/clickstream", "FlinkKafkaDatabase/orders-db",
		"FlinkComputePool/adhoc", "FlinkComputePool/sql",
		"FlinkStatement/" + name["create-pageviews"],
		"FlinkStatement/" + name["orders-enriched"], "FlinkStatement/" + name["pageviews-by-user"],
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SQL objects in apply order:\n got %v\nwant %v", got, want)
	}
}

func TestCFKComputePools(t *testing.T) {
	objs := cfkSQLObjects(t, cfkSQLFiles())
	var sql, adhoc *Object
	for _, o := range objs {
		switch {
		case o.GetKind() == "FlinkComputePool" && o.GetName() == "sql":
			sql = o
		case o.GetKind() == "FlinkComputePool" && o.GetName() == "adhoc":
			adhoc = o
		case o.GetKind() == "FlinkComputePool":
			t.Errorf("pool %s is used by no statement in eu", o.GetName())
		}
	}
	if sql == nil || adhoc == nil {
		t.Fatalf("want pools sql and adhoc among %d objects", len(objs))
	}
	for want, path := range map[string][]string{
		"DEDICATED":         {"spec", "type"},
		"eu":                {"spec", "flinkEnvironment"},
		"cp-flink-sql:1.20": {"spec", "clusterSpec", "image"},
		"v1_20":             {"spec", "clusterSpec", "flinkVersion"},
		"1.5":               {"spec", "clusterSpec", "taskManager", "resource", "cpu"},
		"4096m":             {"spec", "clusterSpec", "taskManager", "resource", "memory"},
		"0.5":               {"spec", "clusterSpec", "jobManager", "resource", "cpu"},
		"1536m":             {"spec", "clusterSpec", "jobManager", "resource", "memory"},
		"2":                 {"spec", "clusterSpec", "flinkConfiguration", KeySlots},
		"rocksdb":           {"spec", "clusterSpec", "flinkConfiguration", "state.backend.type"},
		"s3://b/eu":         {"spec", "clusterSpec", "flinkConfiguration", "state.checkpoints.dir"},
	} {
		if got := str(t, sql, path...); got != want {
			t.Errorf("pool sql: %s = %q, want %q", strings.Join(path, "."), got, want)
		}
	}
	if cpu, _ := fieldOf(sql, "spec", "clusterSpec", "taskManager", "resource", "cpu"); cpu != 1.5 {
		t.Errorf("clusterSpec cpu is a number of cores for CMF's FlinkDeployment, got %#v", cpu)
	}
	for _, c := range []struct {
		want string
		path []string
	}{
		{"SHARED", []string{"spec", "type"}},
		{"cp-flink:1.20", []string{"spec", "clusterSpec", "image"}}, // the environment's default image
		{"1", []string{"spec", "clusterSpec", "taskManager", "resource", "cpu"}},
		{"1", []string{"spec", "clusterSpec", "jobManager", "resource", "cpu"}}, // the default JobManager
		{"2048m", []string{"spec", "clusterSpec", "jobManager", "resource", "memory"}},
		{"1", []string{"spec", "clusterSpec", "flinkConfiguration", KeySlots}}, // the default slots
	} {
		if got := str(t, adhoc, c.path...); got != c.want {
			t.Errorf("pool adhoc: %s = %q, want %q", strings.Join(c.path, "."), got, c.want)
		}
	}
	for _, p := range []*Object{sql, adhoc} {
		for _, path := range [][]string{{"spec", "state"}, {"spec", "clusterSpec", "serviceAccount"}, {"spec", "clusterSpec", "job"},
			{"spec", "clusterSpec", "jobManager", "podTemplate"}} {
			if v, ok := fieldOf(p, path...); ok {
				t.Errorf("pool %s: %s = %v must be left out", p.GetName(), strings.Join(path, "."), v)
			}
		}
		if p.App != "" || p.File != "pools/"+p.GetName()+".yaml" || p.Line != 1 {
			t.Errorf("pool %s: origin %q %s:%d", p.GetName(), p.App, p.File, p.Line)
		}
	}
}

func TestCFKComputePoolTLS(t *testing.T) {
	files := cfkSQLFiles()
	files["envs/eu.yaml"] = strings.Replace(envCFK, "  cfk:\n", "  tls: {required: true, secretName: eu-tls}\n  cfk:\n", 1)
	var pool *Object
	for _, o := range cfkSQLObjects(t, files) {
		if o.GetKind() == "FlinkComputePool" && o.GetName() == "sql" {
			pool = o
		}
	}
	if pool == nil {
		t.Fatal("no pool sql")
	}
	for k, want := range map[string]string{
		"security.ssl.internal.enabled":  "true",
		"security.ssl.rest.keystore":     "/opt/flink/tls/keystore.p12",
		"kubernetes.secrets":             "eu-tls:/opt/flink/tls",
		KeyMergePodTemplatesByName:       "true",
		"security.ssl.internal.keystore": "/opt/flink/tls/keystore.p12",
	} {
		if got := str(t, pool, "spec", "clusterSpec", "flinkConfiguration", k); got != want {
			t.Errorf("flinkConfiguration[%s] = %q, want %q", k, got, want)
		}
	}
	for _, part := range []string{"jobManager", "taskManager"} {
		got := str(t, pool, "spec", "clusterSpec", part, "podTemplate")
		if !strings.Contains(got, TLSInitContainer) || !strings.Contains(got, "eu-tls"+TLSPasswordSecretSuffix) ||
			!strings.Contains(got, "image: cp-flink-sql:1.20") {
			t.Errorf("%s podTemplate does not deliver the TLS password with the pool's image:\n%s", part, got)
		}
	}
}

func TestCFKStatements(t *testing.T) {
	objs := cfkSQLObjects(t, cfkSQLFiles())
	repo, _ := load(t, cfkSQLFiles())
	for _, st := range repo.EffectiveStatements("eu") {
		o := cfkStatementOf(t, objs, st.Name)
		if o.GetName() != StatementName(st) {
			t.Errorf("%s: name %q, want StatementName %q", st.Name, o.GetName(), StatementName(st))
		}
		l := o.GetLabels()
		if l[LabelSQLKind] != string(st.Kind) || l[LabelName] != st.Name || l[LabelManagedBy] != ManagedByValue {
			t.Errorf("%s: labels %v", st.Name, l)
		}
		if o.File != st.Origin.File || o.Line != st.Origin.Line {
			t.Errorf("%s: origin %s:%d, want %s:%d", st.Name, o.File, o.Line, st.Origin.File, st.Origin.Line)
		}
		if got := str(t, o, "spec", "computePoolName"); got != st.Spec.Pool {
			t.Errorf("%s: computePoolName %q", st.Name, got)
		}
		if got := str(t, o, "spec", "flinkEnvironment"); got != "eu" {
			t.Errorf("%s: flinkEnvironment %q", st.Name, got)
		}
	}

	ddl := cfkStatementOf(t, objs, "create-pageviews")
	if got := str(t, ddl, "spec", "statement"); got != "CREATE TABLE pageviews (user_id INT, page_id STRING);\n" {
		t.Errorf("DDL statement %q", got)
	}
	for _, f := range []string{"parallelism", "flinkConfiguration", "stopped"} {
		if v, ok := fieldOf(ddl, "spec", f); ok {
			t.Errorf("a DDL statement runs once: no spec.%s, got %v", f, v)
		}
	}
	if got, _ := fieldOf(ddl, "spec", "properties"); !reflect.DeepEqual(got, map[string]any{"sql.current-catalog": "kafka", "sql.current-database": "clickstream"}) {
		t.Errorf("DDL properties %v", got)
	}

	views := cfkStatementOf(t, objs, "pageviews-by-user")
	if got := str(t, views, "spec", "statement"); got != "-- per user\nINSERT INTO pageviews_by_user\nSELECT user_id, COUNT(*) FROM pageviews GROUP BY user_id;\n" {
		t.Errorf("statement from sqlFile %q", got)
	}
	if got, _ := fieldOf(views, "spec", "parallelism"); got != int64(fixed.Parallelism()) {
		t.Errorf("sized parallelism %#v, want %d", got, fixed.Parallelism())
	}
	if got, _ := fieldOf(views, "spec", "flinkConfiguration"); !reflect.DeepEqual(got, map[string]any{KeyCheckpointInterval: "30 s"}) {
		t.Errorf("DML flinkConfiguration %v, want the sized checkpoint interval", got)
	}
	if got, _ := fieldOf(views, "spec", "properties"); !reflect.DeepEqual(got, map[string]any{
		"sql.current-catalog": "kafka", "sql.current-database": "clickstream", "sql.local-time-zone": "UTC"}) {
		t.Errorf("DML properties %v", got)
	}
	if got := views.GetLabels()["team"]; got != "web" {
		t.Errorf("the statement's own labels: %v", views.GetLabels())
	}
	if _, ok := fieldOf(views, "spec", "stopped"); ok {
		t.Error("a running statement has no spec.stopped")
	}

	orders := cfkStatementOf(t, objs, "orders-enriched")
	if got, _ := fieldOf(orders, "spec", "parallelism"); got != int64(5) {
		t.Errorf("explicit parallelism %#v, want 5", got)
	}
	if got, _ := fieldOf(orders, "spec", "stopped"); got != true {
		t.Errorf("stopped %#v", got)
	}
	if got, _ := fieldOf(orders, "spec", "flinkConfiguration"); !reflect.DeepEqual(got, map[string]any{KeyCheckpointInterval: "1 min"}) {
		t.Errorf("the statement's own interval must win: %v", got)
	}
	if got, _ := fieldOf(orders, "spec", "properties"); !reflect.DeepEqual(got, map[string]any{"sql.current-catalog": "audit"}) {
		t.Errorf("a catalog without a database: properties %v", got)
	}
	files := cfkSQLFiles()
	files["statements/orders.yaml"] = strings.Replace(cfkOrdersStatement, "  catalog: audit\n", "", 1)
	delete(files, "catalogs/audit.yaml")
	if v, ok := fieldOf(cfkStatementOf(t, cfkSQLObjects(t, files), "orders-enriched"), "spec", "properties"); ok {
		t.Errorf("no properties, no catalog: spec.properties must be left out, got %v", v)
	}
}

// The sized checkpoint interval is added only when no layer sets the key:
// the pool's and the environment's keys reach the statement through the
// pool's clusterSpec.
func TestCFKStatementCheckpointIntervalFromPoolOrEnv(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"pool": {"pools/sql.yaml": strings.Replace(cfkSQLPool, "{state.backend.type: rocksdb}", "{execution.checkpointing.interval: 10 s}", 1)},
		"env":  {"envs/eu.yaml": strings.Replace(envCFK, "{state.checkpoints.dir: s3://b/eu}", "{execution.checkpointing.interval: 10 s}", 1)},
	} {
		f := cfkSQLFiles()
		for k, v := range files {
			f[k] = v
		}
		views := cfkStatementOf(t, cfkSQLObjects(t, f), "pageviews-by-user")
		if v, ok := fieldOf(views, "spec", "flinkConfiguration"); ok {
			t.Errorf("%s sets the interval: the statement must not, got %v", name, v)
		}
	}
}

func TestCFKCatalogs(t *testing.T) {
	objs := cfkSQLObjects(t, cfkSQLFiles())
	byID := map[string]*Object{}
	for _, o := range objs {
		byID[o.GetKind()+"/"+o.GetName()] = o
	}
	get := func(id string, path ...string) any {
		t.Helper()
		o := byID[id]
		if o == nil {
			t.Fatalf("no %s", id)
		}
		v, _ := fieldOf(o, path...)
		return v
	}
	kafka := get("FlinkKafkaCatalog/kafka", "spec")
	if !reflect.DeepEqual(kafka, map[string]any{
		"flinkEnvironment": "eu",
		"srInstance":       map[string]any{"connectionConfig": map[string]any{"schema.registry.url": "https://sr.confluent.svc:8081"}, "connectionSecretId": "kafka-credentials"},
		"cmfRestClassRef":  map[string]any{"name": "default", "namespace": "confluent"},
	}) {
		t.Errorf("catalog kafka: %v", kafka)
	}
	if v := get("FlinkKafkaCatalog/audit", "spec", "srInstance", "connectionSecretId"); v != nil {
		t.Errorf("catalog audit has no Schema Registry secret, got connectionSecretId %v", v)
	}
	click := get("FlinkKafkaDatabase/clickstream", "spec")
	if !reflect.DeepEqual(click, map[string]any{
		"flinkEnvironment":    "eu",
		"catalogRef":          map[string]any{"name": "kafka"},
		"kafkaCluster":        map[string]any{"connectionConfig": map[string]any{"bootstrap.servers": "kafka.confluent.svc:9071"}},
		"connectionSecretRef": map[string]any{"name": "kafka-credentials"},
		"ddlEnvironments":     []any{"eu"},
		"cmfRestClassRef":     map[string]any{"name": "default", "namespace": "confluent"},
	}) {
		t.Errorf("database clickstream: %v", click)
	}
	if v := get("FlinkKafkaDatabase/orders-db", "spec", "connectionSecretRef"); v != nil {
		t.Errorf("database orders-db has no secret, got %v", v)
	}
	if v := get("FlinkKafkaDatabase/orders-db", "spec", "ddlEnvironments"); !reflect.DeepEqual(v, []any{"eu"}) {
		t.Errorf("no ddlEnvironments means all of the catalog's environments, got %v", v)
	}
	if v := get("FlinkKafkaDatabase/audit-db", "spec", "catalogRef", "name"); v != "audit" {
		t.Errorf("audit-db catalogRef %v", v)
	}
	if o := byID["FlinkKafkaDatabase/orders-db"]; o.File != "catalogs/kafka.yaml" || o.Line != 14 {
		t.Errorf("orders-db origin %s:%d, want catalogs/kafka.yaml:14", o.File, o.Line)
	}
}

// Three uses of one Secret (a Schema Registry and two databases, in two
// catalogs) give one FlinkSecret and one mapping, and the mapping's name is
// the connectionSecretId every one of them uses: CMF ignores a catalog
// whose secret id no mapping has.
func TestCFKSecretsMappedOnceUnderTheirID(t *testing.T) {
	objs := cfkSQLObjects(t, cfkSQLFiles())
	var secrets, mappings []*Object
	ids := map[string]bool{}
	for _, o := range objs {
		switch o.GetKind() {
		case "FlinkSecret":
			secrets = append(secrets, o)
		case "FlinkEnvironmentSecretMapping":
			mappings = append(mappings, o)
		case "FlinkKafkaCatalog":
			if id, ok := fieldOf(o, "spec", "srInstance", "connectionSecretId"); ok {
				ids[id.(string)] = true
			}
		case "FlinkKafkaDatabase":
			if id, ok := fieldOf(o, "spec", "connectionSecretRef", "name"); ok {
				ids[id.(string)] = true
			}
		}
	}
	if len(secrets) != 1 || len(mappings) != 1 {
		t.Fatalf("want one FlinkSecret and one mapping, got %d and %d", len(secrets), len(mappings))
	}
	s, m := secrets[0], mappings[0]
	if !reflect.DeepEqual(ids, map[string]bool{"kafka-credentials": true}) || !ids[m.GetName()] {
		t.Errorf("mapping %q, secret ids used %v", m.GetName(), ids)
	}
	if got := str(t, s, "spec", "secretRef"); got != "kafka-credentials" || s.GetName() != "kafka-credentials" {
		t.Errorf("FlinkSecret %s syncs Secret %q", s.GetName(), got)
	}
	if got := str(t, m, "spec", "secretRef", "name"); got != s.GetName() {
		t.Errorf("the mapping exposes %q, not the FlinkSecret %q", got, s.GetName())
	}
	if got := str(t, m, "spec", "flinkEnvironment"); got != "eu" {
		t.Errorf("mapping flinkEnvironment %q", got)
	}
	// The first catalog by name that uses it: audit, at its database's secret.
	if s.File != "catalogs/audit.yaml" || s.Line != 10 || m.File != s.File || m.Line != s.Line {
		t.Errorf("origin %s:%d and %s:%d, want catalogs/audit.yaml:10", s.File, s.Line, m.File, m.Line)
	}
	// flinksync never reads a Secret: nothing rendered carries data.
	out, err := YAML(objs)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"kind: Secret\n", "stringData", "\ndata:"} {
		if bytes.Contains(out, []byte(w)) {
			t.Errorf("rendered SQL objects contain %q", w)
		}
	}
}

// A changed SQL text changes the name of its statement's object and
// nothing else: the new object is created, the old one pruned.
func TestCFKChangedSQLRenamesOnlyItsStatement(t *testing.T) {
	before := cfkSQLObjects(t, cfkSQLFiles())
	files := cfkSQLFiles()
	files["statements/orders.yaml"] = strings.Replace(cfkOrdersStatement, "SELECT * FROM orders", "SELECT id, total FROM orders", 1)
	after := cfkSQLObjects(t, files)
	if len(before) != len(after) {
		t.Fatalf("%d objects before, %d after", len(before), len(after))
	}
	for i := range before {
		b, a := before[i], after[i]
		if b.App == "orders-enriched" {
			if a.GetName() == b.GetName() || !strings.HasPrefix(a.GetName(), "orders-enriched-") {
				t.Errorf("changed SQL: name %q before, %q after", b.GetName(), a.GetName())
			}
			continue
		}
		if !reflect.DeepEqual(a.Object, b.Object) {
			t.Errorf("%s changed with another statement's SQL", b.ID())
		}
	}
}

func TestCFKStatementSizing(t *testing.T) {
	repo, fsys := load(t, cfkSQLFiles())
	env := repo.Environment("eu")
	var asked []string
	skip := func(env, name string) (Resources, error) {
		asked = append(asked, name)
		if name == "pageviews-by-user" {
			return Resources{}, ErrSkip
		}
		return fixed, nil
	}
	out := testrepo.Clean[*Environment](t)(Render(InputOf(repo, env, skip), Options{Source: fsys}))
	for _, o := range out.Objects {
		if o.App == "pageviews-by-user" {
			t.Errorf("a statement sizing skips is left out: %s", o.ID())
		}
	}
	if !reflect.DeepEqual(asked, []string{"orders", "orders-enriched", "pageviews-by-user"}) {
		t.Errorf("sized %v: DDL statements are not sized", asked)
	}
	fail := func(env, name string) (Resources, error) {
		if name == "orders-enriched" {
			return Resources{}, errors.New("too big")
		}
		return fixed, nil
	}
	_, fs, err := Render(InputOf(repo, env, fail), Options{Source: fsys})
	if err != nil || len(fs) != 1 || fs[0].File != "statements/orders.yaml" || fs[0].Line < 1 || fs[0].Rule != RENDER001.ID() ||
		fs[0].App != "orders-enriched" || fs[0].Environment != "eu" || fs[0].Message != "cannot render statement orders-enriched: too big" {
		t.Errorf("want a finding placed at the statement's file and line, got %v (err %v)", fs, err)
	}
}

func TestCFKPoolType(t *testing.T) {
	for in, want := range map[model.PoolType]string{"": "DEDICATED", model.PoolDedicated: "DEDICATED", model.PoolShared: "SHARED"} {
		if got := CFKPoolType(in); got != want {
			t.Errorf("CFKPoolType(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestGoldenCFKSQL compares the SQL objects rendered for eu with
// testdata/golden/cfk-sql.yaml. Run `go test ./internal/render -run Golden -update`
// after a deliberate change and review the diff.
func TestGoldenCFKSQL(t *testing.T) {
	got, err := YAML(cfkSQLObjects(t, cfkSQLFiles()))
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, filepath.Join("testdata", "golden", "cfk-sql.yaml"), got)
	for i := 0; i < 3; i++ {
		again, _ := YAML(cfkSQLObjects(t, cfkSQLFiles()))
		if !bytes.Equal(again, got) {
			t.Fatal("two renders differ")
		}
	}
}

// checkGolden compares got with the golden file at path, or, with -update,
// writes it there.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/render -run Golden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("rendered output differs from %s; run with -update and review the diff.\ngot:\n%s", path, got)
	}
}
