package model

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/source"
)

// sqlRepo is base with a cfk environment "prod" beside fko "dev" (which has
// a SQL runner), a catalog in both and statements.
var sqlRepo = map[string]string{
	"environments/dev.yaml": base["environments/dev.yaml"] + "  sqlRunner:\n    image: example/sql-runner:1\n",
	"environments/prod.yaml": `apiVersion: flinksync.dev/v1alpha1
kind: Environment
metadata:
  name: prod
spec:
  target: cfk
  namespace: flink-prod
  nodes: {cpu: "8", memory: 32Gi, count: 3}
  defaults: {image: confluentinc/cp-flink:1.20, flinkVersion: v1_20}
  cfk:
    cmfRestClassRef: {name: cmf}
`,
	"catalogs/kafka.yaml": `apiVersion: flinksync.dev/v1alpha1
kind: KafkaCatalog
metadata:
  name: kafka
spec:
  environments: [prod]
  schemaRegistry:
    url: https://sr.example.com:8081
    secret: sr-credentials
  databases:
    - name: clickstream
      bootstrapServers: kafka:9071
      secret: kafka-credentials
      ddlEnvironments: [prod]
`,
	"statements/create.yaml": `apiVersion: flinksync.dev/v1alpha1
kind: FlinkStatement
metadata:
  name: create-pageviews
spec:
  environments: [prod]
  pool: small
  catalog: kafka
  database: clickstream
  sql: |
    -- the source table
    CREATE TABLE pageviews (user_id INT, page_id STRING);
`,
	"statements/views.yaml": `apiVersion: flinksync.dev/v1alpha1
kind: FlinkStatement
metadata:
  name: views
spec:
  environments: [dev, prod]
  pool: small
  sqlFile: sql/views.sql
  workload: {recordsPerSecond: 2000}
  overrides:
    prod:
      catalog: kafka
      database: clickstream
      parallelism: 4
`,
	"sql/views.sql": "/* counts */ INSERT INTO views SELECT user_id, COUNT(*) FROM pageviews GROUP BY user_id;\n",
}

func sqlFS(files map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range sqlRepo {
		out[k] = v
	}
	for k, v := range files {
		out[k] = v
	}
	return out
}

func TestLoadSQLKinds(t *testing.T) {
	repo, err := loaded(LoadFS(repoFS(sqlFS(nil))))
	if err != nil {
		t.Fatalf("valid repository: %v", err)
	}
	prod := repo.EffectiveStatements("prod")
	if len(prod) != 2 || prod[0].Name != "create-pageviews" || prod[1].Name != "views" {
		t.Fatalf("prod statements: %+v", prod)
	}
	create, views := prod[0], prod[1]
	if create.Kind != SQLDDL || views.Kind != SQLDML {
		t.Errorf("kinds: %s %s", create.Kind, views.Kind)
	}
	if !strings.HasPrefix(views.Spec.SQL, "/* counts */ INSERT INTO views") {
		t.Errorf("sqlFile not read: %q", views.Spec.SQL)
	}
	if views.Catalog == nil || views.Catalog.Name != "kafka" || views.Database == nil || views.Database.Name != "clickstream" || views.Spec.Parallelism != 4 {
		t.Errorf("prod override not merged: catalog %v database %v parallelism %d", views.Catalog, views.Database, views.Spec.Parallelism)
	}
	if views.Pool == nil || views.Image() != "confluentinc/cp-flink:1.20" {
		t.Errorf("pool %v image %q", views.Pool, views.Image())
	}
	dev := repo.EffectiveStatements("dev")
	if len(dev) != 1 || dev[0].Catalog != nil || dev[0].Spec.Parallelism != 0 || dev[0].Image() != "example/sql-runner:1" {
		t.Fatalf("dev statements: %+v", dev)
	}
	if dev[0].Spec.Workload.Latency != DefaultLatency {
		t.Errorf("workload defaults not applied: %+v", dev[0].Spec.Workload)
	}
	if r := repo.Environment("dev").Spec.SQLRunner; r.JarURI != DefaultSQLRunnerJarURI {
		t.Errorf("sqlRunner.jarURI default: %q", r.JarURI)
	}
	if p := repo.Pool("small"); p.Spec.Type != PoolDedicated {
		t.Errorf("pool type default: %q", p.Spec.Type)
	}
	cats := repo.EffectiveCatalogs("prod")
	if len(cats) != 1 || !reflect.DeepEqual(cats[0].Secrets(), []string{"kafka-credentials", "sr-credentials"}) {
		t.Fatalf("prod catalogs: %+v", cats)
	}
	if !reflect.DeepEqual(repo.SQLFiles, []string{"sql/views.sql"}) {
		t.Errorf("SQLFiles: %v", repo.SQLFiles)
	}
	if r := repo.Reach("statements/create.yaml"); r.All || !reflect.DeepEqual(r.Environments, []string{"prod"}) {
		t.Errorf("a statement reaches its environments: %+v", r)
	}
	if r := repo.Reach("catalogs/kafka.yaml"); !r.All {
		t.Errorf("a catalog reaches every environment: %+v", r)
	}
}

