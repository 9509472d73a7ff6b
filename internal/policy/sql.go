package policy

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/redact"
	"github.com/flinksync/flinksync/internal/render"
)

// keepOutOfGit is the advice of a TLS-003 finding about SQL or a catalog's
// connection: where credentials go instead.
const keepOutOfGit = "keep credentials out of Git: put them in the Kubernetes Secret a KafkaCatalog names " +
	"(spec.schemaRegistry.secret, spec.databases[].secret), which CMF merges into the connection, or read them " +
	"with a Kafka config provider (${file:…})"

// statementSQL checks the SQL text of env's statements, where it is in
// Git (spec.sql, or the spec.sqlFile it reads): a connector or SET option
// that holds a secret (TLS-003), a Kafka client on PLAINTEXT (TLS-005) or a
// Schema Registry over http:// (TLS-008) where TLS is required, a weak TLS
// protocol (TLS-004). On fko it checks the statements' SQL session
// properties the same way: they become SET lines of the runner's script,
// no Flink configuration (on cfk the FlinkStatement carries them, on cmf
// the Statement, and flinkObjects checks them there, after the overlay).
func (c *checker) statementSQL(env *model.Environment) {
	name, required := env.Metadata.Name, c.eff.RequiresTLS(env)
	for _, st := range c.in.Repo.EffectiveStatements(name) {
		if !env.Spec.Target.ViaCMF() {
			c.statementProperties(st, required)
		}
		c.sqlText(required, st.Name, st.Spec.SQL, func(n int) reportFunc {
			file, line := sqlLine(st, n)
			return func(rule *diag.Rule, format string, args ...any) {
				c.add(rule, name, st.Name, file, line, "", format, args...)
			}
		})
	}
}

// reportFunc reports a finding of rule where its caller knows.
type reportFunc = func(rule *diag.Rule, format string, args ...any)

// sqlText checks the options of the SQL text of statement (sqlOptions): a
// secret written inline (TLS-003) and the client settings clientSettings
// judges. at gives the reporter of a finding about line n of the text.
func (c *checker) sqlText(required bool, statement, sql string, at func(n int) reportFunc) {
	for _, opt := range sqlOptions(sql) {
		report := at(opt.line)
		k, v := opt.key, opt.value
		if c.secretInline(k, v) {
			report(TLS003, "the SQL of statement %q writes option %q with a secret value inline (line %d of the SQL); %s",
				statement, k, opt.line, keepOutOfGit)
		}
		c.clientSettings(required, func() string { return fmt.Sprintf("statement %q (line %d of its SQL)", statement, opt.line) }, k, v, report)
	}
}

// statementObject checks the SQL of a rendered CFK FlinkStatement or CMF
// Statement (spec.statement) that is not its statement's SQL in Git, which
// statementSQL checks at its lines: an overlay replaced it or added the
// statement, and its findings are at the overlay.
func (c *checker) statementObject(env *model.Environment, o *render.Object, w *owner) {
	sql, statement := nestedString(o, "spec", "statement"), o.GetName()
	if w != nil && w.st != nil {
		if !o.FromOverlay && strings.TrimSpace(sql) == strings.TrimSpace(w.st.Spec.SQL) {
			return
		}
		statement = w.st.Name
	}
	c.sqlText(c.eff.RequiresTLS(env), statement, sql, func(int) reportFunc {
		return func(rule *diag.Rule, format string, args ...any) {
			c.addAt(rule, env.Metadata.Name, o, format, args...)
		}
	})
}

// statementProperties checks a statement's SQL session properties as
// options of its SQL, at their lines.
func (c *checker) statementProperties(st *model.EffectiveStatement, required bool) {
	env := st.Environment.Metadata.Name
	keys := make([]string, 0, len(st.Spec.Properties))
	for k := range st.Spec.Properties {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := st.Spec.Properties[k]
		line := st.Origin.LineOf(model.KeyPath("spec.properties", k))
		report := func(rule *diag.Rule, format string, args ...any) {
			c.add(rule, env, st.Name, st.Origin.File, line, "", format, args...)
		}
		if c.secretInline(k, v) {
			report(TLS003, "SQL session property %q of statement %q holds a secret inline; %s", k, st.Name, keepOutOfGit)
		}
		c.clientSettings(required, func() string { return fmt.Sprintf("statement %q", st.Name) }, k, v, report)
	}
}

