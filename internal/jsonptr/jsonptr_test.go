package jsonptr

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplitAndJoin(t *testing.T) {
	for _, c := range []struct {
		pointer string
		tokens  []string
	}{
		{"", []string{}},
		{"/", []string{""}},
		{"//", []string{"", ""}},
		{"/spec/", []string{"spec", ""}},
		{"/spec/flinkConfiguration/pipeline.jobvertex-parallelism-overrides", []string{"spec", "flinkConfiguration", "pipeline.jobvertex-parallelism-overrides"}},
		{"/metadata/annotations/example.com~1owner", []string{"metadata", "annotations", "example.com/owner"}},
		// ~1 is unescaped before ~0 (RFC 6901 section 4): ~01 is "~1", not "/".
		{"/a~0b/~01/~10", []string{"a~b", "~1", "/0"}},
		{"/spec/containers/0/image", []string{"spec", "containers", "0", "image"}},
	} {
		if got := Split(c.pointer); !reflect.DeepEqual(got, c.tokens) {
			t.Errorf("Split(%q) = %q, want %q", c.pointer, got, c.tokens)
		}
		if got := Join(c.tokens); got != c.pointer {
			t.Errorf("Join(%q) = %q, want %q", c.tokens, got, c.pointer)
		}
	}
	// Not a pointer (model.ValidPointer refuses it): one token, as written.
	for _, p := range []string{"spec", "spec/job", "~1"} {
		if got := Split(p); !reflect.DeepEqual(got, []string{p}) {
			t.Errorf("Split(%q) = %q, want the one token %q", p, got, p)
		}
	}
}

// object is a fresh unstructured object for each case (Set and Delete
// change it).
func object() map[string]any {
	return map[string]any{
		"spec": map[string]any{
			"flinkConfiguration": map[string]any{"a.b": "1"},
			"containers":         []any{map[string]any{"name": "main"}, "sidecar"},
			"replicas":           int64(2),
		},
	}
}

func TestLookup(t *testing.T) {
	for _, c := range []struct {
		pointer string
		want    any
		ok      bool
	}{
		{"", object(), true},
		{"/spec/flinkConfiguration/a.b", "1", true},
		{"/spec/containers/0/name", "main", true},
		{"/spec/containers/1", "sidecar", true},
		{"/spec/containers/2", nil, false},
		{"/spec/containers/-1", nil, false},
		{"/spec/containers/x", nil, false},
		{"/spec/containers/01", "sidecar", true}, // strconv.Atoi reads 01 as 1, as sync always has
		{"/spec/replicas/x", nil, false},
		{"/spec/missing", nil, false},
		{"/spec/missing/deeper", nil, false},
	} {
		got, ok := Lookup(object(), Split(c.pointer))
		if ok != c.ok || !reflect.DeepEqual(got, c.want) {
			t.Errorf("Lookup(%q) = %v, %v; want %v, %v", c.pointer, got, ok, c.want, c.ok)
		}
	}
}

func TestSet(t *testing.T) {
	for _, c := range []struct {
		pointer string
		want    func(map[string]any) // the change expected on object()
	}{
		{"/spec/flinkConfiguration/a.b", func(o map[string]any) { o["spec"].(map[string]any)["flinkConfiguration"].(map[string]any)["a.b"] = "v" }},
		{"/spec/new/deeper/key", func(o map[string]any) {
			o["spec"].(map[string]any)["new"] = map[string]any{"deeper": map[string]any{"key": "v"}}
		}},
		{"/spec/containers/0/image", func(o map[string]any) {
			o["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["image"] = "v"
		}},
		{"/spec/containers/1", func(o map[string]any) { o["spec"].(map[string]any)["containers"].([]any)[1] = "v" }},
		// Nothing: past a list's end, through a scalar, an index that is
		// none, no tokens.
		{"/spec/containers/2", func(map[string]any) {}},
		{"/spec/containers/2/image", func(map[string]any) {}},
		{"/spec/containers/x/image", func(map[string]any) {}},
		{"/spec/replicas/x", func(map[string]any) {}},
		{"/spec/replicas/x/y", func(map[string]any) {}},
		{"", func(map[string]any) {}},
	} {
		got, want := object(), object()
		Set(got, Split(c.pointer), "v")
		c.want(want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Set(%q): %v, want %v", c.pointer, got, want)
		}
	}
}

func TestDelete(t *testing.T) {
	for _, c := range []struct {
		pointer string
		want    func(map[string]any)
	}{
		{"/spec/flinkConfiguration/a.b", func(o map[string]any) {
			delete(o["spec"].(map[string]any)["flinkConfiguration"].(map[string]any), "a.b")
		}},
		{"/spec/containers/0/name", func(o map[string]any) {
			delete(o["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any), "name")
		}},
		{"/spec", func(o map[string]any) { delete(o, "spec") }},
		// Nothing: a list element (a list keeps its length), a missing way,
		// no tokens.
		{"/spec/containers/1", func(map[string]any) {}},
		{"/spec/missing/key", func(map[string]any) {}},
		{"/spec/replicas/x", func(map[string]any) {}},
		{"", func(map[string]any) {}},
	} {
		got, want := object(), object()
		Delete(got, Split(c.pointer))
		c.want(want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Delete(%q): %v, want %v", c.pointer, got, want)
		}
	}
}

// rfcSplit is RFC 6901's evaluation of a pointer's tokens, section 4:
// split at '/', then in each token ~1 becomes '/' and then ~0 becomes '~'.
func rfcSplit(p string) []string {
	out := []string{}
	if p == "" {
		return out
	}
	for _, t := range strings.Split(p[1:], "/") {
		out = append(out, strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~"))
	}
	return out
}

// FuzzSplit: ignore rules' pointers come from the repository's YAML. Any
// string splits without a panic; a pointer splits as RFC 6901 says,
// something else is one token; a pointer whose every '~' is escaped
// (model.ValidPointer) comes back through Join unchanged; and Set, Lookup
// and Delete at its tokens agree.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{"", "/", "/spec/flinkConfiguration/pipeline.jobvertex-parallelism-overrides", "/metadata/labels/a~1b",
		"/a~0~1/", "/~01", "/~2", "/~", "spec", "/x/0/y", "//", "/é\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		tokens := Split(p)
		if p != "" && !strings.HasPrefix(p, "/") {
			if !reflect.DeepEqual(tokens, []string{p}) {
				t.Fatalf("Split(%q) = %q, want the one token", p, tokens)
			}
			return
		}
		if want := rfcSplit(p); !reflect.DeepEqual(tokens, want) {
			t.Fatalf("Split(%q) = %q, RFC 6901 says %q", p, tokens, want)
		}
		if escaped(p) {
			if back := Join(tokens); back != p {
				t.Fatalf("Split(%q) = %q, joined back %q", p, tokens, back)
			}
		}
		if len(tokens) == 0 {
			return
		}
		obj := map[string]any{}
		Set(obj, tokens, "v")
		if v, ok := Lookup(obj, tokens); !ok || v != "v" {
			t.Fatalf("Set then Lookup(%q) = %v, %v; want v", p, v, ok)
		}
		Delete(obj, tokens)
		if _, ok := Lookup(obj, tokens); ok {
			t.Fatalf("Delete(%q) left a value", p)
		}
	})
}

// escaped reports whether every '~' of p is written ~0 or ~1.
func escaped(p string) bool {
	for i := 0; i < len(p); i++ {
		if p[i] == '~' && (i+1 == len(p) || (p[i+1] != '0' && p[i+1] != '1')) {
			return false
		}
	}
	return true
}
