package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/flinksync/flinksync/internal/buildinfo"
)

func newVersionCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version [--output text|json]",
		Short: "Print flinksync's version, commit, Go version and the operator APIs it renders for",
		Long: `version prints which flinksync this is: its version and the commit it was
built from, the Go version and platform, and the operator APIs it renders
objects for, with the operator release whose schemas its tests check them
against. The daemon logs the same line at start and exports it as the
flinksync_build_info metric.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			i := buildinfo.Get()
			switch output {
			case "json":
				return writeJSON(cmd.OutOrStdout(), i)
			case "text":
			default:
				return cantRun(fmt.Errorf("--output %q: want text or json", output))
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "flinksync %s\ncommit:    %s", i.Version, i.Commit)
			if i.Modified {
				fmt.Fprint(w, " (modified)")
			}
			fmt.Fprintf(w, "\ngo:        %s %s\n", i.GoVersion, i.Platform)
			for _, a := range i.APIs {
				fmt.Fprintf(w, "renders:   %s %s (checked against %s)\n", a.Operator, a.APIVersion, a.Checked)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}
