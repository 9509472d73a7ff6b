package render

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"

	"github.com/flinksync/flinksync/internal/model"
)

// sql renders the statements (and, on cfk, the catalogs) of an
// environment for its target. The errors name the file of the statement
// that could not be rendered.
func (b *builder) sql(in Input) ([]*Object, []string) {
	if len(in.Statements) == 0 && len(in.Catalogs) == 0 {
		return nil, nil
	}
	if b.env.Spec.Target == model.TargetCFK {
		return b.cfkSQL(in)
	}
	return b.fkoSQL(in)
}

// StatementName is the name of the objects a statement renders to: its
// name, '-' and the first model.StatementHashLength hex digits of the
// SHA-256 of what CFK and CMF do not let change on a running statement
// (its SQL text, its pool and its SQL session properties, catalog and
// database included). A change of any of them is a new object; the old
// one is pruned. See docs/sql.md.
func StatementName(st *model.EffectiveStatement) string {
	h := sha256.New()
	write := func(k, v string) {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(v))
		h.Write([]byte{0})
	}
	write("statement", st.Spec.SQL)
	write("pool", st.Spec.Pool)
	props := StatementProperties(st)
	for _, k := range sortedKeys(props) {
		write("property "+k, props[k])
	}
	return hashedName(st.Name, h.Sum(nil))
}

// hashedName is name, '-' and the first model.StatementHashLength hex
// digits of sum: the form of every rendered statement name.
func hashedName(name string, sum []byte) string {
	return name + "-" + hex.EncodeToString(sum)[:model.StatementHashLength]
}

// sortedKeys are the keys of m in order.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// StatementProperties are a statement's SQL session properties with its
// catalog and database as sql.current-catalog and sql.current-database.
func StatementProperties(st *model.EffectiveStatement) map[string]string {
	out := make(map[string]string, len(st.Spec.Properties)+2)
	for k, v := range st.Spec.Properties {
		out[k] = v
	}
	if st.Spec.Catalog != "" {
		out["sql.current-catalog"] = st.Spec.Catalog
	}
	if st.Spec.Database != "" {
		out["sql.current-database"] = st.Spec.Database
	}
	return out
}

// statementLabels are the labels every object of a statement carries.
func statementLabels(st *model.EffectiveStatement) map[string]string {
	labels := map[string]string{LabelSQLKind: string(st.Kind)}
	for k, v := range st.Statement.Metadata.Labels {
		labels[k] = v
	}
	return labels
}

// trimSQL is the SQL as it is rendered: without surrounding blank space.
func trimSQL(sql string) string { return strings.TrimSpace(sql) + "\n" }
