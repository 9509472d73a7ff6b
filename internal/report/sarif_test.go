package report

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/testenv"
)

// sarifSchemaEnv names a SARIF 2.1.0 schema file to use instead of
// bin/sarif-schema-2.1.0.json, which `make sarif-schema` fetches.
const sarifSchemaEnv = "FLINKSYNC_SARIF_SCHEMA"

// loadSARIFSchema compiles the SARIF 2.1.0 JSON schema. Without the file the
// test skips, saying how to get it, except under `make test` and CI
// (testenv.Required), where it fails.
func loadSARIFSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	file := os.Getenv(sarifSchemaEnv)
	if file == "" {
		root, err := testenv.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		file = filepath.Join(root, "bin", "sarif-schema-2.1.0.json")
	}
	f, err := os.Open(file)
	if err != nil {
		msg := "the SARIF 2.1.0 schema is missing (" + err.Error() + "): run `make sarif-schema` in the repository root, or set " + sarifSchemaEnv
		if testenv.Required() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const url = "file:///sarif-schema-2.1.0.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatalf("%s does not compile as a JSON schema: %v", file, err)
	}
	return s
}

func writeSARIF(t *testing.T, fs []*diag.Finding, opts SARIFOptions) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteSARIF(&b, fs, pipeline.Rules(), opts); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func validate(t *testing.T, s *jsonschema.Schema, doc []byte) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("SARIF output is not JSON: %v", err)
	}
	return s.Validate(v)
}

func TestSARIFValidatesAgainstSchema(t *testing.T) {
	s := loadSARIFSchema(t)
	fs := fixtureFindings(t)
	for name, doc := range map[string][]byte{
		"findings":         writeSARIF(t, fs, SARIFOptions{Version: "1.2.3"}),
		"under a folder":   writeSARIF(t, fs, SARIFOptions{SourceRoot: "deploy/flink"}),
		"no findings":      writeSARIF(t, nil, SARIFOptions{}),
		"only repo-level":  writeSARIF(t, fs[:1], SARIFOptions{}),
		"WriteFindingsSAR": func() []byte { var b bytes.Buffer; _ = WriteFindingsSARIF(&b, fs, nil, ""); return b.Bytes() }(),
	} {
		if err := validate(t, s, doc); err != nil {
			t.Errorf("%s: SARIF output does not validate against the SARIF 2.1.0 schema:\n%v", name, err)
		}
	}
}

// The schema check must be able to fail: a log that breaks the schema in
// the ways a writer bug would is refused.
func TestSARIFSchemaRefusesBrokenLogs(t *testing.T) {
	s := loadSARIFSchema(t)
	good := writeSARIF(t, fixtureFindings(t), SARIFOptions{})
	for name, mutate := range map[string]func(map[string]any){
		"level":       func(l map[string]any) { result(l, 0)["level"] = "fatal" },
		"startLine":   func(l map[string]any) { region(l, 1)["startLine"] = 0 },
		"suppression": func(l map[string]any) { result(l, 0)["suppressions"] = []any{map[string]any{"kind": "waived"}} },
		"version":     func(l map[string]any) { l["version"] = "2.0.0" },
		"rules":       func(l map[string]any) { driver(l)["rules"] = nil },
		"message":     func(l map[string]any) { delete(result(l, 1), "message") },
		"kind":        func(l map[string]any) { result(l, 2)["kind"] = "problem" },
	} {
		var l map[string]any
		if err := json.Unmarshal(good, &l); err != nil {
			t.Fatal(err)
		}
		mutate(l)
		b, _ := json.Marshal(l)
		if err := validate(t, s, b); err == nil {
			t.Errorf("%s: a broken log passed the schema", name)
		}
	}
}

func run0(l map[string]any) map[string]any { return l["runs"].([]any)[0].(map[string]any) }
func driver(l map[string]any) map[string]any {
	return run0(l)["tool"].(map[string]any)["driver"].(map[string]any)
}
func result(l map[string]any, i int) map[string]any {
	return run0(l)["results"].([]any)[i].(map[string]any)
}
func physical(l map[string]any, i int) map[string]any {
	return result(l, i)["locations"].([]any)[0].(map[string]any)["physicalLocation"].(map[string]any)
}
func region(l map[string]any, i int) map[string]any {
	return physical(l, i)["region"].(map[string]any)
}

