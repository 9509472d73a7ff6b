package model

import (
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strings"
	"unicode"

	"github.com/flinksync/flinksync/internal/diag"
)

// RuleUnused marks a declaration nothing uses (a warning).
var RuleUnused = diag.NewRule("LOAD-015", diag.Warning, "a declaration nothing uses (a KafkaCatalog no statement uses)")

// Repository accessors of the SQL kinds.

// Statement returns the statement called name, or nil.
func (r *Repository) Statement(name string) *FlinkStatement { return r.statements[name] }

// Catalog returns the catalog called name, or nil.
func (r *Repository) Catalog(name string) *KafkaCatalog { return r.catalogs[name] }

// EffectiveStatements returns the statements of environment env, by name.
func (r *Repository) EffectiveStatements(env string) []*EffectiveStatement {
	return r.effectiveStatements[env]
}

// EffectiveCatalogs returns the catalogs of environment env, by name.
func (r *Repository) EffectiveCatalogs(env string) []*EffectiveCatalog {
	return r.effectiveCatalogs[env]
}

// checkCatalog checks one catalog and builds it in each of its environments.
func (l *loader) checkCatalog(c *KafkaCatalog) {
	name, o := c.Metadata.Name, c.Origin
	report := l.reporter(o, "")
	if _, ok := o.lines["spec"]; !ok {
		return
	}
	if len(c.Spec.Environments) == 0 && !o.failed["spec.environments"] {
		l.errorf(o.File, o.LineOf("spec"), RuleRequired, "", "", "spec: missing required field \"environments\" (the environments the catalog exists in)")
	}
	runsIn := l.environmentList(o, c.Spec.Environments, report)
	merged := mergeOverrides(l, o, c.Spec, c.Spec.Overrides, c.Spec.Environments, runsIn, "")
	for _, env := range c.Spec.Environments {
		e := l.repo.envs[env]
		m, ok := merged[env]
		if e == nil || !ok {
			continue
		}
		eff := &EffectiveCatalog{Name: name, Catalog: c, Environment: e, Spec: m.spec, Origin: m.origin}
		eff.Spec.Overrides = nil
		l.checkCatalogIn(eff, report, runsIn)
		l.repo.effectiveCatalogs[env] = append(l.repo.effectiveCatalogs[env], eff)
	}
}

// checkCatalogIn checks a catalog as it is in one environment.
func (l *loader) checkCatalogIn(c *EffectiveCatalog, report reportFunc, runsIn map[string]bool) {
	env, o, s := c.Environment.Metadata.Name, c.Origin, &c.Spec
	l.cmfName(o, "metadata.name", KindKafkaCatalog, c.Name, env, report)
	if s.SchemaRegistry.URL != "" {
		if u, err := url.Parse(s.SchemaRegistry.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			report(o, "spec.schemaRegistry.url", RuleInvalidValue, env, "%q is not an http:// or https:// URL", s.SchemaRegistry.URL)
		}
	}
	if s.SchemaRegistry.Secret != "" {
		l.cmfName(o, "spec.schemaRegistry.secret", "Secret", s.SchemaRegistry.Secret, env, report)
	}
	seen := map[string]bool{}
	for i, d := range s.Databases {
		at := fmt.Sprintf("spec.databases[%d]", i)
		if d.Name == "" {
			continue // reported as a missing required field
		}
		if seen[d.Name] {
			report(o, at+".name", RuleDuplicate, env, "database %q is declared twice in catalog %q", d.Name, c.Name)
			continue
		}
		seen[d.Name] = true
		l.cmfName(o, at+".name", "database", d.Name, env, report)
		if d.Secret != "" {
			l.cmfName(o, at+".secret", "Secret", d.Secret, env, report)
		}
		if strings.TrimSpace(d.BootstrapServers) == "" && o.has(at+".bootstrapServers") {
			report(o, at+".bootstrapServers", RuleInvalidValue, env, "must name at least one host:port")
		}
		for j, de := range d.DDLEnvironments {
			if !runsIn[de] {
				report(o, fmt.Sprintf("%s.ddlEnvironments[%d]", at, j), RuleReference, env,
					"environment %q is not one of the catalog's environments (%s)", de, strings.Join(c.Catalog.Spec.Environments, ", "))
			}
		}
	}
}

