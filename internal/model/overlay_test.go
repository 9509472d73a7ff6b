package model

import (
	"reflect"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// mergeNodes merges over into base (the loader's rule for overrides,
// written out on YAML nodes: the oracle the overlay decode is checked
// against): maps merge key by key (recursively),
// anything else is replaced. Neither input is changed. Each key of over is
// found through an index of base's keys, so a merge takes time linear in the
// size of both (a scan per key made a 1.2 MB override take 26 s).
func mergeNodes(base, over *yaml.Node) *yaml.Node {
	if base.Kind == yaml.AliasNode && base.Alias != nil {
		base = base.Alias
	}
	if over.Kind == yaml.AliasNode && over.Alias != nil {
		over = over.Alias
	}
	if base.Kind != yaml.MappingNode || over.Kind != yaml.MappingNode {
		return over
	}
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: base.Tag, Line: base.Line, Column: base.Column}
	out.Content = append(make([]*yaml.Node, 0, len(base.Content)+len(over.Content)), base.Content...)
	at := make(map[string]int, len(out.Content)/2) // key → index of its first pair in out
	for j := 0; j+1 < len(out.Content); j += 2 {
		if _, seen := at[out.Content[j].Value]; !seen {
			at[out.Content[j].Value] = j
		}
	}
	for i := 0; i+1 < len(over.Content); i += 2 {
		k, v := over.Content[i], over.Content[i+1]
		if j, ok := at[k.Value]; ok {
			out.Content[j], out.Content[j+1] = k, mergeNodes(out.Content[j+1], v)
			continue
		}
		at[k.Value] = len(out.Content)
		out.Content = append(out.Content, k, v)
	}
	return out
}

// The overlay decode (an override decoded over a copy of the base spec)
// gives what merging the YAML and decoding the result gives, and leaves
// the base untouched.
func TestOverlayDecodeMatchesMergeNodes(t *testing.T) {
	const baseSpec = `
environments: [dev, prod]
pool: small
image: flink:1.20
job: {jarURI: local:///a.jar, args: [a, b], upgradeMode: savepoint, allowNonRestoredState: true}
workload: {recordsPerSecond: 100, latency: 2s, stateSize: 1Gi}
flinkConfiguration: {a.b: "1", c.d: x}
taskManagers: 3
`
	overrides := []string{
		`{pool: large}`,
		`{flinkConfiguration: {a.b: "2", e.f: y}}`,
		`{flinkConfiguration: null}`,
		`{job: {args: [c]}}`,
		`{job: {allowNonRestoredState: false, entryClass: X}}`,
		`{workload: {latency: 9s}, taskManagers: null}`,
		`{image: null, pool: medium, workload: {stateSize: 5Gi, skew: high}}`,
		`{}`,
	}
	parse := func(s string) *yaml.Node {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(s), &doc); err != nil {
			t.Fatal(err)
		}
		return doc.Content[0]
	}
	baseNode := parse(baseSpec)
	var base AppSpec
	bd := &decoder{lines: map[string]int{}, lenient: true}
	bd.decode(baseNode, reflect.ValueOf(&base).Elem(), "spec")
	before := reflect.ValueOf(base.FlinkConfiguration).Pointer()
	for _, ov := range overrides {
		ovNode := parse(ov)
		var want AppSpec
		wd := &decoder{lines: map[string]int{}, lenient: true}
		wd.decode(mergeNodes(baseNode, ovNode), reflect.ValueOf(&want).Elem(), "spec")

		got := base
		gd := &decoder{lines: map[string]int{}, lenient: true, overlay: true}
		gd.decode(ovNode, reflect.ValueOf(&got).Elem(), "spec.overrides.prod")
		if len(gd.findings)+len(wd.findings) > 0 {
			t.Fatalf("%s: findings %v %v", ov, gd.findings, wd.findings)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("override %s:\n got %+v\nwant %+v", ov, got, want)
		}
		origin := overlayOrigin(Origin{lines: bd.lines}, gd.lines, "spec.overrides.prod")
		for k, line := range wd.lines {
			if got, _ := origin.line(k); got != line {
				t.Errorf("override %s: line of %s is %d, want %d", ov, k, origin.LineOf(k), line)
			}
		}
	}
	if base.FlinkConfiguration["a.b"] != "1" || len(base.FlinkConfiguration) != 2 || reflect.ValueOf(base.FlinkConfiguration).Pointer() != before ||
		strings.Join(base.Job.Args, ",") != "a,b" || !*base.Job.AllowNonRestoredState {
		t.Errorf("the base spec was changed: %+v", base)
	}
}