func TestLoadSQLErrors(t *testing.T) {
	long := strings.Repeat("s", MaxStatementNameLength+1)
	cases := []struct {
		name  string
		files map[string]string
		want  []want
	}{
		{"missing pool", map[string]string{"statements/views.yaml": strings.Replace(sqlRepo["statements/views.yaml"], "pool: small", "pool: huge", 1)},
			[]want{{RuleReference.ID(), "statements/views.yaml", 7}}},
		{"missing catalog", map[string]string{"statements/create.yaml": strings.Replace(sqlRepo["statements/create.yaml"], "catalog: kafka", "catalog: kafak", 1)},
			[]want{{RuleReference.ID(), "statements/create.yaml", 8}}},
		{"missing database", map[string]string{"statements/create.yaml": strings.Replace(sqlRepo["statements/create.yaml"], "database: clickstream", "database: clicks", 1)},
			[]want{{RuleReference.ID(), "statements/create.yaml", 9}}},
		{"database override points at a missing database", map[string]string{"statements/views.yaml": strings.Replace(sqlRepo["statements/views.yaml"], "      database: clickstream", "      database: orders", 1)},
			[]want{{RuleReference.ID(), "statements/views.yaml", 13}}},
		{"catalog not in the environment", map[string]string{"catalogs/kafka.yaml": strings.Replace(sqlRepo["catalogs/kafka.yaml"], "environments: [prod]", "environments: [dev]", 1)},
			// The statements in prod name a catalog not there.
			[]want{{RuleReference.ID(), "statements/create.yaml", 8}, {RuleReference.ID(), "statements/views.yaml", 12},
				{RuleReference.ID(), "catalogs/kafka.yaml", 14}}},
		{"catalog on an fko environment", map[string]string{"statements/views.yaml": strings.Replace(sqlRepo["statements/views.yaml"], "  workload:", "  catalog: kafka\n  workload:", 1)},
			[]want{{RuleInvalidValue.ID(), "statements/views.yaml", 9}}},
		{"46-character statement name", map[string]string{"statements/views.yaml": strings.Replace(sqlRepo["statements/views.yaml"], "name: views", "name: "+strings.Repeat("v", 46), 1)},
			[]want{{RuleName.ID(), "statements/views.yaml", 4}}},
		{"statement name one past the limit", map[string]string{"statements/views.yaml": strings.Replace(sqlRepo["statements/views.yaml"], "name: views", "name: "+long, 1)},
			[]want{{RuleName.ID(), "statements/views.yaml", 4}}},
		{"46-character database name", map[string]string{"catalogs/kafka.yaml": strings.Replace(sqlRepo["catalogs/kafka.yaml"], "- name: clickstream", "- name: "+strings.Repeat("d", 46), 1)},
			[]want{{RuleName.ID(), "catalogs/kafka.yaml", 11}, {RuleReference.ID(), "statements/create.yaml", 9}, {RuleReference.ID(), "statements/views.yaml", 13}}},
		{"46-character pool name used by a cfk statement", map[string]string{
			"pools/small.yaml":       strings.Replace(base["pools/small.yaml"], "name: small", "name: "+strings.Repeat("p", 46), 1),
			"apps/a.yaml":            strings.Replace(base["apps/a.yaml"], "pool: small", "pool: "+strings.Repeat("p", 46), 1),
			"statements/create.yaml": strings.Replace(sqlRepo["statements/create.yaml"], "pool: small", "pool: "+strings.Repeat("p", 46), 1),
			"statements/views.yaml":  strings.Replace(sqlRepo["statements/views.yaml"], "pool: small", "pool: "+strings.Repeat("p", 46), 1)},
			[]want{{RuleName.ID(), "pools/small.yaml", 4}}},
		{"secret name with capitals", map[string]string{"catalogs/kafka.yaml": strings.Replace(sqlRepo["catalogs/kafka.yaml"], "secret: sr-credentials", "secret: SR_creds", 1)},
			[]want{{RuleName.ID(), "catalogs/kafka.yaml", 9}}},
		{"schema registry URL without scheme", map[string]string{"catalogs/kafka.yaml": strings.Replace(sqlRepo["catalogs/kafka.yaml"], "https://sr.example.com:8081", "sr.example.com:8081", 1)},
			[]want{{RuleInvalidValue.ID(), "catalogs/kafka.yaml", 8}}},
		{"ddlEnvironments outside the catalog", map[string]string{"catalogs/kafka.yaml": strings.Replace(sqlRepo["catalogs/kafka.yaml"], "ddlEnvironments: [prod]", "ddlEnvironments: [prod, dev]", 1)},
			[]want{{RuleReference.ID(), "catalogs/kafka.yaml", 14}}},
		{"DDL where the database forbids it", map[string]string{
			"environments/qa.yaml":   strings.NewReplacer("name: prod", "name: qa", "flink-prod", "flink-qa").Replace(sqlRepo["environments/prod.yaml"]),
			"catalogs/kafka.yaml":    strings.Replace(sqlRepo["catalogs/kafka.yaml"], "environments: [prod]", "environments: [prod, qa]", 1),
			"statements/create.yaml": strings.Replace(sqlRepo["statements/create.yaml"], "environments: [prod]", "environments: [prod, qa]", 1)},
			[]want{{RuleInvalidValue.ID(), "statements/create.yaml", 9}}},
		{"sqlFile leaves the repository", map[string]string{"statements/views.yaml": strings.Replace(sqlRepo["statements/views.yaml"], "sql/views.sql", "../../etc/passwd", 1)},
			[]want{{RuleInvalidValue.ID(), "statements/views.yaml", 8}}},
		{"absolute sqlFile", map[string]string{"statements/views.yaml": strings.Replace(sqlRepo["statements/views.yaml"], "sql/views.sql", "/etc/passwd", 1)},
			[]want{{RuleInvalidValue.ID(), "statements/views.yaml", 8}}},
		{"missing sqlFile", map[string]string{"statements/views.yaml": strings.Replace(sqlRepo["statements/views.yaml"], "sql/views.sql", "sql/nope.sql", 1)},
			[]want{{RuleRead.ID(), "statements/views.yaml", 8}}},
		{"sql and sqlFile", map[string]string{"statements/views.yaml": strings.Replace(sqlRepo["statements/views.yaml"], "  sqlFile:", "  sql: SELECT 1\n  sqlFile:", 1)},
			[]want{{RuleInvalidValue.ID(), "statements/views.yaml", 9}}},
		{"no SQL", map[string]string{"statements/views.yaml": strings.Replace(sqlRepo["statements/views.yaml"], "  sqlFile: sql/views.sql\n", "", 1)},
			[]want{{RuleRequired.ID(), "statements/views.yaml", 5}}},
		{"SET is not a statement", map[string]string{"sql/views.sql": "-- settings\nSET 'a' = 'b';\n"},
			[]want{{RuleInvalidValue.ID(), "statements/views.yaml", 8}}},
		{"statement named like an app", map[string]string{"statements/views.yaml": strings.Replace(sqlRepo["statements/views.yaml"], "name: views", "name: a", 1)},
			[]want{{RuleDuplicate.ID(), "statements/views.yaml", 4}}},
		{"fko without a SQL runner", map[string]string{"environments/dev.yaml": base["environments/dev.yaml"]},
			[]want{{RuleRequired.ID(), "statements/views.yaml", 6}}},
		{"DML without workload", map[string]string{"statements/views.yaml": strings.Replace(sqlRepo["statements/views.yaml"], "  workload: {recordsPerSecond: 2000}\n", "", 1)},
			[]want{{RuleRequired.ID(), "statements/views.yaml", 5}}},
		{"unknown field in a database", map[string]string{"catalogs/kafka.yaml": strings.Replace(sqlRepo["catalogs/kafka.yaml"], "      secret: kafka-credentials", "      secrte: kafka-credentials", 1)},
			[]want{{RuleUnknownField.ID(), "catalogs/kafka.yaml", 13}}},
		{"wrong pool type", map[string]string{"pools/small.yaml": base["pools/small.yaml"] + "  type: DEDICATED\n"},
			[]want{{RuleEnum.ID(), "pools/small.yaml", 9}}},
		{"cfk statement without a Flink version", map[string]string{"environments/prod.yaml": strings.Replace(sqlRepo["environments/prod.yaml"], ", flinkVersion: v1_20", "", 1)},
			[]want{{RuleRequired.ID(), "statements/create.yaml", 7}, {RuleRequired.ID(), "statements/views.yaml", 7}}},
		{"statement name starting with a digit", map[string]string{"statements/views.yaml": strings.Replace(sqlRepo["statements/views.yaml"], "name: views", "name: 1views", 1)},
			[]want{{RuleName.ID(), "statements/views.yaml", 4}}},
		{"sqlRunner on cfk", map[string]string{"environments/prod.yaml": sqlRepo["environments/prod.yaml"] + "  sqlRunner: {image: x}\n"},
			[]want{{RuleInvalidValue.ID(), "environments/prod.yaml", 12}}},
		{"a catalog in two environments on one CMF", map[string]string{
			"environments/prod.yaml": strings.Replace(sqlRepo["environments/prod.yaml"], "{name: cmf}", "{name: cmf, namespace: confluent}", 1),
			"environments/qa.yaml":   strings.NewReplacer("name: prod", "name: qa", "flink-prod", "flink-qa", "{name: cmf}", "{name: cmf, namespace: confluent}").Replace(sqlRepo["environments/prod.yaml"]),
			"catalogs/kafka.yaml":    strings.Replace(strings.Replace(sqlRepo["catalogs/kafka.yaml"], "environments: [prod]", "environments: [prod, qa]", 1), "ddlEnvironments: [prod]", "ddlEnvironments: [prod, qa]", 1)},
			// The catalog, and each of its two Secrets.
			[]want{{RuleInvalidValue.ID(), "catalogs/kafka.yaml", 6}, {RuleInvalidValue.ID(), "catalogs/kafka.yaml", 6}, {RuleInvalidValue.ID(), "catalogs/kafka.yaml", 6}}},
		{"a catalog in two environments on two CMFs", map[string]string{
			"environments/qa.yaml": strings.NewReplacer("name: prod", "name: qa", "flink-prod", "flink-qa", "{name: cmf}", "{name: cmf, namespace: confluent-qa}").Replace(sqlRepo["environments/prod.yaml"]),
			"catalogs/kafka.yaml":  strings.Replace(strings.Replace(sqlRepo["catalogs/kafka.yaml"], "environments: [prod]", "environments: [prod, qa]", 1), "ddlEnvironments: [prod]", "ddlEnvironments: [prod, qa]", 1)},
			nil},
		{"two databases of one name in one cfk environment", map[string]string{"catalogs/other.yaml": strings.Replace(sqlRepo["catalogs/kafka.yaml"], "name: kafka", "name: other", 1)},
			[]want{{RuleUnused.ID(), "catalogs/other.yaml", 4}, {RuleDuplicate.ID(), "catalogs/other.yaml", 11}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, findings, err := LoadFS(repoFS(sqlFS(c.files)))
			var got []want
			for _, f := range findings {
				got = append(got, want{f.Rule, f.File, f.Line})
			}
			sortWants(got)
			sortWants(c.want)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("findings:\n got %v\nwant %v\n(%v)", got, c.want, err)
			}
		})
	}
}