// clientSettings judges one client setting (a Flink configuration key, a
// connector option, a catalog connection setting) of subject: weak TLS
// protocols (TLS-004), Kafka without TLS and Schema Registry over http://
// where TLS is required (TLS-005, TLS-008). subject is only called for a
// finding's message.
func (c *checker) clientSettings(required bool, subject func() string, k, v string, report func(rule *diag.Rule, format string, args ...any)) {
	switch c.keyOf(k).setting {
	case tlsProtocols:
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			for _, w := range weakProtocols {
				if strings.EqualFold(p, w) {
					report(TLS004, "%q allows %s for %s; use TLSv1.2 or TLSv1.3 only", k, p, subject())
				}
			}
		}
	case kafkaProtocol:
		if !required {
			return
		}
		if up := strings.ToUpper(strings.TrimSpace(v)); up == "PLAINTEXT" || up == "SASL_PLAINTEXT" {
			report(TLS005, "%q is %s for %s in an environment that requires TLS; use SSL or SASL_SSL", k, up, subject())
		}
	case registryURLs:
		if !required {
			return
		}
		if u := plainHTTP(v); u != "" {
			report(TLS008, "%q reaches Schema Registry over plain http (%s) for %s in an environment that requires TLS; use https://", k, redact.URL(u), subject())
		}
	}
}

// registryURLKey reports whether a (lower-case) key holds Schema Registry
// URLs: schema.registry.url (Kafka serdes, CMF catalogs) and Flink's
// avro-confluent.url, avro-confluent.schema-registry.url and their key. and
// value. forms.
func registryURLKey(lk string) bool {
	for _, suffix := range []string{"schema.registry.url", "schema-registry.url", "-confluent.url"} {
		if strings.HasSuffix(lk, suffix) {
			return true
		}
	}
	return false
}

// plainHTTP returns the first http:// URL of a comma-separated list, or "".
func plainHTTP(v string) string {
	for _, u := range strings.Split(v, ",") {
		if u = strings.TrimSpace(u); strings.HasPrefix(strings.ToLower(u), "http://") {
			return u
		}
	}
	return ""
}

// sqlLine locates line n (1-based) of a statement's SQL in Git: in its
// spec.sqlFile, the line itself; in spec.sql, written as a block scalar
// (sql: |) when it has several lines, the n-th line after the key's.
func sqlLine(st *model.EffectiveStatement, n int) (string, int) {
	if st.Spec.SQLFile != "" {
		return st.Spec.SQLFile, n
	}
	line := st.Origin.LineOf("spec.sql")
	if strings.Contains(strings.TrimRight(st.Spec.SQL, "\n"), "\n") {
		line += n
	}
	return st.Origin.File, line
}

// sqlOption is one 'key' = 'value' pair of a SQL text: a connector option
// in a WITH clause, a SET, a catalog's option.
type sqlOption struct {
	key, value string
	// line is the key's line in the text, from 1.
	line int
}

// sqlOptions finds the 'key' = 'value' pairs of a SQL text (WITH
// clauses, SET, /*+ OPTIONS(…) */ hints), skipping comments (-- and /* */)
// and quoted identifiers (`…`, "…"); a quote doubled inside a literal is
// one quote. It reads any text, in one pass.
func sqlOptions(sql string) []sqlOption {
	var out []sqlOption
	var key *sqlOption // a literal that may be a key
	eq := false        // an '=' follows key
	line := 1
	// skip moves past s[i:] up to and including end, counting lines.
	skip := func(i int, end string) int {
		j := strings.Index(sql[i:], end)
		if j < 0 {
			j = len(sql) - i
		} else {
			j += len(end)
		}
		line += strings.Count(sql[i:i+j], "\n")
		return i + j
	}
	for i := 0; i < len(sql); {
		switch c := sql[i]; {
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			i = skip(i, "\n")
		case c == '/' && strings.HasPrefix(sql[i:], "/*+"):
			i += 3 // a hint: /*+ OPTIONS('key' = 'value') */ sets options
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			i = skip(i+2, "*/")
		case c == '`' || c == '"':
			i = skip(i+1, string(c))
			key, eq = nil, false
		case c == '\'':
			start := line
			var b strings.Builder
			j := i + 1
			for ; j < len(sql); j++ {
				if sql[j] == '\'' {
					if j+1 < len(sql) && sql[j+1] == '\'' {
						b.WriteByte('\'')
						j++
						continue
					}
					break
				}
				if sql[j] == '\n' {
					line++
				}
				b.WriteByte(sql[j])
			}
			i = j + 1
			if key != nil && eq {
				key.value = b.String()
				out = append(out, *key)
				key, eq = nil, false
			} else {
				key, eq = &sqlOption{key: b.String(), line: start}, false
			}
		case c == '=':
			eq = key != nil && !eq
			if !eq {
				key = nil
			}
			i++
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			if c == '\n' {
				line++
			}
			i++
		default:
			key, eq = nil, false
			i++
		}
	}
	return out
}

