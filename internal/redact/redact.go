// Package redact is the one place flinksync masks secrets. Every output that
// can carry a value from Git or from the cluster goes through it:
//
//   - internal/sync masks the objects of its diffs and the values of its
//     drift records ([Object], [Field]) and the free text of a pass's result
//     ([Text]);
//   - internal/plan masks the pull-request plan (text, Markdown, JSON);
//   - internal/report masks findings (text, JSON, SARIF, JUnit), alert
//     payloads (Slack, Alertmanager, JSON) and Kubernetes Events;
//   - internal/daemon masks its status API and its logs ([URL], [Text],
//     [LogHandler]);
//   - cmd/flinksync masks what apply, diff and drift print.
//
// What counts as secret is listed in keys.go (key names) and text.go
// (values inside strings), and documented in docs/security.md. A masked
// value only says that it changed: [Mask] is a keyed hash whose key is
// drawn at random when the process starts, so two values in one output can
// be compared (same mask, same value) but nobody can confirm a guessed
// value offline; where no comparison is needed, [Fixed] replaces the value.
//
// redact imports nothing of flinksync: every stage may use it.
package redact

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
)

// Fixed replaces a secret where the output need not show whether it
// changed: free text such as log lines and error messages.
const Fixed = "<masked>"

// maskPrefix starts every mask, Fixed and keyed alike: text that already
// holds a mask is left as it is.
const maskPrefix = "<masked"

// maskBytes is how much of the HMAC a mask shows: 6 bytes (48 bits) tell
// values apart within one output; without the process's key they say
// nothing about the value.
const maskBytes = 6

// processKey is the HMAC key, 32 random bytes (SHA-256's block size needs no
// more) drawn the first time a value is masked and never written anywhere.
var processKey = sync.OnceValue(func() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // crypto/rand.Read never fails (Go 1.24+)
	return k
})

// Mask is the keyed mask of a value: "<masked hmac:" followed by 12 hex
// digits of HMAC-SHA256(process key, value) and ">". Equal values get equal
// masks in one process, so a diff still shows what changed; the key is
// random per process, so a mask published in a pull-request comment cannot
// be checked against a guess. A nil value stays nil-like: "<none>" is not
// a secret.
func Mask(v any) string {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case []byte:
		s = string(x)
	default:
		s = fmt.Sprint(v)
	}
	m := hmac.New(sha256.New, processKey())
	m.Write([]byte(s))
	return "<masked hmac:" + hex.EncodeToString(m.Sum(nil)[:maskBytes]) + ">"
}

// fixed is the mask of Text: the same for every value.
func fixed(string) string { return Fixed }

// isMask reports whether s starts with a mask (it was masked before), as
// it is or as encoding/json escapes "<" by default.
func isMask(s string) bool {
	return strings.HasPrefix(s, maskPrefix) || strings.HasPrefix(s, `\u003c`+maskPrefix[1:])
}
