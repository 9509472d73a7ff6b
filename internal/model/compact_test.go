package model

import (
	"testing"
)

// After Compact, the example repository still answers every lookup by
// name, with each document's file and line, and holds no field lines,
// effective forms or file documents.
func TestCompactKeepsDocumentsAndDropsTheRest(t *testing.T) {
	repo, err := loaded(Load("../../examples/repo-layout"))
	if err != nil {
		t.Fatal(err)
	}
	app := repo.Apps[0]
	file, line := app.Origin.File, app.Origin.Line
	env := app.Spec.Environments[0]
	if len(repo.EffectiveApps(env)) == 0 || len(app.Origin.lines) == 0 || app.Origin.LineOf("spec.environments") == line {
		t.Fatalf("the example's first app has no effective forms in %s or no field lines: the test checks nothing", env)
	}
	if r := repo.Reach(file); r.All {
		t.Fatalf("%s reaches every environment before Compact: the test checks nothing", file)
	}
	repo.Compact()
	if got := repo.App(app.Metadata.Name); got != app || got.Origin.File != file || got.Origin.Line != line {
		t.Errorf("App(%q) after Compact = %p at %s:%d, want %p at %s:%d", app.Metadata.Name, got, got.Origin.File, got.Origin.Line, app, file, line)
	}
	if repo.Environment(env) == nil || repo.Pool(repo.Pools[0].Metadata.Name) == nil ||
		(len(repo.Statements) > 0 && repo.Statement(repo.Statements[0].Metadata.Name) == nil) {
		t.Error("a lookup by name finds nothing after Compact")
	}
	if got := app.Origin.LineOf("spec.environments"); got != line {
		t.Errorf("LineOf after Compact = %d, want the document's line %d", got, line)
	}
	if !repo.Reach(file).All {
		t.Error("Reach after Compact is narrower than every environment")
	}
	if repo.EffectiveApps(env) != nil || repo.EffectiveStatements(env) != nil || repo.EffectiveCatalogs(env) != nil {
		t.Error("effective forms left after Compact")
	}
	for _, docs := range [][]Origin{origins(repo.Environments, func(e *Environment) Origin { return e.Origin }),
		origins(repo.Pools, func(p *ComputePool) Origin { return p.Origin }),
		origins(repo.Apps, func(a *FlinkApplication) Origin { return a.Origin }),
		origins(repo.Statements, func(s *FlinkStatement) Origin { return s.Origin }),
		origins(repo.Catalogs, func(c *KafkaCatalog) Origin { return c.Origin }),
		origins(repo.Policies, func(p *Policy) Origin { return p.Origin })} {
		for _, o := range docs {
			if o.lines != nil || o.under != nil || o.failed != nil {
				t.Errorf("%s:%d keeps field lines after Compact", o.File, o.Line)
			}
		}
	}
}

func origins[T any](docs []T, of func(T) Origin) []Origin {
	var out []Origin
	for _, d := range docs {
		out = append(out, of(d))
	}
	return out
}
