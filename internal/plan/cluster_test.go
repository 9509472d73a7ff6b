package plan

import (
	"bytes"
	"strings"
	"testing"
)

// The plan names each environment's cluster, and says what moving an
// environment to another cluster leaves behind.
func TestPlanShowsClusters(t *testing.T) {
	g := newExampleRepo(t)
	g.edit("environments/prod-eu.yaml", "namespace: flink-prod-eu", "namespace: flink-prod-eu\n  cluster: eu-1")
	g.commit("prod-eu moves to cluster eu-1")
	r := g.plan("main~1", "main", Options{})
	var md, text bytes.Buffer
	if err := WriteMarkdown(&md, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteText(&text, r); err != nil {
		t.Fatal(err)
	}
	for format, out := range map[string]string{"markdown": md.String(), "text": text.String()} {
		if !strings.Contains(out, "cluster eu-1") {
			t.Errorf("%s does not name prod-eu's cluster:\n%s", format, out)
		}
		if !strings.Contains(out, "moves from cluster default to cluster eu-1") {
			t.Errorf("%s does not note the move:\n%s", format, out)
		}
	}
	for _, e := range r.Environments {
		if (e.Name == "prod-eu") != (e.Cluster == "eu-1") {
			t.Errorf("%s: cluster %q", e.Name, e.Cluster)
		}
	}
}
