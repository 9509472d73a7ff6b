package render

import (
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Compact copies the environment's objects into fresh memory, each string
// once: equal strings (label keys and values, the revision, the Flink
// configuration's keys and most of its values) are shared by every object
// that has them. A render's objects are made among many times their size
// of garbage, so their scattered allocations keep most of the heap's pages
// in use after the garbage is collected; a holder that keeps them for long
// (the daemon, until the next commit) packs them with Compact. The objects
// are the same values; Compact allocates about their size once.
func (e *Environment) Compact() {
	c := compactor{strs: map[string]string{}}
	objs := make([]Object, len(e.Objects))
	ptrs := make([]*Object, len(e.Objects))
	for i, o := range e.Objects {
		objs[i] = *o
		objs[i].App, objs[i].File = c.str(o.App), c.str(o.File)
		if o.Unstructured != nil {
			objs[i].Unstructured = &unstructured.Unstructured{Object: c.value(o.Object).(map[string]any)}
		}
		ptrs[i] = &objs[i]
	}
	e.Objects = ptrs
}

type compactor struct {
	strs map[string]string
}

func (c *compactor) str(s string) string {
	if t, ok := c.strs[s]; ok {
		return t
	}
	t := strings.Clone(s)
	c.strs[t] = t
	return t
}

// value is a copy of a JSON value as unstructured holds it.
func (c *compactor) value(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if v == nil {
			return v
		}
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[c.str(k)] = c.value(x)
		}
		return out
	case []any:
		if v == nil {
			return v
		}
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = c.value(x)
		}
		return out
	case string:
		return c.str(v)
	// A number in an interface points at a box of its own (but for small
	// integers): a new box, in fresh memory.
	case int64:
		return v
	case float64:
		return v
	default: // bool, nil: nothing in the render's memory
		return v
	}
}
