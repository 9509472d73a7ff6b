package policy

import (
	"strings"
	"testing"

	"sort"
)

// Two environments on one namespace prune each other's objects when they
// are on one cluster (an error); on clusters of different names they are
// apart unless both names point at one cluster (a warning says so).
func TestSharedNamespaceAcrossClusters(t *testing.T) {
	rbac004 := func(files map[string]string) []string {
		var out []string
		for _, f := range evaluate(t, files, twoTMs, nil) {
			if f.Rule == "RBAC-004" {
				out = append(out, f.Environment+" "+string(f.Severity))
				if !strings.Contains(f.Message, "flink-prod") {
					t.Errorf("the message must name the namespace: %s", f.Message)
				}
			}
		}
		return out
	}
	sameNS := with("environments/eu.yaml", "namespace: flink-eu", "namespace: flink-prod")
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"both on the default cluster", sameNS, "eu error,prod error"},
		{"both on cluster b", edited(sameNS, "environments/eu.yaml", "namespace: flink-prod", "namespace: flink-prod\n  cluster: b",
			"environments/prod.yaml", "namespace: flink-prod", "namespace: flink-prod\n  cluster: b"), "eu error,prod error"},
		{"default and cluster b", edited(sameNS, "environments/eu.yaml", "namespace: flink-prod", "namespace: flink-prod\n  cluster: b"), "eu warning,prod warning"},
		{"own namespaces", with("environments/eu.yaml", "namespace: flink-eu", "namespace: flink-eu\n  cluster: b"), ""},
	}
	for _, c := range cases {
		got := rbac004(c.files)
		sort.Strings(got)
		if strings.Join(got, ",") != c.want {
			t.Errorf("%s: RBAC-004 %v, want %q", c.name, got, c.want)
		}
	}
}
