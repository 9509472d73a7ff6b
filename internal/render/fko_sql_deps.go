package render

import (
	"strings"
	"unicode"

	"github.com/flinksync/flinksync/internal/model"
)

// ddlIndex finds the DDL statements a DML statement's script needs on fko:
// those that define an object (table, view, function) whose name appears
// in its SQL, and in turn those their SQL names. Embedding only these keeps
// a script, and a change of an unrelated DDL statement, from touching every
// job of the environment. A DDL statement whose object name cannot be read
// is embedded in every script.
type ddlIndex struct {
	ddl []*model.EffectiveStatement
	// byName maps a defined object's name (lowercase, without catalog and
	// database) to the indexes of the DDL statements that define or alter it.
	byName map[string][]int
	// always are the DDL statements whose name could not be read.
	always []int
	// uses are the names each DDL statement's own SQL mentions.
	uses [][]string
}

func newDDLIndex(ddl []*model.EffectiveStatement) *ddlIndex {
	x := &ddlIndex{ddl: ddl, byName: map[string][]int{}, uses: make([][]string, len(ddl))}
	for i, st := range ddl {
		name, ok := DefinedObject(st.Spec.SQL)
		if !ok {
			x.always = append(x.always, i)
		} else {
			x.byName[name] = append(x.byName[name], i)
		}
		x.uses[i] = identifiers(st.Spec.SQL)
	}
	return x
}

// For returns the DDL statements sql needs, in the order of x.ddl.
func (x *ddlIndex) For(sql string) []*model.EffectiveStatement {
	if len(x.ddl) == 0 {
		return nil
	}
	need := make(map[int]bool, len(x.always))
	for _, i := range x.always {
		need[i] = true
	}
	queue := identifiers(sql)
	seen := map[string]bool{}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		for _, i := range x.byName[name] {
			if !need[i] {
				need[i] = true
				queue = append(queue, x.uses[i]...)
			}
		}
	}
	out := make([]*model.EffectiveStatement, 0, len(need))
	for i, st := range x.ddl {
		if need[i] {
			out = append(out, st)
		}
	}
	return out
}

// DefinedObject is the name of the object a DDL statement creates, alters
// or drops, lowercase and without its catalog and database:
// "CREATE TEMPORARY TABLE IF NOT EXISTS `cat`.`db`.`Orders` (…)" → "orders".
// It reports false when the statement names no table, view or function
// the way Flink SQL writes them.
func DefinedObject(sql string) (string, bool) {
	words := sqlWords(model.StripSQLComments(sql), 12)
	i := 0
	next := func() string {
		if i < len(words) {
			i++
			return strings.ToUpper(words[i-1])
		}
		return ""
	}
	switch next() {
	case "CREATE", "ALTER", "DROP":
	default:
		return "", false
	}
	w := next()
	if w == "OR" { // CREATE OR REPLACE
		if next() != "REPLACE" {
			return "", false
		}
		w = next()
	}
	if w == "TEMPORARY" {
		w = next()
		if w == "SYSTEM" {
			w = next()
		}
	}
	switch w {
	case "TABLE", "VIEW", "FUNCTION", "MODEL":
	default:
		return "", false
	}
	if i+2 < len(words) && strings.EqualFold(words[i], "IF") {
		if strings.EqualFold(words[i+1], "NOT") {
			i++
		}
		i += 2 // IF [NOT] EXISTS
	}
	if i >= len(words) {
		return "", false
	}
	parts := splitQualified(words[i])
	name := strings.ToLower(strings.Trim(parts[len(parts)-1], "`"))
	return name, name != ""
}

// sqlWords splits the start of sql into at most n words: runs of letters,
// digits, '_', '.', and backquoted names (which may hold anything but a
// backquote).
func sqlWords(sql string, n int) []string {
	var out []string
	for len(out) < n {
		sql = strings.TrimLeftFunc(sql, func(r rune) bool { return !isWordRune(r) && r != '`' })
		if sql == "" {
			break
		}
		end := 0
		for end < len(sql) {
			if sql[end] == '`' {
				close := strings.IndexByte(sql[end+1:], '`')
				if close < 0 {
					end = len(sql)
					break
				}
				end += close + 2
				continue
			}
			r := rune(sql[end])
			if r >= 0x80 || !isWordRune(r) {
				break
			}
			end++
		}
		if end == 0 {
			break
		}
		out = append(out, sql[:end])
		sql = sql[end:]
	}
	return out
}

func isWordRune(r rune) bool {
	return r == '_' || r == '.' || r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

// identifiers are the lowercase name parts sql mentions ("cat.db.t" gives
// "cat", "db" and "t"), each once, in order.
func identifiers(sql string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		s = strings.ToLower(strings.Trim(s, "`"))
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, w := range sqlWords(sql, len(sql)) {
		for _, part := range splitQualified(w) {
			add(part)
		}
	}
	return out
}

// splitQualified splits a dotted name at the dots outside backquotes.
func splitQualified(w string) []string {
	var parts []string
	start, quoted := 0, false
	for i := 0; i < len(w); i++ {
		switch w[i] {
		case '`':
			quoted = !quoted
		case '.':
			if !quoted {
				parts = append(parts, w[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, w[start:])
}