func sortWants(w []want) {
	sort.Slice(w, func(i, j int) bool { return w[i].String() < w[j].String() })
}

// A sqlFile that is a link out of the repository is refused by the reader
// every command uses.
func TestSQLFileLinkOutRefused(t *testing.T) {
	dir := t.TempDir()
	for name, data := range repoFS(sqlFS(nil)) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	outside := filepath.Join(t.TempDir(), "secret.sql")
	if err := os.WriteFile(outside, []byte("INSERT INTO x SELECT 'secret'"), 0o644); err != nil {
		t.Fatal(err)
	}
	sql := filepath.Join(dir, "sql", "views.sql")
	if err := os.Remove(sql); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, sql); err != nil {
		t.Fatal(err)
	}
	repo, findings, err := Load(dir)
	fs := findings
	if len(fs) != 1 || fs[0].Rule != RuleRead.ID() || fs[0].File != "statements/views.yaml" || fs[0].Line != 8 {
		t.Fatalf("want one %s at statements/views.yaml:8, got %v", RuleRead.ID(), err)
	}
	for _, st := range repo.EffectiveStatements("dev") {
		if strings.Contains(st.Spec.SQL, "secret") {
			t.Fatalf("the SQL behind the link was read: %q", st.Spec.SQL)
		}
	}
}

