package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/report"
	"github.com/flinksync/flinksync/internal/source"
)

// version is flinksync's version, set at build time with -ldflags -X.
var version = "dev"

func newValidateCommand() *cobra.Command {
	var repo, output, policyFile string
	var read readFlags
	cmd := &cobra.Command{
		Use:   "validate --repo DIR",
		Short: "Check a repository: load, size, render and run policy; report every finding with file and line",
		Long: `validate loads every environment, pool, application and policy of the
repository, sizes every application, renders every environment (overlays
included) and runs the policy rules on the result. It reports every problem
at once, each with its file and line. No cluster is needed.

Output formats: text (one line a finding), json, junit (CI dashboards),
sarif (GitHub code scanning).

Exit codes: 0 no errors, 1 errors found, 2 could not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if repo == "" {
				return cantRun(fmt.Errorf("--repo is required"))
			}
			write, err := findingsWriter(output, sourceRoot(repo))
			if err != nil {
				return cantRun(err)
			}
			res, err := runPipeline(repo, policyFile, "", read.limits())
			if err != nil {
				return cantRun(err)
			}
			if err := write(cmd.OutOrStdout(), res.Findings); err != nil {
				return cantRun(err)
			}
			if diag.Summarize(res.Findings).Errors > 0 {
				return found()
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&repo, "repo", "", "repository root folder")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json, junit or sarif")
	cmd.Flags().StringVar(&policyFile, "policy", "", "the daemon's own policy file (a Policy document); the repository can only tighten it")
	read.register(cmd.Flags())
	return cmd
}

// runPipeline reads the repository folder and the daemon policy file and
// runs load → size → render → policy.
func runPipeline(repo, policyFile, revision string, lim source.Limits) (*pipeline.Result, error) {
	return runPipelineWith(repo, policyFile, lim, pipeline.Options{Revision: revision})
}

// runPipelineWith is runPipeline with opts (the daemon's policy is set
// from policyFile).
func runPipelineWith(repo, policyFile string, lim source.Limits, opts pipeline.Options) (*pipeline.Result, error) {
	daemon, err := daemonPolicy(policyFile)
	if err != nil {
		return nil, err
	}
	dir, err := openRepo(repo, lim)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	opts.Daemon = daemon
	return pipeline.Run(dir, opts)
}

// openRepo opens the repository folder the one way every command reads it:
// confined to the folder, regular files only, within lim (source.Dir).
func openRepo(repo string, lim source.Limits) (*source.Dir, error) {
	st, err := os.Stat(repo)
	if err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%s: %w", repo, model.ErrNotDirectory)
	}
	dir, err := source.OpenDir(repo, lim)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", repo, model.ErrNotDirectory, err)
	}
	return dir, nil
}

// sourceRoot is the folder of repo inside its Git checkout ("" at the
// checkout's root, or outside Git), which SARIF paths need so code scanning
// finds the files.
func sourceRoot(repo string) string {
	r, err := source.Open(repo)
	if err != nil {
		return ""
	}
	wt, err := r.Worktree()
	if err != nil {
		return ""
	}
	abs, err := filepath.Abs(repo)
	if err != nil {
		return ""
	}
	rel, err := filepath.Rel(wt.Filesystem.Root(), abs)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return ""
	}
	return filepath.ToSlash(rel)
}

func findingsWriter(format, root string) (func(io.Writer, []*diag.Finding) error, error) {
	switch format {
	case "text":
		return report.WriteFindingsText, nil
	case "json":
		return report.WriteFindingsJSON, nil
	case "junit":
		return func(w io.Writer, fs []*diag.Finding) error {
			return report.WriteFindingsJUnit(w, fs, pipeline.Rules())
		}, nil
	case "sarif":
		return func(w io.Writer, fs []*diag.Finding) error {
			return report.WriteSARIF(w, fs, pipeline.Rules(), report.SARIFOptions{Version: version, SourceRoot: root})
		}, nil
	default:
		return nil, fmt.Errorf("--output %q: want text, json, junit or sarif", format)
	}
}
