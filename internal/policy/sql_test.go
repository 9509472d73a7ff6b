package policy

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/render"
)

// sqlFiles add Flink SQL to the compliant repository: in eu (cfk), a
// catalog with one database, a pool only statements use, a DDL statement
// and a streaming one whose SQL is in a file. Line numbers below refer to
// these files.
var sqlFiles = map[string]string{
	"pools/sql.yaml": `apiVersion: flinksync.dev/v1alpha1
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
`,
	"catalogs/kafka.yaml": `apiVersion: flinksync.dev/v1alpha1
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
`,
	"statements/create-orders.yaml": `apiVersion: flinksync.dev/v1alpha1
kind: FlinkStatement
metadata:
  name: create-orders
spec:
  environments: [eu]
  pool: sql
  catalog: kafka
  database: orders
  sql: |
    CREATE TABLE orders (
      id BIGINT
    ) WITH (
      'connector' = 'confluent',
      'value.format' = 'avro-registry'
    );
`,
	"statements/enrich.yaml": `apiVersion: flinksync.dev/v1alpha1
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
  properties:
    sql.state-ttl: 1 h
  flinkConfiguration:
    pipeline.name: enrich
`,
	"sql/enrich.sql": `-- orders with their customer
INSERT INTO enriched
SELECT id FROM orders;
`,
}

// Lines of sqlFiles that findings point at.
const (
	sqlPoolTMCPU, sqlPoolJMCPU           = 7, 11
	catalogURL                           = 8
	createSQL                            = 10 // "sql: |"; the SQL's line n is at createSQL+n
	enrichParallelism, enrichProperty    = 11, 13
	enrichConf, enrichSQLFile, enrichSQL = 15, "sql/enrich.sql", 3
)

// euTLS makes eu require TLS, with its certificate secret.
var euTLS = []string{"environments/eu.yaml", "  defaults: {image: cp-flink:1.20, flinkVersion: v1_20}\n",
	"  defaults: {image: cp-flink:1.20, flinkVersion: v1_20}\n  tls: {required: true, secretName: eu-tls}\n"}

// prodSQL runs a streaming statement in prod (fko, TLS required) as a
// SQL-runner job.
var prodSQL = []string{
	"environments/prod.yaml", "  tls:\n", "  sqlRunner: {image: flink-sql-runner:1.20}\n  tls:\n",
	"environments/prod.yaml", "    flinkVersion: v1_20\n", "    flinkVersion: v1_20\n    mode: standalone\n",
	"statements/prod-count.yaml", "", `apiVersion: flinksync.dev/v1alpha1
kind: FlinkStatement
metadata:
  name: prod-count
spec:
  environments: [prod]
  pool: sql
  sql: INSERT INTO counts SELECT COUNT(*) FROM clicks
  parallelism: 2
  flinkConfiguration:
    pipeline.name: prod-count
`,
}

const prodCountSQL, prodCountParallelism, prodCountConf = 8, 9, 11

// withSQL is the compliant repository with sqlFiles, and changes (as with).
func withSQL(changes ...string) map[string]string {
	files := edited(compliant)
	for k, v := range sqlFiles {
		files[k] = v
	}
	return edited(files, changes...)
}

func edits(groups ...[]string) []string {
	var out []string
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

func TestCompliantSQLRepositoryPasses(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"cfk":                          withSQL(),
		"cfk requiring TLS":            withSQL(euTLS...),
		"fko SQL runner requiring TLS": withSQL(prodSQL...),
		"a Kafka config provider in SQL": withSQL("sql/enrich.sql", "orders;", "orders /*+ OPTIONS('properties.sasl.jaas.config' = "+
			"'org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"${file:/etc/kafka/jaas.properties:password}\";') */;"),
	} {
		t.Run(name, func(t *testing.T) {
			if fs := evaluate(t, files, twoTMs, nil); len(fs) > 0 {
				t.Errorf("unexpected findings:\n%s", dump(fs))
			}
		})
	}
}

// Each rule reaches the SQL objects, at the line that sets what it finds.
func TestEachRuleOnSQL(t *testing.T) {
	for _, tc := range sqlRuleCases() {
		t.Run(tc.name, func(t *testing.T) { tc.check(t) })
	}
}

// sqlRuleCase is a repository with one finding to make (or several of one
// rule), and where.
type sqlRuleCase struct {
	name  string
	rule  string
	files map[string]string
	size  func(env, name string) render.Resources
	file  string
	line  int
	// app is the statement the finding names, when it names one.
	app string
	msg string
	// n is how many findings there are, when that is checked.
	n int
}

