package pipeline

import (
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"
)

// exampleWith is the example repository with one file's text replaced.
func exampleWith(t *testing.T, file, from, to string) fs.FS {
	t.Helper()
	out := fstest.MapFS{}
	err := fs.WalkDir(os.DirFS(example), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(os.DirFS(example), p)
		if err != nil {
			return err
		}
		if p == file {
			if !strings.Contains(string(b), from) {
				t.Fatalf("%s does not contain %q", file, from)
			}
			b = []byte(strings.Replace(string(b), from, to, 1))
		}
		out[p] = &fstest.MapFile{Data: b}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTypoBlocksEveryEnvironmentItCouldAffect: a careless edit of an app's
// environments or override keys must block every environment the app ran
// in, so that no environment is synced (and pruned) without the app.
func TestTypoBlocksEveryEnvironmentItCouldAffect(t *testing.T) {
	const app = "apps/orders-enrich.yaml" // environments: [dev, staging, prod]
	for _, tc := range []struct {
		name, from, to string
		want           []string
	}{
		{"misspelled field", "  environments: [dev, staging, prod]", "  enviroments: [dev, staging, prod]", []string{"dev", "staging", "prod"}},
		{"empty list", "  environments: [dev, staging, prod]", "  environments: []", []string{"dev", "staging", "prod"}},
		{"misspelled environment", "  environments: [dev, staging, prod]", "  environments: [dev, staging, prdo]", []string{"dev", "staging", "prod"}},
		{"wrong type", "  environments: [dev, staging, prod]", "  environments: prod", []string{"dev", "staging", "prod"}},
		{"misspelled override key", "    staging:\n", "    stagign:\n", []string{"dev", "staging", "prod"}},
		{"syntax error", "  environments: [dev, staging, prod]", "  environments: [dev, staging, prod", []string{"dev", "staging", "prod", "prod-eu"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Run(exampleWith(t, app, tc.from, tc.to), Options{Now: fixedNow})
			if err != nil {
				t.Fatal(err)
			}
			for _, env := range tc.want {
				if len(res.Blocked[env]) == 0 {
					t.Errorf("environment %s must be blocked; blocked: %v", env, res.Blocked)
				}
			}
		})
	}
}

// TestErrorInOneEnvironmentFileBlocksOnlyIt: blocking by file is no
// broader than the file: an environment's own mistake leaves the others.
func TestErrorInOneEnvironmentFileBlocksOnlyIt(t *testing.T) {
	res, err := Run(exampleWith(t, "environments/dev.yaml", "spec:\n", "spec:\n  colour: blue\n"), Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Blocked["dev"]) == 0 || len(res.Blocked) != 1 {
		t.Fatalf("only dev must be blocked, got %v", res.Blocked)
	}
}

// TestSQLTyposBlockWhatTheyCouldAffect: a careless edit of a statement or
// a catalog blocks the environments it could affect, so no statement
// vanishes from an environment's desired set (and is pruned) because of
// a typo; an unreadable or broken SQL file blocks its statement's.
func TestSQLTyposBlockWhatTheyCouldAffect(t *testing.T) {
	all := []string{"dev", "prod", "prod-cmf", "prod-eu", "staging"}
	for _, tc := range []struct {
		name, file, from, to string
		want                 []string
	}{
		{"misspelled environments of a statement", "statements/checkout-pageviews.yaml", "  environments: [prod-eu, prod-cmf]", "  enviroments: [prod-eu, prod-cmf]", all},
		{"misspelled environment name", "statements/checkout-pageviews.yaml", "  environments: [prod-eu, prod-cmf]", "  environments: [prod-ue, prod-cmf]", all},
		{"misspelled sqlFile", "statements/orders-attributed.yaml", "sqlFile: sql/orders-attributed.sql", "sqlFile: sql/orders-atributed.sql", []string{"prod-eu", "prod-cmf"}},
		{"SET instead of a statement", "sql/orders-attributed.sql", "INSERT INTO", "SET 'a' = 'b'; INSERT INTO", []string{"prod-eu", "prod-cmf"}},
		{"misspelled catalog field", "catalogs/kafka.yaml", "schemaRegistry:", "schemaRegistery:", all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Run(exampleWith(t, tc.file, tc.from, tc.to), Options{Now: fixedNow})
			if err != nil {
				t.Fatal(err)
			}
			for _, env := range tc.want {
				if len(res.Blocked[env]) == 0 {
					t.Errorf("environment %s must be blocked; blocked: %v", env, res.Blocked)
				}
			}
			if len(res.Blocked) != len(tc.want) {
				t.Errorf("only %v must be blocked, got %v", tc.want, res.Blocked)
			}
		})
	}
}
