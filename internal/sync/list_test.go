package sync

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// split runs splitList over doc and returns the continue token and the
// items it passed on, as strings.
func split(doc string) (string, []string, error) {
	items := make(chan json.RawMessage, 100)
	cont, err := splitList(json.NewDecoder(strings.NewReader(doc)), items)
	close(items)
	var out []string
	for it := range items {
		out = append(out, string(it))
	}
	return cont, out, err
}

func TestSplitListPassesEachItemWhole(t *testing.T) {
	for _, c := range []struct {
		name, doc, cont string
		items           []string
	}{
		{"a page with more to come",
			`{"kind":"FlinkDeploymentList","apiVersion":"flink.apache.org/v1beta1","metadata":{"resourceVersion":"7","continue":"abc"},"items":[{"metadata":{"name":"a","continue":"not-this"}},{"metadata":{"name":"b"},"spec":{"x":[1,{"y":null}]}}]}`,
			"abc", []string{`{"metadata":{"name":"a","continue":"not-this"}}`, `{"metadata":{"name":"b"},"spec":{"x":[1,{"y":null}]}}`}},
		{"items before metadata", `{"items":[{"a":1}],"metadata":{"continue":"z"}}`, "z", []string{`{"a":1}`}},
		{"the last page", `{"metadata":{},"items":[]}`, "", nil},
		{"items null", `{"metadata":{"continue":""},"items":null}`, "", nil},
		{"no items", `{"kind":"List"}`, "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			cont, items, err := split(c.doc)
			if err != nil {
				t.Fatal(err)
			}
			if cont != c.cont || !slices.Equal(items, c.items) {
				t.Errorf("continue %q, items %q; want %q, %q", cont, items, c.cont, c.items)
			}
		})
	}
}

func TestSplitListRejectsWhatIsNotAList(t *testing.T) {
	for _, doc := range []string{
		``,
		`[]`,
		`{"items":{"a":1}}`,
		`{"items":[{"a":1}`,    // cut off mid-answer
		`{"items":[{"a":1},]}`, // not JSON
		`{"metadata":{"continue":5},"items":[]}`,
		`{"items":[]`,
		`{"items":[1],"items":[2]}`, // which one?
	} {
		if _, _, err := split(doc); err == nil {
			t.Errorf("%q: no error", doc)
		}
	}
}

// FuzzSplitList: whatever an answer holds, splitList does not panic, and
// for a JSON object whose items are an array it passes on exactly what
// encoding/json finds there.
func FuzzSplitList(f *testing.F) {
	for _, s := range []string{`{"metadata":{"continue":"a"},"items":[{"a":1},2,"x",null]}`, `{"items":null}`, `{"items":[[],{}],"x":{"items":[1]}}`, `{`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		cont, items, err := split(doc)
		var want struct {
			Metadata struct {
				Continue string `json:"continue"`
			} `json:"metadata"`
			Items []json.RawMessage `json:"items"`
		}
		if json.Unmarshal([]byte(doc), &want) != nil || err != nil {
			return
		}
		if cont != want.Metadata.Continue || len(items) != len(want.Items) {
			t.Fatalf("%q: continue %q, %d items; encoding/json: %q, %d", doc, cont, len(items), want.Metadata.Continue, len(want.Items))
		}
		for i := range items {
			if items[i] != string(want.Items[i]) {
				t.Fatalf("%q: item %d %s, encoding/json %s", doc, i, items[i], want.Items[i])
			}
		}
	})
}