// cmfName checks a name CMF will hold: a DNS-1123 label of at most
// MaxCMFNameLength characters.
func (l *loader) cmfName(o Origin, path, what, name, env string, report reportFunc) bool {
	switch {
	case !isLabel(name):
		report(o, path, RuleName, env, "%s name %q is not a valid CMF name: %s", what, name, labelRule)
	case len(name) > MaxCMFNameLength:
		report(o, path, RuleName, env, "%s name %q is %d characters; CMF takes at most %d (lowercase letters, digits and '-')",
			what, name, len(name), MaxCMFNameLength)
	default:
		return true
	}
	return false
}

// checkStatement checks one statement and builds it in each of its
// environments.
func (l *loader) checkStatement(st *FlinkStatement) {
	name, o := st.Metadata.Name, st.Origin
	report := l.reporter(o, name)
	if _, ok := o.lines["spec"]; !ok {
		return
	}
	if len(st.Spec.Environments) == 0 && !o.failed["spec.environments"] {
		l.errorf(o.File, o.LineOf("spec"), RuleRequired, "", name, "spec: missing required field \"environments\" (the environments the statement runs in)")
	}
	runsIn := l.environmentList(o, st.Spec.Environments, report)
	merged := mergeOverrides(l, o, st.Spec, st.Spec.Overrides, st.Spec.Environments, runsIn, name)
	for _, env := range st.Spec.Environments {
		e := l.repo.envs[env]
		m, ok := merged[env]
		if e == nil || !ok {
			continue
		}
		eff := &EffectiveStatement{Name: name, Statement: st, Environment: e, Spec: m.spec, Origin: m.origin}
		eff.Spec.Overrides = nil
		checkIgnore(eff.Spec.Ignore, eff.Origin, "spec.ignore", env, report)
		if l.checkStatementIn(eff, report) {
			applyWorkloadDefaults(&eff.Spec.Workload)
			l.repo.effectiveStatements[env] = append(l.repo.effectiveStatements[env], eff)
		}
	}
}

// Image is the image the statement's Flink cluster runs: on fko the SQL
// runner's, on cfk its pool's or else the environment's default.
func (st *EffectiveStatement) Image() string {
	if r := st.Environment.Spec.SQLRunner; st.Environment.Spec.Target == TargetFKO && r != nil {
		return r.Image
	}
	if st.Pool != nil && st.Pool.Spec.Image != "" {
		return st.Pool.Spec.Image
	}
	return st.Environment.Spec.Defaults.Image
}