// patchOf is a kustomization with one JSON patch operation on the
// objects target selects.
func patchOf(target, op, path, value string) string {
	return fmt.Sprintf("patches:\n- target: {%s}\n  patch: |-\n    - op: %s\n      path: %s\n      value: %s\n", target, op, path, value)
}

// sqlRuleCases are TestEachRuleOnSQL's cases, in eu (cfk) and prod (fko).
func sqlRuleCases() []sqlRuleCase {
	const overlayEU = "overlays/eu/kustomization.yaml"
	jaas := "'properties.sasl.jaas.config' = 'org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"hunter2\";',\n"
	fiveTMs := func(env, name string) render.Resources {
		if name == "prod-count" {
			r := twoTMs
			r.TaskManagers = 5
			return r
		}
		return twoTMs
	}
	return []sqlRuleCase{
		{name: "pool of statements only larger than a node", rule: "CPU-001",
			files: withSQL("pools/sql.yaml", `cpu: "2"`, `cpu: "12"`), file: "pools/sql.yaml", line: sqlPoolTMCPU, msg: "statement enrich"},
		{name: "pool of statements only above maxTaskManagerCPU", rule: "CPU-001",
			files: withSQL("pools/sql.yaml", `cpu: "2"`, `cpu: "6"`, "policy.yaml", "", "apiVersion: flinksync.dev/v1alpha1\nkind: Policy\nmetadata: {name: org}\nspec:\n  maxTaskManagerCPU: \"4\"\n"), file: "pools/sql.yaml", line: sqlPoolTMCPU, msg: "maxTaskManagerCPU"},
		{name: "JobManager of a pool of statements larger than a node", rule: "CPU-002",
			files: withSQL("pools/sql.yaml", `cpu: "1"`, `cpu: "9"`), file: "pools/sql.yaml", line: sqlPoolJMCPU},
		{name: "overlay raises a FlinkComputePool's TaskManager CPU", rule: "CPU-001",
			files: withSQL(overlayEU, "", "patches:\n- target: {kind: FlinkComputePool}\n  patch: |-\n    - op: replace\n      path: /spec/clusterSpec/taskManager/resource/cpu\n      value: 12\n"),
			file:  overlayEU, line: 1, msg: "FlinkComputePool"},
		{name: "cfk statement above maxTaskManagers", rule: "CPU-003",
			files: withSQL("statements/enrich.yaml", "parallelism: 2", "parallelism: 10"),
			file:  "statements/enrich.yaml", line: enrichParallelism, app: "enrich", msg: `statement "enrich" needs 5 TaskManagers for its parallelism of 10`},
		{name: "fko statement above maxTaskManagers", rule: "CPU-003", files: withSQL(prodSQL...), size: fiveTMs,
			file: "statements/prod-count.yaml", line: prodCountParallelism, app: "prod-count", msg: `statement "prod-count" needs 5 TaskManagers`},
		{name: "pool turns REST TLS off where TLS is required", rule: "TLS-001",
			files: withSQL(edits(euTLS, []string{"pools/sql.yaml", "  maxTaskManagers: 4\n", "  maxTaskManagers: 4\n  flinkConfiguration:\n    security.ssl.rest.enabled: \"false\"\n"})...),
			file:  "pools/sql.yaml", line: 15, msg: "FlinkComputePool"},
		{name: "fko SQL runner turns REST TLS off", rule: "TLS-001",
			files: withSQL(edits(prodSQL, []string{"statements/prod-count.yaml", "pipeline.name: prod-count", `security.ssl.rest.enabled: "false"`})...),
			file:  "statements/prod-count.yaml", line: prodCountConf, app: "prod-count"},
		{name: "overlay drops a pool's keystore password wiring", rule: "TLS-002",
			files: withSQL(edits(euTLS, []string{overlayEU, "", "patches:\n- target: {kind: FlinkComputePool}\n  patch: |-\n    - op: remove\n      path: /spec/clusterSpec/taskManager/podTemplate\n"})...),
			file:  overlayEU, line: 1, msg: "taskManager"},
		{name: "secret in a statement's Flink configuration", rule: "TLS-003",
			files: withSQL("statements/enrich.yaml", "pipeline.name: enrich", "s3.secret-key: hunter2"),
			file:  "statements/enrich.yaml", line: enrichConf, app: "enrich"},
		{name: "JAAS password in a statement's properties", rule: "TLS-003",
			files: withSQL("statements/enrich.yaml", "sql.state-ttl: 1 h", `properties.sasl.jaas.config: "org.apache.kafka.common.security.plain.PlainLoginModule required username='u' password='p';"`),
			file:  "statements/enrich.yaml", line: enrichProperty, app: "enrich", n: 1},
		{name: "secret in an fko statement's properties", rule: "TLS-003",
			files: withSQL(edits(prodSQL, []string{"statements/prod-count.yaml", "  flinkConfiguration:\n", "  properties:\n    basic-auth.user-info: u:p\n  flinkConfiguration:\n"})...),
			file:  "statements/prod-count.yaml", line: 11, app: "prod-count", msg: "SQL session property"},
		{name: "secret in a pool's Flink configuration", rule: "TLS-003",
			files: withSQL("pools/sql.yaml", "  maxTaskManagers: 4\n", "  maxTaskManagers: 4\n  flinkConfiguration:\n    fs.s3a.secret.key: hunter2\n"),
			file:  "pools/sql.yaml", line: 15},
		{name: "JAAS password in inline SQL", rule: "TLS-003",
			files: withSQL("statements/create-orders.yaml", "      'connector' = 'confluent',\n", "      'connector' = 'confluent',\n      "+jaas),
			file:  "statements/create-orders.yaml", line: createSQL + 5, app: "create-orders", msg: "line 5 of the SQL"},
		{name: "Schema Registry password in a SQL file", rule: "TLS-003",
			files: withSQL("sql/enrich.sql", "orders;", "orders /*+ OPTIONS('value.avro-confluent.basic-auth.user-info' = 'sr-user:sr-password') */;"),
			file:  enrichSQLFile, line: enrichSQL, app: "enrich"},
		{name: "password in the Schema Registry URL of a catalog", rule: "TLS-003",
			files: withSQL("catalogs/kafka.yaml", "https://sr", "https://admin:hunter2@sr"), file: "catalogs/kafka.yaml", line: catalogURL},
		{name: "weak protocol in SQL", rule: "TLS-004",
			files: withSQL("sql/enrich.sql", "orders;", "orders /*+ OPTIONS('properties.ssl.enabled.protocols' = 'TLSv1.1') */;"),
			file:  enrichSQLFile, line: enrichSQL, app: "enrich"},
		{name: "Kafka plaintext in SQL where TLS is required", rule: "TLS-005",
			files: withSQL(edits(euTLS, []string{"statements/create-orders.yaml", "      'connector' = 'confluent',\n", "      'connector' = 'confluent',\n      'properties.security.protocol' = 'PLAINTEXT',\n"})...),
			file:  "statements/create-orders.yaml", line: createSQL + 5, app: "create-orders"},
		{name: "catalog's Schema Registry over http where TLS is required", rule: "TLS-008",
			files: withSQL(edits(euTLS, []string{"catalogs/kafka.yaml", "https://sr", "http://sr"})...),
			file:  "catalogs/kafka.yaml", line: catalogURL, msg: "http://sr.confluent.svc:8081"},
		{name: "overlay points a catalog at http", rule: "TLS-008",
			files: withSQL(edits(euTLS, []string{overlayEU, "", "patches:\n- target: {kind: FlinkKafkaCatalog}\n  patch: |-\n    - op: replace\n      path: /spec/srInstance/connectionConfig/schema.registry.url\n      value: http://sr:8081\n"})...),
			file:  overlayEU, line: 1},
		// What an overlay writes into the SQL objects is reported at the overlay.
		{name: "overlay puts a credential into a statement's properties", rule: "TLS-003",
			files: withSQL(overlayEU, "", patchOf("kind: FlinkStatement, name: enrich-.*", "add", "/spec/properties/basic-auth.user-info", "u:p")),
			file:  overlayEU, line: 1, app: "enrich", msg: `"basic-auth.user-info"`, n: 1},
		{name: "overlay replaces a statement's SQL with one holding a password", rule: "TLS-003",
			files: withSQL(overlayEU, "", patchOf("kind: FlinkStatement, name: enrich-.*", "replace", "/spec/statement",
				`"INSERT INTO enriched SELECT id FROM orders /*+ OPTIONS('value.avro-confluent.basic-auth.user-info' = 'u:p') */"`)),
			file: overlayEU, line: 1, app: "enrich", msg: `the SQL of statement "enrich" writes option "value.avro-confluent.basic-auth.user-info"`, n: 1},
		{name: "overlay sets a statement's Kafka client to PLAINTEXT", rule: "TLS-005",
			files: withSQL(edits(euTLS, []string{overlayEU, "", patchOf("kind: FlinkStatement, name: enrich-.*", "add", "/spec/properties/properties.security.protocol", "PLAINTEXT")})...),
			file:  overlayEU, line: 1, app: "enrich", msg: "PLAINTEXT", n: 1},
		{name: "overlay weakens a statement's TLS protocols", rule: "TLS-004",
			files: withSQL(overlayEU, "", patchOf("kind: FlinkStatement, name: enrich-.*", "add", "/spec/flinkConfiguration/properties.ssl.enabled.protocols", "TLSv1.1")),
			file:  overlayEU, line: 1, app: "enrich", msg: "TLSv1.1", n: 1},
		{name: "overlay sets a database's Kafka client to PLAINTEXT", rule: "TLS-005",
			files: withSQL(edits(euTLS, []string{overlayEU, "", patchOf("kind: FlinkKafkaDatabase", "add", "/spec/kafkaCluster/connectionConfig/security.protocol", "PLAINTEXT")})...),
			file:  overlayEU, line: 1, msg: `FlinkKafkaDatabase "orders"`, n: 1},
		{name: "overlay writes a password into a database's connection", rule: "TLS-003",
			files: withSQL(overlayEU, "", patchOf("kind: FlinkKafkaDatabase", "add", "/spec/kafkaCluster/connectionConfig/sasl.jaas.config",
				`"org.apache.kafka.common.security.plain.PlainLoginModule required username='u' password='p';"`)),
			file: overlayEU, line: 1, msg: `FlinkKafkaDatabase "orders"`, n: 1},
		{name: "overlay adds a Kafka cluster with a password to a catalog", rule: "TLS-003",
			files: withSQL(overlayEU, "", patchOf("kind: FlinkKafkaCatalog", "add", "/spec/kafkaClusters",
				`[{databaseName: extra, connectionConfig: {bootstrap.servers: "kafka:9071", sasl.jaas.config: "org.apache.kafka.common.security.plain.PlainLoginModule required username='u' password='p';"}}]`)),
			file: overlayEU, line: 1, msg: `FlinkKafkaCatalog "kafka"`, n: 1},
		{name: "overlay gives a pool's TaskManagers more memory than a node", rule: "CPU-006",
			files: withSQL(overlayEU, "", patchOf("kind: FlinkComputePool", "replace", "/spec/clusterSpec/taskManager/resource/memory", "40g")),
			file:  overlayEU, line: 1, msg: `FlinkComputePool "sql" asks 40g of taskManager memory`, n: 1},
		{name: "overlay raises a pool's JobManager CPU above a node's", rule: "CPU-002",
			files: withSQL(overlayEU, "", patchOf("kind: FlinkComputePool", "replace", "/spec/clusterSpec/jobManager/resource/cpu", "9")),
			file:  overlayEU, line: 1, msg: `FlinkComputePool "sql"`, n: 1},
		{name: "SQL format's Schema Registry over http where TLS is required", rule: "TLS-008",
			files: withSQL(edits(euTLS, []string{"sql/enrich.sql", "orders;", "orders /*+ OPTIONS('value.avro-confluent.url' = 'http://sr:8081') */;"})...),
			file:  enrichSQLFile, line: enrichSQL, app: "enrich"},
	}
}

