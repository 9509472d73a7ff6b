package model

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/flinksync/flinksync/internal/diag"
)

type yamlNode = yaml.Node

const yamlMapping = yaml.MappingNode

// nodeDecoder is implemented by types that read themselves from one YAML
// node. A returned *fieldError is reported at the node's line.
type nodeDecoder interface {
	decodeNode(n *yaml.Node) *fieldError
}

// fieldError is a problem with one value; the decoder adds file, line and path.
type fieldError struct {
	rule *diag.Rule
	msg  string
}

// Quantity is a Kubernetes resource quantity ("2", "500m", "8Gi").
type Quantity struct {
	resource.Quantity
	// Set is true when the field was present in the file.
	Set bool
}

// Bounds on the numbers a repository may write. A quantity is handed to
// apimachinery's resource.ParseQuantity, which computes 10^exponent exactly:
// "1e2147483648" (15 bytes) never finishes, and an exponent beyond 32 bits
// wraps ("1e4294967296" reads as 1). Every number is checked against these
// bounds first; docs/repo-format.md states them.
const (
	// MaxNumberLength is the longest quantity, duration or whole number
	// accepted, in bytes. The longest meaningful one ("9223372036854775807",
	// "0.000000001", "1.5Gi") is far shorter.
	MaxNumberLength = 64
	// MaxQuantityExponent bounds the exponent of a quantity in scientific
	// notation: from 1e-30 to 1e30. Kubernetes quantities stop at nano (1e-9)
	// and at about 9.2e18 (int64); 1e30 is beyond any CPU, memory or state.
	MaxQuantityExponent = 30
)

// ParseQuantity parses a Kubernetes quantity written by a user ("2",
// "500m", "8Gi", "1.5e3"). It refuses, before apimachinery sees it, a value
// longer than MaxNumberLength or with an exponent beyond ±MaxQuantityExponent,
// so no input makes it spin. It is the one way flinksync reads a quantity
// from user input.
func ParseQuantity(s string) (resource.Quantity, error) {
	if len(s) > MaxNumberLength {
		return resource.Quantity{}, fmt.Errorf("a quantity of %d characters is too long (at most %d)", len(s), MaxNumberLength)
	}
	if e, ok := quantityExponent(s); ok {
		if e < -MaxQuantityExponent || e > MaxQuantityExponent {
			return resource.Quantity{}, fmt.Errorf("%q has an exponent out of range (from -%d to %d: 1e%d is already far beyond any CPU, memory or state)",
				s, MaxQuantityExponent, MaxQuantityExponent, MaxQuantityExponent)
		}
	}
	v, err := resource.ParseQuantity(s)
	if err != nil {
		return resource.Quantity{}, fmt.Errorf("%q is not a valid Kubernetes quantity (examples: \"2\", \"500m\", \"8Gi\", \"512Mi\")", s)
	}
	return v, nil
}

// quantityExponent finds the exponent of a quantity in scientific notation
// ("1.5e3", "2E-4") as apimachinery splits it: a sign, digits, a fraction,
// then a suffix; a suffix of "e" or "E" and a number is an exponent ("E" and
// "Ei" alone are exa and exbi). An exponent too large for int64 is reported
// as ±MaxInt64. ok is false when s has no exponent.
func quantityExponent(s string) (e int64, ok bool) {
	i := strings.IndexFunc(s, func(r rune) bool { return !strings.ContainsRune("+-0123456789.", r) })
	if i < 0 || i+1 >= len(s) || (s[i] != 'e' && s[i] != 'E') || s[i:] == "Ei" {
		return 0, false
	}
	e, err := strconv.ParseInt(s[i+1:], 10, 64)
	if err == nil {
		return e, true
	}
	if errors.Is(err, strconv.ErrRange) {
		if s[i+1] == '-' {
			return math.MinInt64, true
		}
		return math.MaxInt64, true
	}
	return 0, false // not a number: apimachinery refuses it
}

// MustQuantity parses s or panics; for tests and defaults.
func MustQuantity(s string) Quantity {
	v, err := ParseQuantity(s)
	if err != nil {
		panic(err)
	}
	return Quantity{Quantity: v, Set: true}
}

