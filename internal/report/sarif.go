package report

import (
	"encoding/json"
	"io"
	"sort"

	"github.com/flinksync/flinksync/internal/diag"
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
	Properties   map[string]string  `json:"properties,omitempty"`
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

// WriteFindingsSARIF writes findings as a SARIF 2.1.0 log; rules lists every
// rule that was checked (the log's rule metadata), version is flinksync's.
func WriteFindingsSARIF(w io.Writer, fs []*diag.Finding, rules []diag.RuleInfo, version string) error {
	all := append([]diag.RuleInfo(nil), rules...)
	index := map[string]int{}
	for _, r := range all {
		index[r.ID] = 0
	}
	for _, f := range fs {
		if _, ok := index[f.Rule]; !ok {
			all = append(all, diag.RuleInfo{ID: f.Rule, Severity: f.Severity, Summary: f.Rule})
			index[f.Rule] = 0
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	run := sarifRun{
		Tool:    sarifTool{Driver: sarifDriver{Name: "flinksync", InformationURI: toolURI, Version: version}},
		Results: []sarifResult{},
	}
	// File URIs are relative to the repository root, which is how code
	// scanning resolves them against the checkout.
	for i, r := range all {
		index[r.ID] = i
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{
			ID: r.ID, Name: r.ID, ShortDescription: sarifText{r.Summary}, FullDescription: sarifText{r.Summary},
			HelpURI:              toolURI + "/blob/main/docs/policy.md#" + lower(r.ID),
			DefaultConfiguration: sarifRuleConfig{Level: level(r.Severity)},
			Properties:           map[string]any{"tags": []string{"flink", "kubernetes", category(r.ID)}},
		})
	}
	for _, f := range fs {
		res := sarifResult{RuleID: f.Rule, RuleIndex: index[f.Rule], Level: level(f.Severity), Message: sarifText{f.Message}}
		if f.File != "" {
			loc := sarifLocation{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifactLocation{URI: f.File}}}
			loc.PhysicalLocation.Region = &sarifRegion{StartLine: max(f.Line, 1)}
			res.Locations = []sarifLocation{loc}
		}
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
