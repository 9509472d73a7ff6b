package render

import (
	"iter"
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
	// part is each DDL statement's part of a script (appendScriptPart).
	part []string

	// Scratch space of need, reused from one call to the next.
	needed []bool
	queue  []int
	found  []int
	lower  []byte
}

func newDDLIndex(ddl []*model.EffectiveStatement) *ddlIndex {
	x := &ddlIndex{ddl: ddl, byName: map[string][]int{}, uses: make([][]string, len(ddl)),
		part: make([]string, len(ddl)), needed: make([]bool, len(ddl))}
	for i, st := range ddl {
		name, ok := DefinedObject(st.Spec.SQL)
		if !ok {
			x.always = append(x.always, i)
		} else {
			x.byName[name] = append(x.byName[name], i)
		}
		x.uses[i] = identifiers(st.Spec.SQL)
		x.part[i] = string(appendScriptPart(nil, st))
	}
	return x
}

// For returns the DDL statements sql needs, in the order of x.ddl.
func (x *ddlIndex) For(sql string) []*model.EffectiveStatement {
	need := x.need(sql)
	out := make([]*model.EffectiveStatement, len(need))
	for j, i := range need {
		out[j] = x.ddl[i]
	}
	return out
}

// need returns the indexes in x.ddl of the DDL statements sql needs, in
// order: those that cannot be read, those that define a name sql mentions,
// and in turn those that define a name their SQL mentions. The slice is
// valid until the next call.
func (x *ddlIndex) need(sql string) []int {
	if len(x.ddl) == 0 {
		return nil
	}
	clear(x.needed)
	for _, i := range x.always {
		x.needed[i] = true // their own names are not followed
	}
	x.queue = x.queue[:0]
	for w := range sqlWordSeq(sql) {
		for part := range nameParts(w) {
			x.mark(x.defining(part))
		}
	}
	for len(x.queue) > 0 {
		i := x.queue[len(x.queue)-1]
		x.queue = x.queue[:len(x.queue)-1]
		for _, name := range x.uses[i] {
			x.mark(x.byName[name])
		}
	}
	x.found = x.found[:0]
	for i, need := range x.needed {
		if need {
			x.found = append(x.found, i)
		}
	}
	return x.found
}

// mark marks the DDL statements idx as needed and queues those that were
// not, for the names their SQL mentions.
func (x *ddlIndex) mark(idx []int) {
	for _, i := range idx {
		if !x.needed[i] {
			x.needed[i] = true
			x.queue = append(x.queue, i)
		}
	}
}

// defining returns the DDL statements that define a name part of a word
// of SQL, the part spelled as identifiers spells it (without backquotes,
// lowercase). An uppercase ASCII part is lowercased in scratch space: the
// lookup then costs no allocation.
func (x *ddlIndex) defining(part string) []int {
	part = strings.Trim(part, "`")
	upper := false
	for i := 0; i < len(part); i++ {
		switch c := part[i]; {
		case c >= 0x80:
			return x.byName[strings.ToLower(part)]
		case 'A' <= c && c <= 'Z':
			upper = true
		}
	}
	if !upper {
		return x.byName[part]
	}
	x.lower = append(x.lower[:0], part...)
	for i, c := range x.lower {
		if 'A' <= c && c <= 'Z' {
			x.lower[i] = c + 'a' - 'A'
		}
	}
	return x.byName[string(x.lower)]
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
	var last string
	for part := range nameParts(words[i]) {
		last = part
	}
	name := strings.ToLower(strings.Trim(last, "`"))
	return name, name != ""
}

// sqlWords splits the start of sql into at most n words: runs of letters,
// digits, '_', '.', and backquoted names (which may hold anything but a
// backquote).
func sqlWords(sql string, n int) []string {
	var out []string
	for w := range sqlWordSeq(sql) {
		if len(out) == n {
			break
		}
		out = append(out, w)
	}
	return out
}

// sqlWordSeq yields the words of sql as sqlWords splits them, all of them.
func sqlWordSeq(sql string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for {
			sql = strings.TrimLeftFunc(sql, func(r rune) bool { return !isWordRune(r) && r != '`' })
			if sql == "" {
				return
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
			if end == 0 || !yield(sql[:end]) {
				return
			}
			sql = sql[end:]
		}
	}
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
	for w := range sqlWordSeq(sql) {
		for part := range nameParts(w) {
			add(part)
		}
	}
	return out
}

// nameParts yields the parts of a dotted name, split at the dots outside
// backquotes.
func nameParts(w string) iter.Seq[string] {
	return func(yield func(string) bool) {
		start, quoted := 0, false
		for i := 0; i < len(w); i++ {
			switch w[i] {
			case '`':
				quoted = !quoted
			case '.':
				if !quoted {
					if !yield(w[start:i]) {
						return
					}
					start = i + 1
				}
			}
		}
		yield(w[start:])
	}
}
