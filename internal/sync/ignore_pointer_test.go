package sync

import (
	"reflect"
	"testing"

	"github.com/flinksync/flinksync/internal/jsonptr"
	"github.com/flinksync/flinksync/internal/model"
)

func TestPointerAndFieldPath(t *testing.T) {
	for _, c := range []struct {
		pointer string
		tokens  []string
		field   string
	}{
		{"/spec/flinkConfiguration/pipeline.jobvertex-parallelism-overrides", []string{"spec", "flinkConfiguration", "pipeline.jobvertex-parallelism-overrides"},
			`spec.flinkConfiguration["pipeline.jobvertex-parallelism-overrides"]`},
		{"/spec/job/autoscalerResetNonce", []string{"spec", "job", "autoscalerResetNonce"}, "spec.job.autoscalerResetNonce"},
		{"/metadata/annotations/example.com~1owner", []string{"metadata", "annotations", "example.com/owner"}, `metadata.annotations["example.com/owner"]`},
		{"/metadata/labels/a~1b", []string{"metadata", "labels", "a/b"}, "metadata.labels.a/b"},
		{"/a~0b/~01", []string{"a~b", "~1"}, "a~b.~1"},
		{"/spec/", []string{"spec", ""}, `spec[""]`},
		{"/x/[0]/y", []string{"x", "[0]", "y"}, `x["[0]"].y`},
		{`/k/"]`, []string{"k", `"]`}, `k["\"]"]`},
	} {
		tokens := jsonptr.Split(c.pointer)
		if !reflect.DeepEqual(tokens, c.tokens) {
			t.Errorf("jsonptr.Split(%q) = %q, want %q", c.pointer, tokens, c.tokens)
		}
		if got := jsonptr.Join(c.tokens); got != c.pointer {
			t.Errorf("jsonptr.Join(%q) = %q, want %q", c.tokens, got, c.pointer)
		}
		if got := PointerToField(c.pointer); got != c.field {
			t.Errorf("PointerToField(%q) = %q, want %q", c.pointer, got, c.field)
		}
		if got, err := FieldToPointer(c.field); err != nil || got != c.pointer {
			t.Errorf("FieldToPointer(%q) = %q, %v, want %q", c.field, got, err, c.pointer)
		}
	}
	for _, bad := range []string{".spec", "spec.", "spec..x", `spec.["x"]`, `spec["x"`, `spec["x"]y`, `spec[x]`, "a]b"} {
		if _, err := FieldToPointer(bad); err == nil {
			t.Errorf("FieldToPointer(%q) must fail", bad)
		}
	}
}

// FuzzPointerRoundTrip: every JSON pointer an ignore rule may hold comes
// back unchanged through its field path (how drift names the field), and
// every field path that parses prints the same tokens back.
func FuzzPointerRoundTrip(f *testing.F) {
	for _, s := range []string{"/spec/flinkConfiguration/pipeline.jobvertex-parallelism-overrides", "/metadata/labels/a~1b", "/a~0~1/", `/x/"]/[`,
		`spec.flinkConfiguration["a.b"]`, `a["\u00e9\x00"].b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if model.ValidPointer(s) == nil {
			field := PointerToField(s)
			back, err := FieldToPointer(field)
			if err != nil || back != s {
				t.Fatalf("pointer %q → field %q → pointer %q (%v)", s, field, back, err)
			}
		}
		if tokens, err := parseFieldPath(s); err == nil {
			again, err := parseFieldPath(fieldPath(tokens))
			if err != nil || !reflect.DeepEqual(again, tokens) && len(tokens) > 0 {
				t.Fatalf("field %q → %q → %q (%v)", s, tokens, again, err)
			}
			if back := jsonptr.Split(jsonptr.Join(tokens)); len(tokens) > 0 && !reflect.DeepEqual(back, tokens) {
				t.Fatalf("tokens %q → pointer %q → %q", tokens, jsonptr.Join(tokens), back)
			}
		}
	})
}