// checkStatementIn resolves and checks a statement in one environment; it
// reports false when the statement has no usable SQL there.
func (l *loader) checkStatementIn(st *EffectiveStatement, report reportFunc) bool {
	env, o, s, e := st.Environment.Metadata.Name, st.Origin, &st.Spec, st.Environment
	// The pool.
	if s.Pool == "" {
		report(st.Statement.Origin, "spec", RuleRequired, env, "missing required field \"pool\" (the compute pool the statement runs on)")
	} else if p := l.repo.pools[s.Pool]; p == nil {
		report(o, "spec.pool", RuleReference, env, "pool %q not found%s", s.Pool, l.known(KindComputePool))
	} else if !p.AllowedIn(env) {
		l.errorf(o.File, o.LineOf("spec.pool"), RulePoolNotAllow, env, st.Name,
			"spec.pool: pool %q is not allowed in environment %q (the pool allows: %s)", s.Pool, env, strings.Join(p.Spec.Environments, ", "))
	} else {
		st.Pool = p
		if key := p.Metadata.Name + "\x00" + env; e.Spec.Target.ViaCMF() && !l.checkedPools[key] {
			l.checkedPools[key] = true
			l.cmfName(p.Origin, "metadata.name", KindComputePool+" (a CMF compute pool in environment "+env+")", p.Metadata.Name, env, report)
		}
		if e.Spec.Target.ViaCMF() && e.Spec.Defaults.FlinkVersion == "" {
			report(o, "spec.pool", RuleRequired, env, "no Flink version for compute pool %q in environment %q: set spec.defaults.flinkVersion in %s",
				p.Metadata.Name, env, e.Origin.File)
		}
		if st.Image() == "" {
			report(o, "spec.pool", RuleRequired, env, "no image for the statement's Flink cluster: set spec.image of pool %q (%s) or spec.defaults.image in %s",
				p.Metadata.Name, p.Origin.File, e.Origin.File)
		}
	}
	// The catalog and database.
	if s.Catalog != "" {
		c := l.effectiveCatalog(env, s.Catalog)
		switch {
		case !e.Spec.Target.ViaCMF():
			report(o, "spec.catalog", RuleInvalidValue, env,
				"catalogs are CMF resources: environment %q has target %s; only targets cfk and cmf run statements with a catalog (see docs/sql.md)", env, e.Spec.Target)
		case l.repo.catalogs[s.Catalog] == nil:
			report(o, "spec.catalog", RuleReference, env, "catalog %q not found%s", s.Catalog, l.known(KindKafkaCatalog))
		case c == nil:
			report(o, "spec.catalog", RuleReference, env, "catalog %q is not in environment %q (its spec.environments: %s)",
				s.Catalog, env, strings.Join(l.repo.catalogs[s.Catalog].Spec.Environments, ", "))
		default:
			st.Catalog = c
		}
	}
	if s.Database != "" {
		switch {
		case s.Catalog == "":
			report(o, "spec.database", RuleRequired, env, "a database belongs to a catalog: set spec.catalog too")
		case st.Catalog == nil:
			// The catalog's finding says why.
		case st.Catalog.Database(s.Database) == nil:
			var names []string
			for _, d := range st.Catalog.Spec.Databases {
				names = append(names, d.Name)
			}
			report(o, "spec.database", RuleReference, env, "database %q not found in catalog %q in environment %q; declared: %s",
				s.Database, s.Catalog, env, strings.Join(names, ", "))
		default:
			st.Database = st.Catalog.Database(s.Database)
		}
	}
	if s.Parallelism < 0 {
		report(o, "spec.parallelism", RuleInvalidValue, env, "must not be negative")
	}
	if e.Spec.Target == TargetFKO && e.Spec.SQLRunner == nil {
		report(o, "spec.environments", RuleRequired, env,
			"environment %q (target fko) runs statements as SQL-runner jobs: set spec.sqlRunner.image in %s (see docs/sql.md)", env, e.Origin.File)
	}
	// The SQL.
	if !l.statementSQL(st, report) {
		return false
	}
	kind, err := ClassifySQL(s.SQL)
	if err != nil {
		report(o, sqlPath(s), RuleInvalidValue, env, "%v", err)
		return false
	}
	st.Kind = kind
	if kind == SQLDDL && st.Database != nil && !st.Database.AllowsDDL(env) {
		report(o, "spec.database", RuleInvalidValue, env, "database %q of catalog %q does not allow DDL in environment %q (its ddlEnvironments: %s)",
			s.Database, s.Catalog, env, strings.Join(st.Database.DDLEnvironments, ", "))
	}
	if kind == SQLDML && s.Parallelism == 0 && s.Workload.RecordsPerSecond == 0 &&
		!o.failed["spec.workload.recordsPerSecond"] && !o.failed["spec.parallelism"] {
		report(st.Statement.Origin, "spec.workload", RuleRequired, env, "missing required field \"recordsPerSecond\": sizing needs the workload (or set an explicit spec.parallelism)")
	}
	return true
}

// sqlPath is the field that holds a statement's SQL.
func sqlPath(s *StatementSpec) string {
	if s.SQLFile != "" {
		return "spec.sqlFile"
	}
	return "spec.sql"
}

// statementSQL puts the statement's text in st.Spec.SQL, reading SQLFile
// through the repository's file system (confined to it, regular files
// only, capped like every file).
func (l *loader) statementSQL(st *EffectiveStatement, report reportFunc) bool {
	env, o, s := st.Environment.Metadata.Name, st.Origin, &st.Spec
	switch {
	case s.SQL != "" && s.SQLFile != "":
		report(o, "spec.sqlFile", RuleInvalidValue, env, "set either spec.sql or spec.sqlFile, not both")
		return false
	case s.SQLFile != "":
		p := s.SQLFile
		if strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || !fs.ValidPath(p) {
			report(o, "spec.sqlFile", RuleInvalidValue, env,
				"%q is not a path inside the repository: use a relative path with forward slashes, without '.' or '..' (e.g. sql/pageviews.sql)", p)
			return false
		}
		if l.fsys == nil {
			report(o, "spec.sqlFile", RuleRead, env, "%q cannot be read: no repository to read it from", p)
			return false
		}
		sql, err := l.readSQL(p)
		if err != nil {
			report(o, "spec.sqlFile", RuleRead, env, "cannot read %q: %v", p, err)
			return false
		}
		s.SQL = sql
	case s.SQL == "":
		if !o.failed["spec.sql"] {
			report(st.Statement.Origin, "spec", RuleRequired, env, "missing required field \"sql\" (or \"sqlFile\"): the statement's SQL")
		}
		return false
	}
	if strings.TrimSpace(StripSQLComments(s.SQL)) == "" {
		report(o, sqlPath(s), RuleInvalidValue, env, "the SQL is empty")
		return false
	}
	return true
}

