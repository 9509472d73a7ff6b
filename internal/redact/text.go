package redact

import (
	"regexp"
	"strings"
)

// Secrets inside strings, masked by Text (in free text) and by Object (in
// every string of an object):
//
//   - URL userinfo: scheme://user:password@host keeps the user and masks the
//     password; http(s)://token@host masks the lone user, which is then a
//     token (GitHub, GitLab); ssh://git@host is left alone.
//   - key=value and key: value where the key looks secret (see Key),
//     including JVM system properties (-Djavax.net.ssl.keyStorePassword=…),
//     flags (--db-pass=…), JAAS options (password="…") and query
//     parameters (?token=…); the value may be quoted.
//   - flags followed by their value: --password …, -api-token ….
//   - Authorization headers (Authorization: Bearer …, Basic …) and a lone
//     "Bearer" followed by a token of 16 characters or more.
//   - PEM private keys (-----BEGIN … PRIVATE KEY----- to its END line).
//   - Well-known token formats: GitHub (ghp_, gho_, ghu_, ghs_, ghr_,
//     github_pat_), GitLab (glpat-), Slack (xoxa-, xoxb-, xoxp-, xoxr-,
//     xoxs-), AWS access key IDs (AKIA…, ASIA…), Google API keys (AIza…) and
//     JSON Web Tokens (eyJ….eyJ….…).
var (
	authRe   = regexp.MustCompile(`(?i)((?:proxy-)?authorization["']?\s*[:=]\s*["']?)((?:(?:bearer|basic|token|digest|negotiate|apikey)\s+)?[^\s"',;]+)`)
	bearerRe = regexp.MustCompile(`(?i)(\bbearer\s+)([A-Za-z0-9\-._~+/]{16,}=*)`)
	pemRe    = regexp.MustCompile(`-----BEGIN[A-Z ]*PRIVATE KEY-----(?:[\s\S]*?-----END[A-Z ]*PRIVATE KEY-----|[\s\S]*$)`)
	tokenRe  = regexp.MustCompile(`\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_\-]{20,}|xox[abprs]-[A-Za-z0-9\-]{10,}|(?:AKIA|ASIA)[0-9A-Z]{16}|AIza[0-9A-Za-z_\-]{35}|eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]+)`)
	// tokenPrefixes are the literals tokenRe needs: a text without any
	// of them skips it.
	tokenPrefixes = []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "xox", "AKIA", "ASIA", "AIza", "eyJ"}
)

// Text masks the secrets inside free text (a log line, an error message, a
// finding, an operator's status message) with Fixed.
func Text(s string) string { return inline(s, fixed) }

// Texts masks each text of ss (see Text); nil stays nil.
func Texts(ss []string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = Text(s)
	}
	return out
}

// URL masks the userinfo of a URL (see Text); other text is returned as
// Text returns it.
func URL(s string) string { return Text(s) }

// inline replaces each secret inside s by mask(secret). The common forms
// (URL userinfo, key=value, flags) are found by scanning, in time linear in
// s; the rare ones by regular expressions, run only when a literal they
// need is in s.
func inline(s string, mask func(string) string) string {
	if s == "" {
		return s
	}
	if strings.Contains(s, "PRIVATE KEY-----") {
		s = pemRe.ReplaceAllStringFunc(s, mask)
	}
	if strings.Contains(s, "://") {
		s = maskUserinfo(s, mask)
	}
	if indexFold(s, "authorization") >= 0 {
		s = replaceGroup(authRe, s, func(m []string) (int, string) { return 2, mask(m[2]) })
	}
	if indexFold(s, "bearer") >= 0 {
		s = replaceGroup(bearerRe, s, func(m []string) (int, string) { return 2, mask(m[2]) })
	}
	if strings.ContainsAny(s, "=:") {
		s = maskKeyValues(s, mask)
	}
	if strings.Contains(s, "-") {
		s = maskFlagValues(s, mask)
	}
	for _, p := range tokenPrefixes {
		if strings.Contains(s, p) {
			return tokenRe.ReplaceAllStringFunc(s, func(t string) string { return maskIf(true, t, mask) })
		}
	}
	return s
}

// edits collects replacements of non-overlapping ranges of s, in order.
type edits struct {
	s    string
	b    strings.Builder
	done int
}

// replace puts repl in place of s[from:to], unless that overlaps an earlier
// replacement or s[from:to] is a mask already.
func (e *edits) replace(from, to int, repl string) {
	if from < e.done || from >= to || isMask(e.s[from:]) {
		return
	}
	e.b.WriteString(e.s[e.done:from])
	e.b.WriteString(repl)
	e.done = to
}

func (e *edits) String() string {
	if e.done == 0 {
		return e.s
	}
	e.b.WriteString(e.s[e.done:])
	return e.b.String()
}

// maskUserinfo masks the password of scheme://user:password@host, and the
// lone user of http(s)://token@host.
func maskUserinfo(s string, mask func(string) string) string {
	e := &edits{s: s}
	for i := 0; ; {
		at := strings.Index(s[i:], "://")
		if at < 0 {
			break
		}
		sep := i + at
		i = sep + 3
		from := sep
		for from > 0 && isSchemeByte(s[from-1]) {
			from--
		}
		scheme := strings.ToLower(s[from:sep])
		end := i
		for end < len(s) && !strings.ContainsRune("/?#\"'<>`", rune(s[end])) && !isSpace(s[end]) {
			end++
		}
		userinfo, _, ok := cutLast(s[i:end], "@")
		if !ok || userinfo == "" {
			continue
		}
		if colon := strings.IndexByte(userinfo, ':'); colon >= 0 {
			e.replace(i+colon+1, i+len(userinfo), mask(userinfo[colon+1:]))
		} else if strings.HasPrefix(scheme, "http") || strings.Contains(scheme, "+http") {
			e.replace(i, i+len(userinfo), mask(userinfo))
		}
		i = end
	}
	return e.String()
}

