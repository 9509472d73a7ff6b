package policy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"testing"
)

// Every RuleID constant has its row in Rules (severity and summary), and
// every row its constant: a finding can only name a rule the table has.
func TestRuleIDsAreTheTable(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "rule_ids.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok && len(vs.Values) == 1 {
			if lit, ok := vs.Values[0].(*ast.BasicLit); ok {
				id, _ := strconv.Unquote(lit.Value)
				consts[id] = true
			}
		}
		return true
	})
	for id := range consts {
		if r, ok := RuleByID(id); !ok || r.Severity == "" || r.Summary == "" {
			t.Errorf("RuleID %s has no row in Rules", id)
		}
	}
	for _, r := range Rules {
		if !consts[r.ID] {
			t.Errorf("rule %s has no RuleID constant in rule_ids.go", r.ID)
		}
	}
}
