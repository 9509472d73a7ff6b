package model

import (
	"fmt"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/resource"
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
	rule string
	msg  string
}

// Quantity is a Kubernetes resource quantity ("2", "500m", "8Gi").
type Quantity struct {
	resource.Quantity
	// Set is true when the field was present in the file.
	Set bool
}

// MustQuantity parses s or panics; for tests and defaults.
func MustQuantity(s string) Quantity {
	return Quantity{Quantity: resource.MustParse(s), Set: true}
}

func (q *Quantity) decodeNode(n *yaml.Node) *fieldError {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return &fieldError{RuleWrongType, fmt.Sprintf("expected a Kubernetes quantity such as \"2\", \"500m\" or \"8Gi\", got %s", describe(n))}
	}
	v, err := resource.ParseQuantity(n.Value)
	if err != nil {
		return &fieldError{RuleQuantity, fmt.Sprintf("%q is not a valid Kubernetes quantity (examples: \"2\", \"500m\", \"8Gi\", \"512Mi\")", n.Value)}
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
		return &fieldError{RuleInvalidValue, fmt.Sprintf("%q is not a date of the form YYYY-MM-DD", n.Value)}
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
			return "the number " + n.Value
		case "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		default:
			return fmt.Sprintf("the string %q", n.Value)
		}
	default:
		return "an alias"
	}
}
