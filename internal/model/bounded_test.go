package model

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flinksync/flinksync/internal/diag"
)

// hangDeadline is how long a parse may run before a test calls it a hang.
// It is a correctness check, not a speed target: a bounded parse takes
// microseconds, an unbounded one never ends.
const hangDeadline = 5 * time.Second

// within runs f and fails the test if it has not returned after
// hangDeadline. A hung f keeps its goroutine; the test binary ends anyway.
func within[T any](t *testing.T, what string, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(hangDeadline):
		t.Fatalf("%s did not finish within %s: an unbounded parse", what, hangDeadline)
		panic("unreachable")
	}
}

func TestParseQuantityBounds(t *testing.T) {
	cases := []struct {
		in   string
		want string // the canonical quantity, or "" for an error
	}{
		{"2", "2"},
		{"500m", "500m"},
		{"8Gi", "8Gi"},
		{"1.5e3", "1500"},
		{"1e30", "1e30"},
		{"1e-30", "1e-9"}, // apimachinery rounds up to nano
		{"1E", "1E"},      // exa
		{"1Ei", "1Ei"},    // exbi
		{"1e+3", "1e+3"},
		{"1e2147483648", ""},          // 10^(2^31): never finished
		{"1e-100000000", ""},          // never finished
		{"1e4294967296", ""},          // wrapped to 1e0
		{"1e9223372036854775808", ""}, // beyond int64
		{"-1e-9223372036854775809", ""},
		{"1e31", ""},
		{"1e-31", ""},
		{"1" + strings.Repeat("0", MaxNumberLength), ""},
		{"0." + strings.Repeat("0", MaxNumberLength) + "1", ""},
		{"1ex", ""},
		{"20GB", ""},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			type result struct {
				got string
				err error
			}
			r := within(t, "ParseQuantity("+tc.in+")", func() result {
				q, err := ParseQuantity(tc.in)
				return result{q.String(), err}
			})
			switch {
			case tc.want == "" && r.err == nil:
				t.Fatalf("accepted as %s, want an error", r.got)
			case tc.want != "" && r.err != nil:
				t.Fatalf("refused: %v", r.err)
			case tc.want != "" && r.got != tc.want:
				t.Fatalf("got %s, want %s", r.got, tc.want)
			case r.err != nil && len(r.err.Error()) > 200:
				t.Fatalf("an error message of %d bytes", len(r.err.Error()))
			}
		})
	}
}

