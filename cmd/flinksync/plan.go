package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/spf13/cobra"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/plan"
	"github.com/flinksync/flinksync/internal/report"
	"github.com/flinksync/flinksync/internal/source"
)

func newPlanCommand() *cobra.Command {
	var repo, base, head, kubeconfig, policyFile, output, failOn string
	var live bool
	var liveClusters, cmfEndpointFlags []string
	var limits clientLimits
	var read readFlags
	cmd := &cobra.Command{
		Use:   "plan --repo DIR --base REF [--head REF]",
		Short: "Pull-request review: what merging head into base changes, per environment",
		Long: `plan reads two revisions straight from the Git repository that holds DIR (no
checkout: the work tree, the index and HEAD are left alone), runs the
pipeline on each, and reports per environment: the policy findings on head,
new ones marked; the sizing of each application and the environment's CPU
against its nodes, before and after; the rendered objects added, changed
(as unified diffs, secret values masked) and removed. With --live it also
compares the cluster with the base: drift the merge would overwrite.

REF is a branch, a tag, a commit hash or an expression such as HEAD~1.
When DIR is a folder inside the checkout, that folder of each revision is
the repository.

Output formats: text, markdown (a pull-request comment, at most 60,000
characters), json, sarif (head's findings, each with a baselineState of new
or unchanged).

Exit codes: 0 nothing would change, 1 something would change (or the
cluster differs from the base, with --live; or --fail-on matched a finding
on head), 2 could not run (including a cluster that could not be read).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if repo == "" || base == "" {
				return cantRun(errors.New("--repo and --base are required"))
			}
			write, err := planWriter(output)
			if err != nil {
				return cantRun(err)
			}
			var failSeverity diag.Severity
			switch failOn {
			case "":
			case "error":
				failSeverity = diag.Error
			case "warning":
				failSeverity = diag.Warning
			default:
				return cantRun(fmt.Errorf("--fail-on %q: want error or warning", failOn))
			}
			endpoints, err := parseCMFEndpoints(cmfEndpointFlags)
			if err != nil {
				return cantRun(err)
			}
			daemon, err := daemonPolicy(policyFile)
			if err != nil {
				return cantRun(err)
			}
			r, err := source.Open(repo)
			if err != nil {
				return cantRun(err)
			}
			root, err := repoSubdir(r, repo)
			if err != nil {
				return cantRun(err)
			}
			baseTree, err := planTree(r, base, root, read.limits())
			if err != nil {
				return cantRun(fmt.Errorf("--base: %w", err))
			}
			headTree, err := planTree(r, head, root, read.limits())
			if err != nil {
				return cantRun(fmt.Errorf("--head: %w", err))
			}
			opts := plan.Options{Pipeline: pipeline.Options{Daemon: daemon}}
			if live {
				set, err := clusterSet(kubeconfig, liveClusters, nil, limits)
				if err != nil {
					return cantRun(err)
				}
				opts.Live = liveDiffer{set: set, endpoints: endpoints} // cmf.go
				opts.Progress = newProgress(cmd.ErrOrStderr(), "plan --live", output).of("cluster comparison", "environments")
			}
			ctx, cancel := signalContext()
			defer cancel()
			res, err := plan.Run(ctx, baseTree, headTree, opts)
			if err != nil {
				return cantRun(err)
			}
			if err := write(cmd.OutOrStdout(), res, root); err != nil {
				return cantRun(err)
			}
			if errs := res.LiveErrors(); len(errs) > 0 {
				return cantRun(fmt.Errorf("--live: the cluster could not be compared with the base:\n  %s", strings.Join(errs, "\n  ")))
			}
			if res.Changed() || res.LiveDiffers() || (failSeverity != "" && res.AtLeast(failSeverity) > 0) {
				return found()
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&repo, "repo", "", "repository folder, in a Git checkout (or a bare repository)")
	cmd.Flags().StringVar(&base, "base", "", "the revision the pull request goes into (branch, tag, commit, HEAD~1)")
	cmd.Flags().StringVar(&head, "head", "HEAD", "the revision to review")
	cmd.Flags().BoolVar(&live, "live", false, "also compare the cluster with the base (drift the merge would overwrite)")
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file of the default cluster for --live (default: $KUBECONFIG, ~/.kube/config, then in-cluster)")
	registerClusterFlag(cmd, &liveClusters)
	registerCMFEndpointFlag(cmd, &cmfEndpointFlags) // cmf.go: for --live
	limits.register(cmd)
	cmd.Flags().StringVar(&policyFile, "policy", "", "the daemon's own policy file; the repository can only tighten it")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, markdown, json or sarif")
	cmd.Flags().StringVar(&failOn, "fail-on", "", "exit 1 when head has a finding of this severity or worse: error or warning")
	read.register(cmd.Flags())
	return cmd
}

// repoSubdir is dir relative to the repository's work tree, with forward
// slashes: "." when dir is the work tree's root or the repository is bare.
func repoSubdir(r *git.Repository, dir string) (string, error) {
	wt, err := r.Worktree()
	if errors.Is(err, git.ErrIsBareRepository) {
		return ".", nil
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", dir, err)
	}
	abs := func(p string) (string, error) {
		a, err := filepath.Abs(p)
		if err != nil {
			return "", err
		}
		if e, err := filepath.EvalSymlinks(a); err == nil {
			a = e
		}
		return a, nil
	}
	top, err := abs(wt.Filesystem.Root())
	if err != nil {
		return "", err
	}
	here, err := abs(dir)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(top, here)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%s: not inside the Git work tree %s", dir, top)
	}
	return filepath.ToSlash(rel), nil
}

// planTree is one revision's tree, narrowed to the repository's folder
// (symbolic links may not leave that folder), read within lim.
func planTree(r *git.Repository, rev, root string, lim source.Limits) (plan.Tree, error) {
	fsys, h, err := source.OpenTree(r, rev, lim)
	if err != nil {
		return plan.Tree{}, err
	}
	if root != "." {
		if st, err := fs.Stat(fsys, root); err != nil || !st.IsDir() {
			return plan.Tree{}, fmt.Errorf("revision %s (%s) has no folder %s", rev, h.String()[:12], root)
		}
		if fsys, err = fs.Sub(fsys, root); err != nil {
			return plan.Tree{}, err
		}
	}
	return plan.Tree{Ref: rev, Commit: h.String(), FS: fsys}, nil
}

// planWriter picks the output format; root is the repository's folder in
// the checkout, for SARIF paths.
func planWriter(format string) (func(io.Writer, *plan.Result, string) error, error) {
	switch format {
	case "text":
		return func(w io.Writer, r *plan.Result, _ string) error { return plan.WriteText(w, r) }, nil
	case "markdown":
		return func(w io.Writer, r *plan.Result, _ string) error { return plan.WriteMarkdown(w, r) }, nil
	case "json":
		return func(w io.Writer, r *plan.Result, _ string) error { return plan.WriteJSON(w, r) }, nil
	case "sarif":
		return writePlanSARIF, nil
	}
	return nil, fmt.Errorf("--output %q: want text, markdown, json or sarif", format)
}

// writePlanSARIF writes head's findings as SARIF, each result with its
// baselineState: "new" when base did not have the finding, else
// "unchanged" (SARIF 2.1.0 §3.27.24), so code scanning can tell what the
// pull request introduced.
func writePlanSARIF(w io.Writer, r *plan.Result, root string) error {
	all := r.AllFindings()
	findings := make([]*diag.Finding, len(all))
	for i, f := range all {
		findings[i] = f.Finding
	}
	sourceRoot := root
	if sourceRoot == "." {
		sourceRoot = ""
	}
	baseline := make([]string, len(all))
	for i, f := range all {
		baseline[i] = "unchanged"
		if f.New {
			baseline[i] = "new"
		}
	}
	return report.WriteSARIF(w, findings, pipeline.Rules(), report.SARIFOptions{Version: version, SourceRoot: sourceRoot, Baseline: baseline})
}
