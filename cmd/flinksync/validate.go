package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/report"
)

func newValidateCommand() *cobra.Command {
	var repo, output string
	cmd := &cobra.Command{
		Use:   "validate --repo DIR",
		Short: "Check a repository: load every file strictly and report all problems with file and line",
		Long: `validate loads every environment, pool, application and policy of the
repository and reports every problem at once, each with its file and line.

Exit codes: 0 no errors, 1 errors found, 2 could not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if repo == "" {
				return cantRun(fmt.Errorf("--repo is required"))
			}
			write, err := findingsWriter(output)
			if err != nil {
				return cantRun(err)
			}
			findings, err := validate(repo)
			if err != nil {
				return cantRun(err)
			}
			if err := write(cmd.OutOrStdout(), findings); err != nil {
				return cantRun(err)
			}
			if diag.Summarize(findings).Errors > 0 {
				return found()
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&repo, "repo", "", "repository root folder")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// validate runs the pipeline up to policy and returns every finding.
func validate(repo string) ([]*diag.Finding, error) {
	_, err := model.Load(repo)
	findings := model.Findings(err)
	if err != nil && findings == nil {
		return nil, err
	}
	return findings, nil
}

func findingsWriter(format string) (func(io.Writer, []*diag.Finding) error, error) {
	switch format {
	case "text":
		return report.WriteFindingsText, nil
	case "json":
		return report.WriteFindingsJSON, nil
	default:
		return nil, fmt.Errorf("--output %q: want text or json", format)
	}
}