func (q *Quantity) decodeNode(n *yaml.Node) *fieldError {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return &fieldError{RuleWrongType, fmt.Sprintf("expected a Kubernetes quantity such as \"2\", \"500m\" or \"8Gi\", got %s", describe(n))}
	}
	v, err := ParseQuantity(n.Value)
	if err != nil {
		return &fieldError{RuleQuantity, err.Error()}
	}
	if v.Sign() < 0 {
		return &fieldError{RuleQuantity, fmt.Sprintf("%q is negative; a quantity here must be zero or more", n.Value)}
	}
	q.Quantity, q.Set = v, true
	return nil
}

// MarshalJSON writes the canonical quantity string.
func (q Quantity) MarshalJSON() ([]byte, error) { return q.Quantity.MarshalJSON() }

// Duration is a Go duration string ("300ms", "1s", "5m").
type Duration struct {
	time.Duration
	Set bool
}

func (d *Duration) decodeNode(n *yaml.Node) *fieldError {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return &fieldError{RuleWrongType, fmt.Sprintf("expected a duration such as \"300ms\", \"1s\" or \"5m\", got %s", describe(n))}
	}
	if len(n.Value) > MaxNumberLength {
		return &fieldError{RuleInvalidValue, fmt.Sprintf("a duration of %d characters is too long (at most %d)", len(n.Value), MaxNumberLength)}
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return &fieldError{RuleInvalidValue, fmt.Sprintf("%q is not a duration (use a unit: \"300ms\", \"1s\", \"5m\")", n.Value)}
	}
	if v <= 0 {
		return &fieldError{RuleInvalidValue, fmt.Sprintf("%q must be longer than zero", n.Value)}
	}
	d.Duration, d.Set = v, true
	return nil
}

// Date is a calendar day (YYYY-MM-DD), as in a waiver's expiry.
type Date struct {
	time.Time
}

func (d *Date) decodeNode(n *yaml.Node) *fieldError {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return &fieldError{RuleWrongType, fmt.Sprintf("expected a date YYYY-MM-DD, got %s", describe(n))}
	}
	t, err := time.Parse("2006-01-02", n.Value)
	if err != nil {
		return &fieldError{RuleInvalidValue, clip(n.Value) + " is not a date of the form YYYY-MM-DD"}
	}
	d.Time = t
	return nil
}

// String formats the date as YYYY-MM-DD.
func (d Date) String() string { return d.Format("2006-01-02") }

// FlinkConfiguration is a flat map of Flink configuration keys. Values may be
// written as any YAML scalar (2, true, 30s); they are kept as strings, which
// is what Flink and the operators expect.
type FlinkConfiguration map[string]string

func (c *FlinkConfiguration) decodeNode(n *yaml.Node) *fieldError {
	if n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return &fieldError{RuleWrongType, fmt.Sprintf("expected a map of Flink configuration keys to values, got %s", describe(n))}
	}
	out := make(FlinkConfiguration, len(n.Content)/2)
	var bad []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		if k.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode {
			bad = append(bad, k.Value)
			continue
		}
		if v.Tag == "!!null" {
			out[k.Value] = ""
			continue
		}
		out[k.Value] = v.Value
	}
	if len(bad) > 0 {
		return &fieldError{RuleWrongType, fmt.Sprintf("Flink configuration values must be plain values, not maps or lists (keys %s); write nested keys flat, e.g. \"state.backend.type: rocksdb\"", strings.Join(bad, ", "))}
	}
	*c = out
	return nil
}

// Clone returns a copy that can be changed freely.
func (c FlinkConfiguration) Clone() FlinkConfiguration {
	out := make(FlinkConfiguration, len(c))
	for k, v := range c {
		out[k] = v
	}
	return out
}

// describe names the kind of a YAML node for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a map"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "nothing (null)"
		case "!!int":
			return "the number " + clip(n.Value)
		case "!!float":
			return "the number " + clip(n.Value)
		case "!!bool":
			return "the boolean " + n.Value
		default:
			return "the string " + clip(n.Value)
		}
	default:
		return "an alias"
	}
}

// clipLength is the most of a value a message quotes.
const clipLength = 40

// Quote quotes a value read from the repository for a message, cut after
// 40 bytes: a repository may hold values of megabytes, and a message is
// printed, logged and posted as a PR comment.
func Quote(s string) string { return clip(s) }

func clip(s string) string {
	if len(s) <= clipLength {
		return strconv.Quote(s)
	}
	cut := clipLength
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(s[:cut]), len(s))
}
