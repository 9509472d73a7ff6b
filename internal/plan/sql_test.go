package plan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/render"
)

// outputs writes r in every format plan has.
func outputs(t *testing.T, r *Result) map[string]string {
	t.Helper()
	var md, text, js bytes.Buffer
	for _, w := range []error{WriteMarkdown(&md, r), WriteText(&text, r), WriteJSON(&js, r)} {
		if w != nil {
			t.Fatal(w)
		}
	}
	return map[string]string{"markdown": md.String(), "text": text.String(), "json": js.String()}
}

func environment(t *testing.T, r *Result, name string) *EnvironmentPlan {
	t.Helper()
	for _, e := range r.Environments {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("no environment %s in the plan", name)
	return nil
}

// TestPlanStatementReplaced: a statement whose SQL changes renders under a
// new name; the plan shows one replacement of the statement (not an
// object added and another removed), says what it means for its state, in
// every output format.
func TestPlanStatementReplaced(t *testing.T) {
	g := newExampleRepo(t)
	g.edit("statements/checkout-pageviews.yaml", "OR `page_id` = '/cart'", "OR `page_id` = '/basket'")
	g.edit("statements/create-checkout-pageviews.yaml", "`referrer`  STRING,", "`referrer`  STRING,\n      `campaign`  STRING,")
	g.commit("new SQL")
	r := g.plan("main~1", "main", Options{})
	e := environment(t, r, "prod-eu")
	if len(e.Objects) != 2 || e.Count(Replace) != 2 {
		t.Fatalf("want two statements replaced and nothing else: %+v", changes(r))
	}
	for _, c := range changes(r) {
		if !strings.Contains(c, " replace ") {
			t.Errorf("a new SQL text replaces statements and does nothing else: %s", c)
		}
	}
	if len(e.Replacements) != 2 {
		t.Fatalf("replacements: %+v", e.Replacements)
	}
	want := map[string]struct {
		kind   model.SQLKind
		effect string
	}{
		"checkout-pageviews":        {model.SQLDML, "a new statement starts without the old one's state"},
		"create-checkout-pageviews": {model.SQLDDL, "the DDL statement runs again"},
	}
	out := outputs(t, r)
	for _, rep := range e.Replacements {
		w := want[rep.Statement]
		if rep.SQLKind != w.kind || rep.Effect != w.effect || rep.Why != "SQL changed" ||
			!strings.HasPrefix(rep.From, rep.Statement+"-") || !strings.HasPrefix(rep.To, rep.Statement+"-") || rep.From == rep.To {
			t.Errorf("replacement %+v", rep)
		}
		line := "statement " + rep.Statement + ": replaced (SQL changed): " + rep.From + " → " + rep.To + "; " + w.effect
		if rep.String() != line {
			t.Errorf("%q, want %q", rep.String(), line)
		}
		if !strings.Contains(out["text"], line) {
			t.Errorf("the text output must say %q:\n%s", line, out["text"])
		}
		md := "statement `" + rep.Statement + "`: replaced (SQL changed): `" + rep.From + "` → `" + rep.To + "`; " + w.effect
		if !strings.Contains(out["markdown"], md) {
			t.Errorf("the Markdown must say %q", md)
		}
	}
	for _, o := range e.Objects {
		if o.Kind != "FlinkStatement" || o.Replaces == "" || !strings.Contains(o.Diff, "--- base/FlinkStatement/flink-prod-eu/"+o.Replaces+"\n") {
			t.Errorf("%s: a replace names the old object and diffs against it: replaces %q\n%s", o.ID, o.Replaces, o.Diff)
		}
	}
	var back Result
	if err := json.Unmarshal([]byte(out["json"]), &back); err != nil {
		t.Fatal(err)
	}
	if got := environment(t, &back, "prod-eu").Replacements; len(got) != 2 || got[0] != e.Replacements[0] {
		t.Errorf("JSON must carry the replacements: %+v", got)
	}
	checkGolden(t, "sql-replace.md", []byte(out["markdown"]))
}

// TestPlanImmutableFieldReplaced: a pool's type cannot change on a live
// FlinkComputePool: the plan says replace, and why.
func TestPlanImmutableFieldReplaced(t *testing.T) {
	g := newExampleRepo(t)
	g.edit("pools/sql.yaml", "type: dedicated", "type: shared")
	g.commit("shared pool")
	r := g.plan("main~1", "main", Options{})
	e := environment(t, r, "prod-eu")
	if len(e.Objects) != 1 || e.Objects[0].Action != Replace || e.Objects[0].Kind != "FlinkComputePool" {
		t.Fatalf("want the pool replaced: %v", changes(r))
	}
	why := "spec.type cannot change on an existing FlinkComputePool: sync deletes it and creates it again"
	if e.Objects[0].Why != why || e.Objects[0].Replaces != "" {
		t.Errorf("why %q, replaces %q", e.Objects[0].Why, e.Objects[0].Replaces)
	}
	out := outputs(t, r)
	if !strings.Contains(out["text"], "replace FlinkComputePool/flink-prod-eu/sql ("+why+")") ||
		!strings.Contains(out["text"], "1 to replace") {
		t.Errorf("text:\n%s", out["text"])
	}
	if !strings.Contains(out["markdown"], "| `prod-eu` | 0 | 0 (+1 replaced) | 0 |") {
		t.Errorf("the summary table must count the replace:\n%s", out["markdown"])
	}
}

// TestPlanStatementSizing: a streaming statement's sizing shows before →
// after like an app's, labelled as a statement.
func TestPlanStatementSizing(t *testing.T) {
	g := newExampleRepo(t)
	g.edit("statements/checkout-pageviews.yaml", "recordsPerSecond: 30000", "recordsPerSecond: 90000")
	g.commit("more page views")
	r := g.plan("main~1", "main", Options{})
	e := environment(t, r, "prod-eu")
	if len(e.Apps) != 1 || !e.Apps[0].Statement || e.Apps[0].App != "checkout-pageviews" || e.Apps[0].Status != Changed {
		t.Fatalf("sizing: %+v", e.Apps)
	}
	if len(e.Replacements) != 0 || e.Count(Update) != 1 {
		t.Errorf("a new parallelism changes the statement in place: %v", changes(r))
	}
	out := outputs(t, r)
	if !strings.Contains(out["text"], "  sizing statement checkout-pageviews (changed): TaskManagers ") {
		t.Errorf("text:\n%s", out["text"])
	}
	if !strings.Contains(out["markdown"], "| app or statement | TaskManagers |") || !strings.Contains(out["markdown"], "| statement `checkout-pageviews` | ") {
		t.Errorf("markdown:\n%s", out["markdown"])
	}
	if !strings.Contains(out["json"], `"statement": true`) {
		t.Errorf("JSON must mark the statement")
	}
}

// stmtObj is an object of statement name as render makes it.
func stmtObj(kind, name, object string, spec map[string]any) *render.Object {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetAPIVersion("platform.confluent.io/v1beta1")
	if kind == "ConfigMap" {
		u.SetAPIVersion("v1")
		u.Object = map[string]any{"data": spec}
	}
	u.SetKind(kind)
	u.SetName(object)
	u.SetNamespace("ns")
	u.SetLabels(map[string]string{render.LabelName: name, render.LabelSQLKind: "dml"})
	return &render.Object{Unstructured: u}
}

// TestCompareObjectsPairsStatements: the pairing on literal objects: an
// FKO runner's ConfigMap and FlinkDeployment are one replacement; with
// prune off the old objects stay, which a note says; a statement only
// added or only removed is no replacement.
func TestCompareObjectsPairsStatements(t *testing.T) {
	base := []*render.Object{
		stmtObj("ConfigMap", "a", "a-111111", map[string]any{"statement.sql": "INSERT 1"}),
		stmtObj("FlinkDeployment", "a", "a-111111", map[string]any{"x": "1"}),
		stmtObj("FlinkStatement", "gone", "gone-111111", map[string]any{"statement": "INSERT 1"}),
	}
	head := []*render.Object{
		stmtObj("ConfigMap", "a", "a-222222", map[string]any{"statement.sql": "INSERT 2"}),
		stmtObj("FlinkDeployment", "a", "a-222222", map[string]any{"x": "1"}),
		stmtObj("FlinkStatement", "new", "new-222222", map[string]any{"statement": "INSERT 2"}),
	}
	out, reps, notes := compareObjects(base, head, func(*render.Object) bool { return true })
	var got []string
	for _, o := range out {
		got = append(got, string(o.Action)+" "+o.ID+" "+o.Replaces)
	}
	wantObjs := "replace ConfigMap/ns/a-222222 a-111111,replace FlinkDeployment/ns/a-222222 a-111111,add FlinkStatement/ns/new-222222 ,remove FlinkStatement/ns/gone-111111 "
	if strings.Join(got, ",") != wantObjs {
		t.Errorf("objects:\n%s\nwant:\n%s", strings.Join(got, ","), wantObjs)
	}
	if len(reps) != 1 || reps[0].String() != "statement a: replaced (SQL changed): a-111111 → a-222222; a new statement starts without the old one's state" || len(notes) != 0 {
		t.Errorf("replacements %v, notes %v", reps, notes)
	}
	out, reps, notes = compareObjects(base, head, func(*render.Object) bool { return false })
	if len(reps) != 0 || len(notes) != 1 || !strings.Contains(notes[0], "statement a changes, and its old objects stay") {
		t.Errorf("prune off: replacements %v, notes %v", reps, notes)
	}
	for _, o := range out {
		if o.Action == Replace {
			t.Errorf("prune off: %s is no replace", o.ID)
		}
	}
	if w := changedWhat(map[string]bool{"pool": true, "SQL": true, "properties": true}); w != "SQL, pool and properties changed" {
		t.Errorf("changedWhat: %q", w)
	}
}

// A credential written into a statement's SQL (a WITH option or a hint) is
// a policy error, and the plan that reports it shows the option masked in
// every format: the reviewer sees that it changed, never the value.
func TestPlanMasksCredentialsInSQL(t *testing.T) {
	g := newExampleRepo(t)
	const secret = "hunter2-in-sql"
	g.edit("statements/checkout-pageviews.yaml", "FROM `pageviews`",
		"FROM `pageviews` /*+ OPTIONS('properties.sasl.jaas.config' = 'PlainLoginModule required username=\"u\" password=\""+secret+"\";', 'basic-auth.user-info' = 'u:"+secret+"') */")
	g.commit("a credential in SQL")
	r := g.plan("main~1", "main", Options{})
	if e := environment(t, r, "prod-eu"); len(e.Replacements) != 1 {
		t.Fatalf("the statement must be replaced: %+v", changes(r))
	}
	for format, out := range outputs(t, r) {
		if strings.Contains(out, secret) {
			t.Errorf("%s output shows the credential written in SQL", format)
		}
		if !strings.Contains(out, "masked hmac:") {
			t.Errorf("%s output shows no masked value where the credential was", format)
		}
	}
}