// A huge SQL file is refused by the capped reader, at the statement's
// sqlFile line, and nothing of it is read; a FIFO in its place is refused
// at once instead of blocking the load.
func TestSQLFileHugeOrNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	for name, data := range repoFS(sqlFS(nil)) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sql := filepath.Join(dir, "sql", "views.sql")
	load := func() (*Repository, []*diag.Finding, error) {
		d, err := source.OpenDir(dir, source.Limits{FileBytes: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		return LoadFS(d)
	}
	huge := "INSERT INTO views SELECT 1 /* " + strings.Repeat("x", 1<<20) + " */"
	if err := os.WriteFile(sql, []byte(huge), 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		repo, fs, err := load()
		if err != nil || len(fs) != 1 || fs[0].Rule != RuleRead.ID() || fs[0].File != "statements/views.yaml" || fs[0].Line != 8 {
			t.Fatalf("%s: want one %s at statements/views.yaml:8, got %v (err %v)", what, RuleRead.ID(), fs, err)
		}
		if len(repo.EffectiveStatements("dev")) != 0 {
			t.Fatalf("%s: a statement without its SQL must not be effective", what)
		}
	}
	check("a 1 MiB SQL file over a 64 KiB cap")
	if err := os.Remove(sql); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(sql, 0o644); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	check("a FIFO")
}

func TestClassifySQL(t *testing.T) {
	for sql, want := range map[string]SQLKind{
		"CREATE TABLE t (a INT)":                                  SQLDDL,
		"  -- c\n/* d */ alter table t set ('a'='b')":             SQLDDL,
		"drop table t":                                            SQLDDL,
		"INSERT INTO t SELECT 1":                                  SQLDML,
		"with x as (select 1) select * from x":                    SQLDML,
		"EXECUTE STATEMENT SET BEGIN INSERT INTO t SELECT 1; END": SQLDML,
	} {
		got, err := ClassifySQL(sql)
		if err != nil || got != want {
			t.Errorf("ClassifySQL(%q) = %q, %v; want %q", sql, got, err, want)
		}
	}
	for _, sql := range []string{"SET 'a' = 'b'", "USE CATALOG x", "-- only a comment", "/* unterminated", "42"} {
		if k, err := ClassifySQL(sql); err == nil {
			t.Errorf("ClassifySQL(%q) = %q, want an error", sql, k)
		}
	}
}