// catalogObject checks a rendered catalog or database (CFK's
// FlinkKafkaCatalog and FlinkKafkaDatabase, CMF's KafkaCatalog and
// KafkaDatabase, which have their specs): its connection settings hold no
// secret (TLS-003) and, where TLS is required, reach Kafka and Schema
// Registry with TLS (TLS-005, TLS-008). A value the KafkaCatalog wrote is
// reported at its line; one an overlay wrote, at the overlay.
func (c *checker) catalogObject(env *model.Environment, v *object) {
	name, o := env.Metadata.Name, v.Object
	database := v.shape == render.FlinkKafkaDatabaseGVK.Kind
	configs := []map[string]any{nestedMap(o, "spec", "srInstance", "connectionConfig")}
	catalog := v.name
	if database {
		configs[0] = nestedMap(o, "spec", "kafkaCluster", "connectionConfig")
		catalog = databaseCatalog(o)
	} else {
		// A catalog's own Kafka clusters, which render never writes: an
		// overlay's, reported there.
		for _, kc := range listOfMaps(o.Object, "spec", "kafkaClusters") {
			m, _ := kc["connectionConfig"].(map[string]any)
			configs = append(configs, m)
		}
	}
	var cat *model.EffectiveCatalog
	if !o.FromOverlay {
		for _, ec := range c.in.Repo.EffectiveCatalogs(name) {
			if ec.Name == catalog {
				cat = ec
			}
		}
	}
	for i, conf := range configs {
		for _, k := range slices.Sorted(maps.Keys(conf)) {
			val := fmt.Sprint(conf[k])
			report := func(rule *diag.Rule, format string, args ...any) {
				if field := catalogField(cat, database, v.name, val); i == 0 && field != "" {
					c.add(rule, name, "", cat.Origin.File, cat.Origin.LineOf(field), o.ID(), format, args...)
				} else {
					c.addAt(rule, name, o, format, args...)
				}
			}
			c.connection(c.eff.RequiresTLS(env), v.kind, v.name, k, val, report)
		}
	}
}

// databaseCatalog is the catalog a rendered database belongs to: CFK's
// names it in spec.catalogRef; CMF keeps a database under its catalog's
// path, which render writes into its flinksync.dev/catalog annotation.
func databaseCatalog(o *render.Object) string {
	if render.IsCMF(o.Unstructured) {
		return nestedString(o, "metadata", "annotations", render.AnnCMFCatalog)
	}
	return nestedString(o, "spec", "catalogRef", "name")
}

// connection judges one connection setting of a catalog or database.
func (c *checker) connection(required bool, kind, obj, k, v string, report func(rule *diag.Rule, format string, args ...any)) {
	if c.secretInline(k, v) {
		report(TLS003, "connection setting %q of %s %q holds a secret inline; %s", k, kind, obj, keepOutOfGit)
	}
	c.clientSettings(required, func() string { return fmt.Sprintf("%s %q", kind, obj) }, k, v, report)
}

// catalogField is the field of catalog cat that wrote value v of the
// rendered catalog (or database, named obj), or "" when the KafkaCatalog
// did not.
func catalogField(cat *model.EffectiveCatalog, database bool, obj, v string) string {
	if cat == nil {
		return ""
	}
	if !database {
		if cat.Spec.SchemaRegistry.URL == v {
			return "spec.schemaRegistry.url"
		}
		return ""
	}
	for i, d := range cat.Spec.Databases {
		if d.Name == obj && d.BootstrapServers == v {
			return fmt.Sprintf("spec.databases[%d].bootstrapServers", i)
		}
	}
	return ""
}

// catalogs checks the catalogs of an environment that did not render, on
// the model (a rendered one is checked as it will be applied, in
// catalogObject).
func (c *checker) catalogs(env *model.Environment) {
	name := env.Metadata.Name
	if _, rendered := c.in.Rendered[name]; rendered {
		return
	}
	for _, cat := range c.in.Repo.EffectiveCatalogs(name) {
		report := func(rule *diag.Rule, format string, args ...any) {
			c.add(rule, name, "", cat.Origin.File, cat.Origin.LineOf("spec.schemaRegistry.url"), "", format, args...)
		}
		c.connection(c.eff.RequiresTLS(env), model.KindKafkaCatalog, cat.Name, "schema.registry.url", cat.Spec.SchemaRegistry.URL, report)
	}
}