// The SARIF types the test reads GitHub's constraints from.
type ghLog struct {
	Version string `json:"version"`
	Runs    []struct {
		Tool struct {
			Driver struct {
				Name  string `json:"name"`
				Rules []struct {
					ID                   string `json:"id"`
					ShortDescription     struct{ Text string }
					HelpURI              string `json:"helpUri"`
					DefaultConfiguration *struct {
						Level string `json:"level"`
					} `json:"defaultConfiguration"`
				} `json:"rules"`
			} `json:"driver"`
		} `json:"tool"`
		Results []struct {
			RuleID    string `json:"ruleId"`
			RuleIndex int    `json:"ruleIndex"`
			Level     string `json:"level"`
			Message   struct {
				Text string `json:"text"`
			} `json:"message"`
			Locations []struct {
				PhysicalLocation struct {
					ArtifactLocation struct {
						URI string `json:"uri"`
					} `json:"artifactLocation"`
					Region *struct {
						StartLine int `json:"startLine"`
					} `json:"region"`
				} `json:"physicalLocation"`
			} `json:"locations"`
			Suppressions []struct {
				Kind          string `json:"kind"`
				Justification string `json:"justification"`
			} `json:"suppressions"`
			Properties map[string]string `json:"properties"`
		} `json:"results"`
	} `json:"runs"`
}

