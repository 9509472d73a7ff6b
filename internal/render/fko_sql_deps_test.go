package render

import (
	"reflect"
	"testing"

	"github.com/flinksync/flinksync/internal/model"
)

func TestDefinedObject(t *testing.T) {
	for sql, want := range map[string]string{
		"CREATE TABLE orders (id INT)":                                     "orders",
		"-- c\ncreate temporary table if not exists `cat`.`db`.`Orders` (": "orders",
		"CREATE OR REPLACE VIEW big_orders AS SELECT * FROM orders":        "big_orders",
		"CREATE TEMPORARY SYSTEM FUNCTION f AS 'x'":                        "f",
		"ALTER TABLE db.t SET ('a' = 'b')":                                 "t",
		"DROP VIEW IF EXISTS v":                                            "v",
		"CREATE TABLE `my.dotted` (a INT)":                                 "my.dotted",
	} {
		if got, ok := DefinedObject(sql); !ok || got != want {
			t.Errorf("DefinedObject(%q) = %q, %v; want %q", sql, got, ok, want)
		}
	}
	for _, sql := range []string{"CREATE CATALOG c WITH ()", "CREATE DATABASE d", "INSERT INTO t SELECT 1", "CREATE TABLE"} {
		if got, ok := DefinedObject(sql); ok {
			t.Errorf("DefinedObject(%q) = %q, want none", sql, got)
		}
	}
}

// A DML statement's script holds the DDL statements it uses, directly or
// through a view, and those flinksync cannot read; not the others.
func TestDDLIndexPicksWhatAStatementUses(t *testing.T) {
	stmt := func(name, sql string) *model.EffectiveStatement {
		return &model.EffectiveStatement{Name: name, Kind: model.SQLDDL, Spec: model.StatementSpec{SQL: sql}}
	}
	ddl := []*model.EffectiveStatement{
		stmt("a-orders", "CREATE TABLE orders (id INT, amount INT) WITH ('connector' = 'kafka')"),
		stmt("b-big", "CREATE VIEW big_orders AS SELECT * FROM `orders` WHERE amount > 100"),
		stmt("c-clicks", "CREATE TABLE clicks (id INT)"),
		stmt("d-catalog", "CREATE CATALOG c WITH ('type' = 'generic_in_memory')"),
		stmt("e-sink", "CREATE TABLE sink (id INT)"),
	}
	x := newDDLIndex(ddl)
	names := func(sts []*model.EffectiveStatement) []string {
		var out []string
		for _, s := range sts {
			out = append(out, s.Name)
		}
		return out
	}
	for sql, want := range map[string][]string{
		"INSERT INTO sink SELECT id FROM big_orders":    {"a-orders", "b-big", "d-catalog", "e-sink"},
		"INSERT INTO `db`.`SINK` SELECT id FROM clicks": {"c-clicks", "d-catalog", "e-sink"},
		"SELECT 1": {"d-catalog"},
		"INSERT INTO sink SELECT 'orders' AS s FROM clicks": {"a-orders", "c-clicks", "d-catalog", "e-sink"}, // a literal counts: safe side
	} {
		if got := names(x.For(sql)); !reflect.DeepEqual(got, want) {
			t.Errorf("For(%q) = %v, want %v", sql, got, want)
		}
	}
}