// maskKeyValues masks the value of key=value and key: value where the key
// looks secret: the key is the run of letters, digits, "_", "." and "-"
// before the separator (quoted or not, without a leading "-D" or "--"),
// the value a quoted string or the run up to a space, quote, ",", ";" or
// "&".
func maskKeyValues(s string, mask func(string) string) string {
	e := &edits{s: s}
	for i := 0; i < len(s); i++ {
		if s[i] != '=' && s[i] != ':' {
			continue
		}
		j := i
		for j > 0 && isBlank(s[j-1]) {
			j--
		}
		if j > 0 && (s[j-1] == '"' || s[j-1] == '\'') {
			j--
			if j > 0 && s[j-1] == '\\' {
				j--
			}
		}
		k := j
		for k > 0 && isKeyByte(s[k-1]) {
			k--
		}
		key := s[k:j]
		key = strings.TrimPrefix(key, "-D")
		if !Key(strings.TrimLeft(key, "-")) {
			continue
		}
		v := i + 1
		for v < len(s) && isBlank(s[v]) {
			v++
		}
		if rest, ok := strings.CutPrefix(s[v:], "Invalid value:"); ok {
			v = len(s) - len(strings.TrimLeft(rest, " \t"))
		}
		end := valueEnd(s, v)
		e.replace(v, end, mask(s[v:end]))
		i = max(i, end-1)
	}
	return e.String()
}

// maskFlagValues masks the word after a flag that looks secret and takes
// its value as the next argument: "--password hunter2". Quotes and brackets
// around the words are not part of them: "job argument "--password x"".
func maskFlagValues(s string, mask func(string) string) string {
	e := &edits{s: s}
	secretNext := false
	for i := 0; i < len(s); {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		end := i
		for end < len(s) && !isSpace(s[end]) {
			end++
		}
		if end == i {
			break
		}
		from, to := i, end
		for from < to && strings.IndexByte(wordQuotes, s[from]) >= 0 {
			from++
		}
		for to > from && strings.IndexByte(wordQuotes, s[to-1]) >= 0 {
			to--
		}
		word := s[from:to]
		if secretNext && word != "" && !strings.HasPrefix(word, "-") {
			if from > i && (s[from-1] == '"' || s[from-1] == '\'') {
				to = min(max(to, valueEnd(s, from-1)-1), len(s)) // a quoted value may hold spaces
				end = max(end, to)
			}
			e.replace(from, to, mask(s[from:to]))
		}
		// "(--password)" closes before any value could follow.
		secretNext = secretFlag(word) && !strings.ContainsAny(s[to:end], ")]};")
		i = end
	}
	return e.String()
}

// wordQuotes are the characters around a word that are not part of it.
const wordQuotes = "\"'()[]{},;"

// valueEnd is where the value starting at s[v] ends: after its closing
// quote ("…" with backslash escapes, \"…\" inside a JSON string, '…'), or at
// the first space, quote, ",", ";" or "&".
func valueEnd(s string, v int) int {
	switch {
	case v >= len(s):
		return v
	case strings.HasPrefix(s[v:], `\"`):
		if n := strings.Index(s[v+2:], `\"`); n >= 0 {
			return v + 2 + n + 2
		}
		return len(s)
	case s[v] == '"':
		for i := v + 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case '"':
				return i + 1
			}
		}
		return len(s)
	case s[v] == '\'':
		if n := strings.IndexByte(s[v+1:], '\''); n >= 0 {
			return v + 1 + n + 1
		}
		return len(s)
	}
	end := v
	for end < len(s) && !isSpace(s[end]) && !strings.ContainsRune("\"',;&", rune(s[end])) {
		end++
	}
	return end
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// indexFold is strings.Index for an ASCII word, ignoring case.
func indexFold(s, word string) int {
	for i := 0; i+len(word) <= len(s); i++ {
		if s[i]|0x20 == word[0]|0x20 && strings.EqualFold(s[i:i+len(word)], word) {
			return i
		}
	}
	return -1
}

func isKeyByte(c byte) bool {
	return c == '_' || c == '.' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isSchemeByte(c byte) bool {
	return c == '+' || c == '.' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// maskIf masks v when secret is true and v is not a mask already.
func maskIf(secret bool, v string, mask func(string) string) string {
	if !secret || isMask(v) {
		return v
	}
	return mask(v)
}

// replaceGroup replaces, in each match of re, one capture group: f returns
// the group's index and its new text, or 0 to leave the match alone. A
// group whose text is already a mask is left alone. After a match left
// alone the search goes on from its last group, so "a: password=x" still
// finds "password=x" inside the value of "a".
func replaceGroup(re *regexp.Regexp, s string, f func(m []string) (int, string)) string {
	var b strings.Builder
	done, pos := 0, 0
	for pos <= len(s) {
		loc := re.FindStringSubmatchIndex(s[pos:])
		if loc == nil {
			break
		}
		for i := range loc {
			if loc[i] >= 0 {
				loc[i] += pos
			}
		}
		m := make([]string, len(loc)/2)
		for i := range m {
			if loc[2*i] >= 0 {
				m[i] = s[loc[2*i]:loc[2*i+1]]
			}
		}
		g, repl := f(m)
		if g == 0 || loc[2*g] < 0 || isMask(m[g]) || repl == m[g] {
			last := len(m) - 1
			pos = max(loc[0]+1, loc[2*last])
			continue
		}
		b.WriteString(s[done:loc[2*g]])
		b.WriteString(repl)
		done = loc[2*g+1]
		pos = max(loc[1], loc[0]+1)
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}
