package report

import (
	"encoding/json"
	"io"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/sync"
)

// SARIF 2.1.0 (OASIS), the subset GitHub code scanning reads: a run with the
// tool's rules, and one result per finding located at its file and line.

const (
	sarifVersion = "2.1.0"
	sarifSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
	toolURI      = "https://github.com/flinksync/flinksync"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Version        string      `json:"version,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string          `json:"id"`
	Name                 string          `json:"name"`
	ShortDescription     sarifText       `json:"shortDescription"`
	FullDescription      sarifText       `json:"fullDescription"`
	HelpURI              string          `json:"helpUri"`
	DefaultConfiguration sarifRuleConfig `json:"defaultConfiguration"`
	Properties           map[string]any  `json:"properties,omitempty"`
}

type sarifRuleConfig struct {
	Level string `json:"level"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifResult struct {
	RuleID       string             `json:"ruleId"`
	RuleIndex    int                `json:"ruleIndex"`
	Level        string             `json:"level"`
	Message      sarifText          `json:"message"`
	Locations    []sarifLocation    `json:"locations,omitempty"`
	Suppressions []sarifSuppression `json:"suppressions,omitempty"`
	// BaselineState is "new" or "unchanged" against a base (SARIF 2.1.0
	// §3.27.24), when the caller knows it (plan).
	BaselineState string            `json:"baselineState,omitempty"`
	Properties    map[string]string `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifactLocation `json:"artifactLocation"`
	Region           *sarifRegion          `json:"region,omitempty"`
}

type sarifArtifactLocation struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifSuppression struct {
	Kind          string `json:"kind"`
	Justification string `json:"justification,omitempty"`
}

// SARIFOptions control the SARIF log.
type SARIFOptions struct {
	// Version is flinksync's version, written as the tool's version.
	Version string
	// SourceRoot is the folder of the flinksync repository inside the Git
	// checkout that code scanning resolves paths against, with forward
	// slashes: "" when the repository is the checkout's root,
	// "deploy/flink" after `validate --repo deploy/flink`. It is put in
	// front of every path.
	SourceRoot string
	// RepositoryFile is the file (relative to the repository) that results
	// without a file of their own are shown at: GitHub code scanning
	// rejects a whole upload when one result has no location. When empty,
	// the first file another finding names is used, and "." (the
	// repository's folder) when no finding names one.
	RepositoryFile string
	// Baseline, when set, is each finding's baselineState, in the
	// findings' order: "new" or "unchanged" against the base of a plan.
	Baseline []string
}

// WriteFindingsSARIF writes findings as a SARIF 2.1.0 log; rules lists every
// rule that was checked (the log's rule metadata), version is flinksync's.
func WriteFindingsSARIF(w io.Writer, fs []*diag.Finding, rules []diag.RuleInfo, version string) error {
	return WriteSARIF(w, fs, rules, SARIFOptions{Version: version})
}

// WriteSARIF writes findings as a SARIF 2.1.0 log that GitHub code scanning
// accepts: every rule in rules and every rule a finding names appears once
// in the tool's rules with its default level; every result has a ruleId, a
// level and a location with a relative URI and a startLine of 1 or more;
// waived findings carry an external suppression with the waiver.
func WriteSARIF(w io.Writer, fs []*diag.Finding, rules []diag.RuleInfo, opts SARIFOptions) error {
	fs = sync.MaskedFindings(fs)
	var all []diag.RuleInfo
	index := map[string]int{}
	for _, r := range rules {
		if _, dup := index[r.ID]; !dup {
			all, index[r.ID] = append(all, r), 0
		}
	}
	for _, f := range fs {
		if _, ok := index[f.Rule]; !ok {
			all = append(all, diag.RuleInfo{ID: f.Rule, Severity: f.Severity, Summary: f.Rule})
			index[f.Rule] = 0
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	run := sarifRun{
		Tool:    sarifTool{Driver: sarifDriver{Name: "flinksync", InformationURI: toolURI, Version: opts.Version, Rules: []sarifRule{}}},
		Results: []sarifResult{},
	}
	for i, r := range all {
		index[r.ID] = i
		summary := r.Summary
		if summary == "" {
			summary = r.ID
		}
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{
			ID: r.ID, Name: r.ID, ShortDescription: sarifText{summary}, FullDescription: sarifText{summary},
			HelpURI:              toolURI + "/blob/main/docs/policy.md#" + lower(r.ID),
			DefaultConfiguration: sarifRuleConfig{Level: level(r.Severity)},
			Properties:           map[string]any{"tags": []string{"flink", "kubernetes", category(r.ID)}},
		})
	}
	fallback := opts.RepositoryFile
	for _, f := range fs {
		if fallback == "" && f.File != "" {
			fallback = f.File
		}
	}
	if fallback == "" {
		fallback = "."
	}
	for i, f := range fs {
		msg := f.Message
		if msg == "" {
			msg = all[index[f.Rule]].Summary
		}
		res := sarifResult{RuleID: f.Rule, RuleIndex: index[f.Rule], Level: level(f.Severity), Message: sarifText{msg}}
		if i < len(opts.Baseline) {
			res.BaselineState = opts.Baseline[i]
		}
		// Paths are relative to the checkout's root, which is how code
		// scanning resolves them.
		file, line := f.File, max(f.Line, 1)
		if file == "" {
			file, line = fallback, 1
			res.Message.Text = "(repository) " + msg
		}
		loc := sarifLocation{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifactLocation{URI: sarifURI(opts.SourceRoot, file)}}}
		if file != "." {
			loc.PhysicalLocation.Region = &sarifRegion{StartLine: line}
		}
		res.Locations = []sarifLocation{loc}
		if f.Waived {
			res.Suppressions = []sarifSuppression{{Kind: "external", Justification: f.WaivedBy}}
		}
		props := map[string]string{}
		for k, v := range map[string]string{"environment": f.Environment, "app": f.App, "object": f.Object} {
			if v != "" {
				props[k] = v
			}
		}
		if len(props) > 0 {
			res.Properties = props
		}
		run.Results = append(run.Results, res)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{Schema: sarifSchema, Version: sarifVersion, Runs: []sarifRun{run}})
}

// sarifURI makes a relative URI reference of a repository path (forward
// slashes, as io/fs names files) under root, each segment percent-encoded:
// a space, '#' or '%' in a file name would otherwise change its meaning.
func sarifURI(root, file string) string {
	p := strings.TrimPrefix(path.Join(root, file), "/")
	if p == "." || p == "" {
		return "./"
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		// A colon in the first segment would read as a URI scheme.
		segs[i] = strings.ReplaceAll(url.PathEscape(s), ":", "%3A")
	}
	return strings.Join(segs, "/")
}

func level(s diag.Severity) string {
	if s == diag.Error {
		return "error"
	}
	return "warning"
}

func category(id string) string {
	for i := 0; i < len(id); i++ {
		if id[i] == '-' {
			return lower(id[:i])
		}
	}
	return lower(id)
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
