package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flinksync/flinksync/internal/render"
)

func newRenderCommand() *cobra.Command {
	var repo, env, out, policyFile, revision string
	var read readFlags
	cmd := &cobra.Command{
		Use:   "render --repo DIR [--env E] [--out DIR]",
		Short: "Print or write the Kubernetes objects flinksync renders for each environment",
		Long: `render sizes every application and renders the FKO or CFK objects of each
environment, with its kustomize overlay applied. The output is deterministic:
the same repository renders the same bytes.

Without --out it prints one YAML stream; with --out it writes one file per
object under DIR/<environment>/. Environments with errors (see validate) are
not rendered; their findings go to stderr.

Exit codes: 0 rendered, 1 some environment has errors, 2 could not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if repo == "" {
				return cantRun(fmt.Errorf("--repo is required"))
			}
			res, err := runPipeline(repo, policyFile, revision, read.limits())
			if err != nil {
				return cantRun(err)
			}
			names := res.Environments()
			if env != "" {
				if res.Repo.Environment(env) == nil {
					return cantRun(fmt.Errorf("--env %q: no such environment (have %s)", env, strings.Join(names, ", ")))
				}
				names = []string{env}
			}
			var envs []*render.Environment
			failed := false
			for _, name := range names {
				if reasons := res.Blocked[name]; len(reasons) > 0 {
					failed = true
					fmt.Fprintf(cmd.ErrOrStderr(), "environment %s not rendered:\n  %s\n", name, strings.Join(reasons, "\n  "))
					continue
				}
				envs = append(envs, res.Rendered[name])
			}
			if out != "" {
				prog := newProgress(cmd.ErrOrStderr(), "render", "text")
				err := render.WriteDirProgress(out, envs, func(env string, done, total int) {
					if f := prog.of(env, "files written"); f != nil {
						f(done, total)
					}
				})
				prog.done()
				if err != nil {
					return cantRun(err)
				}
				for _, e := range envs {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: %d objects in %s/%s\n", e.Name, len(e.Objects), out, e.Name)
				}
			} else {
				for _, e := range envs {
					b, err := render.YAML(e.Objects)
					if err != nil {
						return cantRun(err)
					}
					fmt.Fprintf(cmd.OutOrStdout(), "# environment: %s (namespace %s)\n", e.Name, e.Namespace)
					if _, err := cmd.OutOrStdout().Write(b); err != nil {
						return cantRun(err)
					}
				}
			}
			if failed {
				return found()
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&repo, "repo", "", "repository root folder")
	cmd.Flags().StringVar(&env, "env", "", "render only this environment")
	cmd.Flags().StringVar(&out, "out", "", "write one file per object under DIR/<environment>/ instead of printing")
	cmd.Flags().StringVar(&policyFile, "policy", "", "the daemon's own policy file")
	cmd.Flags().StringVar(&revision, "revision", "", "value of the flinksync.dev/revision annotation (set from Git by apply and run)")
	read.register(cmd.Flags())
	return cmd
}