// check evaluates the case's repository and wants its rule's findings
// only, each at the case's place.
func (tc sqlRuleCase) check(t *testing.T) {
	t.Helper()
	size := tc.size
	if size == nil {
		size = func(string, string) render.Resources { return twoTMs }
	}
	fs := evaluateSized(t, tc.files, size, nil)
	rules := map[string]bool{}
	for _, f := range fs {
		rules[f.Rule] = true
	}
	var got []string
	for r := range rules {
		got = append(got, r)
	}
	sort.Strings(got)
	if len(got) != 1 || got[0] != tc.rule || (tc.n > 0 && len(fs) != tc.n) {
		t.Fatalf("want exactly %s (%d findings when n=%d), got %v:\n%s", tc.rule, len(fs), tc.n, got, dump(fs))
	}
	for _, f := range fs {
		if f.File != tc.file || f.Line != tc.line || f.App != tc.app || !strings.Contains(f.Message, tc.msg) {
			t.Errorf("%s at %s:%d for %q, want %s:%d for %q, message with %q:\n%s", f.Rule, f.File, f.Line, f.App, tc.file, tc.line, tc.app, tc.msg, dump(fs))
		}
	}
}

// A Schema Registry URL with a password over http is both an inline secret
// and plain http; no finding repeats the password.
func TestFindingsDoNotRepeatAPassword(t *testing.T) {
	fs := evaluate(t, withSQL(edits(euTLS, []string{"catalogs/kafka.yaml", "https://sr", "http://admin:hunter2@sr"})...), twoTMs, nil)
	rules := map[string]bool{}
	for _, f := range fs {
		rules[f.Rule] = f.File == "catalogs/kafka.yaml" && f.Line == catalogURL
		if strings.Contains(f.Message, "hunter2") {
			t.Errorf("%s repeats the password: %s", f.Rule, f.Message)
		}
	}
	if len(fs) != 2 || !rules["TLS-003"] || !rules["TLS-008"] {
		t.Fatalf("want TLS-003 and TLS-008 at catalogs/kafka.yaml:%d:\n%s", catalogURL, dump(fs))
	}
}

