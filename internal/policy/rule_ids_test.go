package policy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"
)

// Every rule variable of rule_ids.go is in Rules, under the name of its
// ID (CPU003 for CPU-003), and Rules holds nothing else: a finding can
// only be made from a rule the table (severity and summary) lists.
func TestRuleIDsAreTheTable(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "rule_ids.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Values) != 1 {
			return true
		}
		call, ok := vs.Values[0].(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		if sel, ok := call.Fun.(*ast.SelectorExpr); !ok || sel.Sel.Name != "NewRule" {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok {
			t.Errorf("rule %s: its ID is not a literal", vs.Names[0].Name)
			return true
		}
		id, _ := strconv.Unquote(lit.Value)
		if name := vs.Names[0].Name; name != strings.ReplaceAll(id, "-", "") {
			t.Errorf("rule %s is named %s", id, name)
		}
		vars[id] = true
		return true
	})
	seen := map[string]bool{}
	for _, r := range Rules {
		if !vars[r.ID] {
			t.Errorf("rule %s is in Rules without its variable in rule_ids.go", r.ID)
		}
		if seen[r.ID] {
			t.Errorf("rule %s is in Rules twice", r.ID)
		}
		seen[r.ID] = true
	}
	for id := range vars {
		if !seen[id] {
			t.Errorf("rule %s has no row in Rules", id)
		}
	}
}