// TestLoadHostileNumbers: a quantity, duration or number with a huge
// exponent or length, in any field of any kind (and in an override), is a
// finding at its file and line, found at once.
func TestLoadHostileNumbers(t *testing.T) {
	app := func(workload, overrides string) string {
		return "apiVersion: flinksync.dev/v1alpha1\nkind: FlinkApplication\nmetadata:\n  name: b\nspec:\n  environments: [dev]\n  pool: small\n  job:\n    jarURI: local:///b.jar\n  workload:\n    recordsPerSecond: 10\n" + workload + overrides
	}
	long := strings.Repeat("9", 1<<20)
	cases := []struct {
		name  string
		files map[string]string
		want  want
	}{
		{"stateSize 1e2147483648", map[string]string{"apps/b.yaml": app("    stateSize: 1e2147483648\n", "")},
			want{RuleQuantity.ID(), "apps/b.yaml", 12}},
		{"stateSize 1e4294967296 (wrapped to 1)", map[string]string{"apps/b.yaml": app("    stateSize: 1e4294967296\n", "")},
			want{RuleQuantity.ID(), "apps/b.yaml", 12}},
		{"stateSize in an override", map[string]string{"apps/b.yaml": app("", "  overrides:\n    dev:\n      workload: {stateSize: 1e2147483648}\n")},
			want{RuleQuantity.ID(), "apps/b.yaml", 14}},
		{"nodes.cpu 1e-100000000", map[string]string{"environments/dev.yaml": strings.Replace(base["environments/dev.yaml"], `cpu: "4"`, "cpu: 1e-100000000", 1)},
			want{RuleQuantity.ID(), "environments/dev.yaml", 9}},
		{"taskManager.memory 1e2147483647", map[string]string{"pools/small.yaml": strings.Replace(base["pools/small.yaml"], "4Gi", "1e2147483647", 1)},
			want{RuleQuantity.ID(), "pools/small.yaml", 8}},
		{"maxTaskManagerCPU 1e-2147483648", map[string]string{"policy.yaml": "apiVersion: flinksync.dev/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec:\n  maxTaskManagerCPU: 1e-2147483648\n"},
			want{RuleQuantity.ID(), "policy.yaml", 5}},
		{"a quantity of 1 MiB", map[string]string{"apps/b.yaml": app("    stateSize: "+long+"\n", "")},
			want{RuleQuantity.ID(), "apps/b.yaml", 12}},
		{"a duration of 1 MiB", map[string]string{"apps/b.yaml": app("    latency: "+long+"s\n", "")},
			want{RuleInvalidValue.ID(), "apps/b.yaml", 12}},
		{"a whole number of 1 MiB", map[string]string{"apps/b.yaml": app("    distinctKeys: "+long+"\n", "")},
			want{RuleWrongType.ID(), "apps/b.yaml", 12}},
		{"a whole number of 1 MiB, tagged", map[string]string{"apps/b.yaml": app("    distinctKeys: !!int "+long+"\n", "")},
			want{RuleInvalidValue.ID(), "apps/b.yaml", 12}},
		{"a date of 1 MiB", map[string]string{"policy.yaml": "apiVersion: flinksync.dev/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec:\n  waivers:\n  - {rule: CPU-001, reason: r, expires: " + long + "}\n"},
			want{RuleInvalidValue.ID(), "policy.yaml", 6}},
		{"an unknown field of 1 MiB", map[string]string{"apps/b.yaml": app("    ? "+long+"\n    : 1\n", "")},
			want{RuleUnknownField.ID(), "apps/b.yaml", 12}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := within(t, "loading "+tc.name, func() []*diag.Finding {
				_, findings, _ := LoadFS(repoFS(tc.files))
				return findings
			})
			if len(fs) != 1 || (want{fs[0].Rule, fs[0].File, fs[0].Line}) != tc.want {
				t.Fatalf("want one finding %v, got %.2000v", tc.want, fs)
			}
			if len(fs[0].Message) > 300 {
				t.Errorf("a message of %d bytes: %.300s…", len(fs[0].Message), fs[0].Message)
			}
		})
	}
}

// TestLoadRepeatedKeys: a key written twice is a finding at its second line
// in every mapping of a document: the top level (apiVersion, kind, metadata,
// spec), typed fields, string maps, Flink configuration, overrides.
func TestLoadRepeatedKeys(t *testing.T) {
	const head = "apiVersion: flinksync.dev/v1alpha1\nkind: FlinkApplication\nmetadata:\n  name: b\n"
	const spec = "spec:\n  environments: [dev]\n  pool: small\n  job:\n    jarURI: local:///b.jar\n  workload:\n    recordsPerSecond: 10\n"
	cases := []struct {
		name, doc string
		line      int
	}{
		{"kind", head + "kind: Environment\n" + spec, 5},
		{"kind, second unknown", head + "kind: Pipeline\n" + spec, 5},
		{"apiVersion", head + "apiVersion: flinksync.dev/v1alpha1\n" + spec, 5},
		{"metadata", head + "metadata: {name: c}\n" + spec, 5},
		{"spec", head + spec + "spec: {}\n", 12},
		{"metadata.name", head + "  name: c\n" + spec, 5},
		{"spec.pool", head + spec + "  pool: small\n", 12},
		{"spec.flinkConfiguration key", head + spec + "  flinkConfiguration:\n    a.b: 1\n    c: 2\n    a.b: 3\n", 15},
		{"labels", head + "  labels: {team: a, team: b}\n" + spec, 5},
		{"override flinkConfiguration key", head + spec + "  overrides:\n    dev:\n      flinkConfiguration: {a: 1, a: 2}\n", 14},
		{"override key", head + spec + "  overrides:\n    dev:\n      pool: small\n      pool: small\n", 15},
		{"overrides environment", head + spec + "  overrides:\n    dev: {pool: small}\n    dev: {pool: small}\n", 14},
		{"quoted and plain", head + spec + "  \"pool\": small\n", 12},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, findings, _ := LoadFS(repoFS(map[string]string{"apps/b.yaml": tc.doc}))
			var got []string
			found := false
			for _, f := range findings {
				got = append(got, fmt.Sprintf("%s %s:%d %s", f.Rule, f.File, f.Line, f.Message))
				if f.Rule == RuleSyntax.ID() && f.File == "apps/b.yaml" && f.Line == tc.line && strings.Contains(f.Message, "written twice") {
					found = true
				}
			}
			if !found {
				t.Fatalf("want %s apps/b.yaml:%d \"key written twice\", got %q", RuleSyntax.ID(), tc.line, got)
			}
			for i := range got {
				for j := i + 1; j < len(got); j++ {
					if got[i] == got[j] {
						t.Errorf("reported twice: %s", got[i])
					}
				}
			}
		})
	}
}