// The new rule is in the table with its severity.
func TestTLS008IsARule(t *testing.T) {
	if r, ok := RuleByID("TLS-008"); !ok || r.Severity != diag.Error || !strings.Contains(r.Summary, "Schema Registry") {
		t.Fatalf("TLS-008: %+v %v", r, ok)
	}
}

// A waiver names a statement as it names an application.
func TestWaiverNamesAStatement(t *testing.T) {
	files := withSQL(edits(euTLS, []string{"sql/enrich.sql", "orders;", "orders /*+ OPTIONS('value.avro-confluent.url' = 'http://sr:8081') */;",
		"policy.yaml", "", "apiVersion: flinksync.dev/v1alpha1\nkind: Policy\nmetadata: {name: org}\nspec:\n  waivers:\n    - rule: TLS-008\n      app: enrich\n      reason: the registry moves to TLS in March\n      expires: 2027-03-31\n"})...)
	fs := evaluate(t, files, twoTMs, nil)
	if len(fs) != 1 || !fs[0].Waived || fs[0].App != "enrich" {
		t.Fatalf("want one waived TLS-008 of statement enrich:\n%s", dump(fs))
	}
}

func TestSQLOptions(t *testing.T) {
	sql := "-- a comment with 'x' = 'y'\n" +
		"CREATE TABLE `it's` (\n" +
		"  id BIGINT /* 'a' = 'b' */\n" +
		") WITH (\n" +
		"  'connector' = 'kafka',\n" +
		"  'properties.sasl.jaas.config' =\n" +
		"    'a required password=\"it''s\";',\n" +
		"  \"quoted id\" = 'not an option'\n" +
		");\n" +
		"SET 'table.local-time-zone'='UTC';\n" +
		"SELECT * FROM t WHERE name = 'x' AND 'k' = 'v'"
	got := sqlOptions(sql)
	want := []sqlOption{
		{"connector", "kafka", 5},
		{"properties.sasl.jaas.config", `a required password="it's";`, 6},
		{"table.local-time-zone", "UTC", 10},
		{"k", "v", 11},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("option %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func FuzzSQLOptions(f *testing.F) {
	for _, s := range []string{
		"CREATE TABLE t (a INT) WITH ('connector' = 'kafka', 'password' = 'x')",
		"SET 'a' = 'b';\nSET 'c'='d'",
		"'unterminated = 'x",
		"/* unterminated 'a' = 'b'",
		"`a'` = 'b' -- 'c' = 'd'",
		"'a' = = 'b' 'c' 'd' = 'e''f'",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		if len(sql) > 1<<16 {
			return
		}
		start := time.Now()
		lines := strings.Count(sql, "\n") + 1
		for _, o := range sqlOptions(sql) {
			if o.line < 1 || o.line > lines {
				t.Fatalf("option %+v on line %d of %d", o, o.line, lines)
			}
			if !strings.Contains(sql, strings.ReplaceAll(o.key, "'", "''")) {
				t.Fatalf("key %q is not in the text", o.key)
			}
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("%d bytes took %v", len(sql), d)
		}
	})
}
