package model

import (
	"regexp"
	"testing"
	"testing/fstest"
)

// FuzzLoad feeds arbitrary bytes to the loader, as an application file
// beside a valid repository and as a repository's only file. The loader must
// never panic, and every problem must be a finding with a LOAD rule.
func FuzzLoad(f *testing.F) {
	for _, s := range base {
		f.Add([]byte(s))
	}
	f.Add([]byte("apiVersion: flinksync.dev/v1alpha1\nkind: FlinkApplication\nmetadata: {name: x}\nspec:\n  overrides:\n    dev: {workload: {latency: 1s}}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("- - - [\n"))
	f.Add([]byte("apiVersion: flinksync.dev/v1alpha1\nkind: Environment\nmetadata: {name: e}\nspec: {nodes: {cpu: 1e309, memory: -1, count: 99999999999999999999}}\n"))
	f.Add([]byte("---\n---\nnull\n---\n<<: {a: 1}\n"))
	// Hostile inputs of issue 12: exponents apimachinery never finished
	// computing, keys written twice, aliases of maps that multiplied work.
	f.Add([]byte("apiVersion: flinksync.dev/v1alpha1\nkind: FlinkApplication\nmetadata: {name: x}\nspec:\n  environments: [dev]\n  workload: {stateSize: 1e2147483648}\n  overrides:\n    dev: {workload: {stateSize: 1e-100000000}}\n"))
	f.Add([]byte("apiVersion: flinksync.dev/v1alpha1\nkind: Environment\nmetadata: {name: e}\nspec: {nodes: {cpu: 1e4294967296, memory: 1e-9223372036854775809, count: 1}}\n"))
	f.Add([]byte("apiVersion: flinksync.dev/v1alpha1\nkind: FlinkApplication\nkind: Environment\nmetadata: {name: x}\nmetadata: {name: y}\nspec: {flinkConfiguration: {a: 1, a: 2}}\n"))
	f.Add([]byte("apiVersion: flinksync.dev/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec:\n  waivers:\n  - &w {rule: CPU-001, a: 1, b: 2}\n  - *w\n  - *w\n"))
	// The SQL kinds of issue 13, whole and broken.
	for _, name := range []string{"catalogs/kafka.yaml", "statements/create.yaml", "statements/views.yaml"} {
		f.Add([]byte(sqlRepo[name]))
	}
	f.Add([]byte("apiVersion: flinksync.dev/v1alpha1\nkind: FlinkStatement\nmetadata: {name: s}\nspec:\n  environments: [dev]\n  pool: small\n  sqlFile: ../x.sql\n  overrides: {dev: {sql: 'SET a = b', sqlFile: ''}}\n"))
	f.Add([]byte("apiVersion: flinksync.dev/v1alpha1\nkind: FlinkStatement\nmetadata: {name: s}\nspec: {environments: [dev], pool: small, sqlFile: apps/fuzz.yaml, parallelism: -1, properties: {a: [1]}}\n"))
	f.Add([]byte("apiVersion: flinksync.dev/v1alpha1\nkind: KafkaCatalog\nmetadata: {name: k}\nspec:\n  environments: [dev, dev]\n  schemaRegistry: {url: 'http://[::1'}\n  databases: [{name: d, bootstrapServers: ' '}, {name: d}]\n  overrides: {dev: {databases: 3}}\n"))
	rule := regexp.MustCompile(`^LOAD-\d{3}$`)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, fsys := range []fstest.MapFS{
			repoFS(map[string]string{"apps/fuzz.yaml": string(data)}),
			repoFS(sqlFS(map[string]string{"statements/fuzz.yaml": string(data)})),
			{"only.yaml": &fstest.MapFile{Data: data}},
		} {
			repo, findings, err := LoadFS(fsys)
			if repo == nil || err != nil {
				t.Fatalf("LoadFS returned no repository or an error (err %v): every problem of a document is a finding", err)
			}
			for _, f := range findings {
				if !rule.MatchString(f.Rule) || f.Message == "" || f.Line < 0 {
					t.Fatalf("malformed finding %+v", f)
				}
			}
		}
	})
}

// FuzzClassifySQL feeds arbitrary text to the DDL/DML classifier: it never
// panics, and it gives a kind or an error, never both or neither.
func FuzzClassifySQL(f *testing.F) {
	for _, s := range []string{"CREATE TABLE t (a INT)", "-- x\nINSERT INTO t SELECT 1", "/* a */ /* b", "SET 'a'='b'", "", "--", "\u00e9CREATE"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		kind, err := ClassifySQL(sql)
		if (kind == "") == (err == nil) {
			t.Fatalf("ClassifySQL(%q) = %q, %v", sql, kind, err)
		}
	})
}
