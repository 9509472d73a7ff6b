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
func (b *builder) sql(in Input) ([]*Object, []*SourceError) {
	if len(in.Statements) == 0 && len(in.Catalogs) == 0 {
		return nil, nil
	}
	switch b.env.Spec.Target {
	case model.TargetCFK:
		return b.cfkSQL(in)
	case model.TargetCMF:
		return b.cmfSQL(in)
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
	return statementName(st, StatementProperties(st))
}

// statementName is StatementName with the statement's properties at hand.
func statementName(st *model.EffectiveStatement, props map[string]string) string {
	// The hashed text is laid out in one buffer and hashed at once.
	keys := sortedKeys(props)
	n := len("statement") + len(st.Spec.SQL) + len("pool") + len(st.Spec.Pool) + 4
	for _, k := range keys {
		n += len("property ") + len(k) + len(props[k]) + 2
	}
	buf := make([]byte, 0, n)
	write := func(k1, k2, v string) {
		buf = append(append(buf, k1...), k2...)
		buf = append(append(buf, 0), v...)
		buf = append(buf, 0)
	}
	write("statement", "", st.Spec.SQL)
	write("pool", "", st.Spec.Pool)
	for _, k := range keys {
		write("property ", k, props[k])
	}
	return hashedName(st.Name, sha256.Sum256(buf))
}

// hashedName is name, '-' and the first model.StatementHashLength hex
// digits of sum: the form of every rendered statement name.
func hashedName(name string, sum [sha256.Size]byte) string {
	var digits [2 * sha256.Size]byte
	hex.Encode(digits[:], sum[:])
	return name + "-" + string(digits[:model.StatementHashLength])
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