// What GitHub code scanning asks beyond the schema: a ruleId on every result
// that names a rule of the driver; at least one location per result (an
// upload with a location-less result is refused whole); relative URIs;
// startLine >= 1; rules with a short description and a default level.
func TestSARIFMeetsGitHubConstraints(t *testing.T) {
	fs := fixtureFindings(t)
	var log ghLog
	if err := json.Unmarshal(writeSARIF(t, fs, SARIFOptions{SourceRoot: "deploy/flink"}), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 || log.Runs[0].Tool.Driver.Name != "flinksync" {
		t.Fatalf("want one flinksync run of SARIF 2.1.0: %+v", log)
	}
	run := log.Runs[0]
	ids := map[string]int{}
	for i, r := range run.Tool.Driver.Rules {
		if _, dup := ids[r.ID]; dup {
			t.Errorf("rule %s listed twice", r.ID)
		}
		ids[r.ID] = i
		if r.DefaultConfiguration == nil || (r.DefaultConfiguration.Level != "error" && r.DefaultConfiguration.Level != "warning") {
			t.Errorf("rule %s: defaultConfiguration.level must be error or warning: %+v", r.ID, r.DefaultConfiguration)
		}
		if r.ShortDescription.Text == "" || !strings.HasSuffix(r.HelpURI, "docs/policy.md#"+strings.ToLower(r.ID)) {
			t.Errorf("rule %s: short description %q, help %q", r.ID, r.ShortDescription.Text, r.HelpURI)
		}
	}
	for _, r := range pipeline.Rules() {
		if _, ok := ids[r.ID]; !ok {
			t.Errorf("rule %s is missing from the driver's rules", r.ID)
		}
	}
	if len(run.Results) != len(fs) {
		t.Fatalf("%d results for %d findings", len(run.Results), len(fs))
	}
	for i, res := range run.Results {
		f := fs[i]
		if res.RuleID != f.Rule || run.Tool.Driver.Rules[res.RuleIndex].ID != f.Rule {
			t.Errorf("result %d: ruleId %q, ruleIndex %d, want %s", i, res.RuleID, res.RuleIndex, f.Rule)
		}
		if wantLevel := map[diag.Severity]string{diag.Error: "error", diag.Warning: "warning"}[f.Severity]; res.Level != wantLevel {
			t.Errorf("result %d (%s): level %q, want %q", i, f.Rule, res.Level, wantLevel)
		}
		if !strings.Contains(res.Message.Text, f.Message) {
			t.Errorf("result %d: message %q lacks %q", i, res.Message.Text, f.Message)
		}
		if len(res.Locations) != 1 || res.Locations[0].PhysicalLocation.Region == nil {
			t.Fatalf("result %d (%s): want one location with a region, got %+v", i, f.Rule, res.Locations)
		}
		pl := res.Locations[0].PhysicalLocation
		u, err := url.Parse(pl.ArtifactLocation.URI)
		if err != nil || u.IsAbs() || u.Host != "" || strings.HasPrefix(u.Path, "/") || u.RawQuery != "" || u.Fragment != "" {
			t.Errorf("result %d: URI %q must be a plain relative reference", i, pl.ArtifactLocation.URI)
		}
		wantFile := f.File
		if wantFile == "" {
			wantFile = fs[1].File // the first file a finding names
			if !strings.HasPrefix(res.Message.Text, "(repository) ") {
				t.Errorf("a repository-level result must say so: %q", res.Message.Text)
			}
		}
		if err == nil && u.Path != "deploy/flink/"+wantFile {
			t.Errorf("result %d: URI %q resolves to %q, want deploy/flink/%s", i, pl.ArtifactLocation.URI, u.Path, wantFile)
		}
		if want := max(f.Line, 1); pl.Region.StartLine != want {
			t.Errorf("result %d: startLine %d, want %d", i, pl.Region.StartLine, want)
		}
		if f.Waived != (len(res.Suppressions) == 1) {
			t.Errorf("result %d: waived %v but suppressions %+v", i, f.Waived, res.Suppressions)
		}
		if f.Waived && (res.Suppressions[0].Kind != "external" || !strings.Contains(res.Suppressions[0].Justification, "December")) {
			t.Errorf("result %d: the suppression must carry the waiver: %+v", i, res.Suppressions[0])
		}
		if f.Environment != "" && res.Properties["environment"] != f.Environment {
			t.Errorf("result %d: properties %v", i, res.Properties)
		}
	}
	if fs[0].File != "" || !strings.Contains(run.Results[5].Locations[0].PhysicalLocation.ArtifactLocation.URI, "my%20app.yaml") {
		t.Errorf("the fixture's order changed; check the escaping of %q", "apps/my app.yaml")
	}
}

func TestSARIFURI(t *testing.T) {
	for _, tc := range []struct{ root, file, want string }{
		{"", "apps/a.yaml", "apps/a.yaml"},
		{"deploy/flink", "apps/a.yaml", "deploy/flink/apps/a.yaml"},
		{"deploy/flink/", "environments/prod.yaml", "deploy/flink/environments/prod.yaml"},
		{"", "apps/my app#1%.yaml", "apps/my%20app%231%25.yaml"},
		{"", "c:d.yaml", "c%3Ad.yaml"},
		{"", ".", "./"},
	} {
		if got := sarifURI(tc.root, tc.file); got != tc.want {
			t.Errorf("sarifURI(%q, %q) = %q, want %q", tc.root, tc.file, got, tc.want)
		}
	}
}

func TestSARIFRepositoryFileAnchorsRepositoryFindings(t *testing.T) {
	fs := []*diag.Finding{{Rule: "LOAD-011", Severity: diag.Error, Message: "no environment"}}
	var log ghLog
	if err := json.Unmarshal(writeSARIF(t, fs, SARIFOptions{RepositoryFile: "README.md"}), &log); err != nil {
		t.Fatal(err)
	}
	if got := log.Runs[0].Results[0].Locations[0].PhysicalLocation.ArtifactLocation.URI; got != "README.md" {
		t.Errorf("want the repository file, got %q", got)
	}
	if err := json.Unmarshal(writeSARIF(t, fs, SARIFOptions{}), &log); err != nil {
		t.Fatal(err)
	}
	if got := log.Runs[0].Results[0].Locations; len(got) != 1 || got[0].PhysicalLocation.ArtifactLocation.URI != "./" {
		t.Errorf("with no file at all, the repository's folder: %+v", got)
	}
}