// TestLoadAliasesOfCollections: an alias of a map or a list is refused
// where it is used, once; an alias of a plain value reads the value. Before,
// each alias decoded its anchor again: a 19 KB policy of "- *w" lines under
// an anchor of 1,000 keys took 12 s and made a million findings.
func TestLoadAliasesOfCollections(t *testing.T) {
	policyOf := func(n int) string {
		var b strings.Builder
		b.WriteString("apiVersion: flinksync.dev/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec:\n  waivers:\n  - &w\n    rule: CPU-001\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "    j%d: 1\n", i)
		}
		b.WriteString(strings.Repeat("  - *w\n", n))
		return b.String()
	}
	// Small enough to list every finding: the anchor's own n unknown keys
	// and 2 missing fields, and one finding per alias.
	const small = 20
	fs := within(t, "loading a policy of aliases", func() []*diag.Finding {
		_, findings, _ := LoadFS(repoFS(map[string]string{"policy.yaml": policyOf(small)}))
		return findings
	})
	aliases := 0
	for _, f := range fs {
		if strings.Contains(f.Message, `alias "*w" of a map or a list is not supported`) {
			aliases++
		}
	}
	if aliases != small || len(fs) != 2*small+2 {
		t.Fatalf("want %d alias findings of %d, got %d of %d", small, 2*small+2, aliases, len(fs))
	}
	// Large: quick, and the findings past MaxFindingsPerFile are counted
	// in one more finding instead of listed.
	const n = 5000
	fs = within(t, "loading a large policy of aliases", func() []*diag.Finding {
		_, findings, _ := LoadFS(repoFS(map[string]string{"policy.yaml": policyOf(n)}))
		return findings
	})
	more := fmt.Sprintf("%d more problem(s) in this file not listed", 2*n+2-MaxFindingsPerFile)
	if len(fs) != MaxFindingsPerFile+1 || !strings.Contains(fmt.Sprint(fs), more) {
		t.Fatalf("want %d findings, the last saying %q; got %d", MaxFindingsPerFile+1, more, len(fs))
	}

	repo, err := loaded(LoadFS(repoFS(map[string]string{"apps/a.yaml": `apiVersion: flinksync.dev/v1alpha1
kind: FlinkApplication
metadata:
  name: a
spec:
  environments: [dev]
  pool: &p small
  job:
    jarURI: local:///a.jar
  workload:
    recordsPerSecond: 1000
  flinkConfiguration:
    pool.name: *p
`})))
	if err != nil {
		t.Fatalf("an alias of a plain value: %v", err)
	}
	if got := repo.EffectiveApps("dev")[0].Spec.FlinkConfiguration["pool.name"]; got != "small" {
		t.Errorf("an alias of a plain value reads %q, want small", got)
	}
}

// TestRepeatedKeyPaths: the path of a key written twice reads as every
// other path of the loader, also deep in a list.
func TestRepeatedKeyPaths(t *testing.T) {
	doc := "apiVersion: flinksync.dev/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec:\n  waivers:\n  - {rule: CPU-001, reason: r, expires: 2030-01-01}\n  - {rule: CPU-001, reason: r, expires: 2030-01-01, reason: s}\n  x:\n    a.b: [{c: 1, c: 2}]\n"
	_, findings, _ := LoadFS(repoFS(map[string]string{"policy.yaml": doc}))
	var got []string
	for _, f := range findings {
		if strings.Contains(f.Message, "written twice") {
			got = append(got, f.Message)
		}
	}
	want := []string{
		"spec.waivers[1].reason: key written twice (first at line 7); write it once",
		`spec.x["a.b"][0].c: key written twice (first at line 9); write it once`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %q, want %q", got, want)
	}
}