// sqlFile is a SQL file as read, once, for every statement and environment.
type sqlFile struct {
	text string
	err  error
}

// readSQL reads a statement's SQL file once per load, however many
// statements and environments use it.
func (l *loader) readSQL(p string) (string, error) {
	if f, ok := l.sqlFiles[p]; ok {
		return f.text, f.err
	}
	data, err := fs.ReadFile(l.fsys, p)
	l.sqlFiles[p] = sqlFile{string(data), err}
	return string(data), err
}

// effectiveCatalog returns catalog name as it is in env, or nil.
func (l *loader) effectiveCatalog(env, name string) *EffectiveCatalog {
	for _, c := range l.repo.effectiveCatalogs[env] {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// ddlWords and dmlWords are the first keywords of DDL and DML statements.
var (
	ddlWords = []string{"CREATE", "ALTER", "DROP"}
	dmlWords = []string{"INSERT", "SELECT", "WITH", "EXECUTE", "BEGIN"}
)

// ClassifySQL tells DDL from DML by the statement's first keyword, after
// comments. Anything else (SET, USE, SHOW, …) is an error: session settings
// go in spec.properties, and one FlinkStatement is one statement.
func ClassifySQL(sql string) (SQLKind, error) {
	text := strings.TrimSpace(StripSQLComments(sql))
	end := strings.IndexFunc(text, func(r rune) bool { return !unicode.IsLetter(r) })
	if end < 0 {
		end = len(text)
	}
	word := strings.ToUpper(text[:end])
	switch {
	case contains(ddlWords, word):
		return SQLDDL, nil
	case contains(dmlWords, word):
		return SQLDML, nil
	}
	shown := word
	if shown == "" {
		shown = strings.SplitN(text, "\n", 2)[0]
		if len(shown) > 20 {
			shown = shown[:20] + "…"
		}
	}
	return "", fmt.Errorf("the SQL starts with %q: a FlinkStatement is one DDL statement (%s) or one DML statement (%s); session settings (SET) go in spec.properties",
		shown, strings.Join(ddlWords, ", "), strings.Join(dmlWords, ", "))
}

// StripSQLComments removes the comments at the start of sql ("-- …" lines
// and "/* … */" blocks), which is all ClassifySQL needs.
func StripSQLComments(sql string) string {
	for {
		sql = strings.TrimLeftFunc(sql, unicode.IsSpace)
		switch {
		case strings.HasPrefix(sql, "--"):
			i := strings.IndexByte(sql, '\n')
			if i < 0 {
				return ""
			}
			sql = sql[i+1:]
		case strings.HasPrefix(sql, "/*"):
			i := strings.Index(sql[2:], "*/")
			if i < 0 {
				return ""
			}
			sql = sql[i+4:]
		default:
			return sql
		}
	}
}

// checkSQLNames reports what the SQL kinds share across documents: a
// statement and an application with one name (they would render to one
// object), catalogs no statement uses, and databases of two catalogs with
// one name in a cfk environment (one FlinkKafkaDatabase object each).
func (l *loader) checkSQLNames() {
	r := l.repo
	for _, st := range r.Statements {
		if a := r.apps[st.Metadata.Name]; a != nil {
			l.errorf(st.Origin.File, st.Origin.LineOf("metadata.name"), RuleDuplicate, "", st.Metadata.Name,
				"metadata.name: FlinkStatement %q has the name of the FlinkApplication at %s:%d; both become a Flink job of that name, so names must differ",
				st.Metadata.Name, a.Origin.File, a.Origin.LineOf("metadata.name"))
		}
	}
	used := map[string]bool{}
	for _, sts := range r.effectiveStatements {
		for _, st := range sts {
			used[st.Spec.Catalog] = true
		}
	}
	for _, c := range r.Catalogs {
		if !used[c.Metadata.Name] && c.Metadata.Name != "" {
			l.add(warning(c.Origin.File, c.Origin.LineOf("metadata.name"), RuleUnused,
				fmt.Sprintf("metadata.name: KafkaCatalog %q is used by no FlinkStatement in any environment; flinksync still renders it in its environments", c.Metadata.Name)))
		}
	}
	l.checkGlobalCMFNames()
	for _, env := range sortedKeys(keysOf(r.effectiveCatalogs)) {
		if e := r.envs[env]; e == nil || !e.Spec.Target.ViaCMF() {
			continue
		}
		owner := map[string]*EffectiveCatalog{}
		for _, c := range r.effectiveCatalogs[env] {
			for i, d := range c.Spec.Databases {
				if prev, dup := owner[d.Name]; dup && prev != c {
					l.errorf(c.Origin.File, c.Origin.LineOf(fmt.Sprintf("spec.databases[%d].name", i)), RuleDuplicate, env, "",
						"spec.databases[%d].name: database %q is also a database of catalog %q (%s) in environment %q; CFK names a FlinkKafkaDatabase object after its database, so names must differ in one environment",
						i, d.Name, prev.Name, prev.Origin.File, env)
					continue
				}
				owner[d.Name] = c
			}
		}
	}
}

// warning is a finding that does not block.
func warning(file string, line int, rule *diag.Rule, msg string) *diag.Finding {
	return rule.At(file, line, msg)
}

// CMFInstance names the CMF a cfk environment talks to: the endpoint of the
// CMFRestClass it renders, or the CMFRestClass it refers to. Environments
// with one CMFInstance share CMF's global catalogs and secrets.
func (e *Environment) CMFInstance() string {
	c := e.Spec.CFK
	switch {
	case e.Spec.Target == TargetCMF && e.Spec.CMF != nil:
		return "endpoint " + e.Spec.CMF.Endpoint
	case e.Spec.Target != TargetCFK || c == nil:
		return ""
	case c.CMFRest != nil:
		return "endpoint " + c.CMFRest.Endpoint
	default:
		return "CMFRestClass " + c.CMFRestClassRef.Namespace + "/" + c.CMFRestClassRef.Name
	}
}

// checkGlobalCMFNames refuses a catalog or a credentials Secret rendered
// in two environments that share one CMF: CMF keeps catalogs and secrets
// globally, so two environments' objects would write one CMF resource, and
// pruning it from one would delete it for both.
func (l *loader) checkGlobalCMFNames() {
	type use struct {
		env    string
		origin Origin
		path   string
	}
	users := map[string][]use{} // CMF instance + kind + name → uses
	for _, env := range sortedKeys(keysOf(l.repo.effectiveCatalogs)) {
		e := l.repo.envs[env]
		if e == nil || e.CMFInstance() == "" {
			continue
		}
		for _, c := range l.repo.effectiveCatalogs[env] {
			key := e.CMFInstance() + "\x00catalog\x00" + c.Name
			users[key] = append(users[key], use{env, c.Origin, "spec.environments"})
			for _, sec := range c.Secrets() {
				key := e.CMFInstance() + "\x00secret\x00" + sec
				users[key] = append(users[key], use{env, c.Origin, "spec.environments"})
			}
		}
	}
	for _, key := range sortedKeys(keysOf(users)) {
		us := users[key]
		envs := map[string]bool{}
		for _, u := range us {
			envs[u.env] = true
		}
		if len(envs) < 2 {
			continue
		}
		parts := strings.SplitN(key, "\x00", 3)
		names := sortedKeys(envs)
		what := "KafkaCatalog " + strconvQuote(parts[2])
		if parts[1] == "secret" {
			what = "the credentials Secret " + strconvQuote(parts[2])
		}
		u := us[0]
		l.errorf(u.origin.File, u.origin.LineOf(u.path), RuleInvalidValue, "", "",
			"%s: %s is in environments %s, which share one CMF (%s); CMF keeps catalogs and secrets globally, so both environments would write one CMF resource and pruning it from one would delete it for both: keep it in one environment per CMF (see docs/sql.md)",
			u.path, what, strings.Join(names, ", "), parts[0])
	}
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }

func keysOf[V any](m map[string]V) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// sortedKeys returns the keys of a set, sorted.
func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
