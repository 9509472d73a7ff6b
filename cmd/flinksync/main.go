// Command flinksync is a GitOps reconciler for Apache Flink on Kubernetes.
// It only parses flags, wires the pipeline stages together and prints; the
// stages live under internal/.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/flinksync/flinksync/internal/buildinfo"
)

// Exit codes shared by every command.
const (
	exitOK      = 0
	exitFound   = 1 // findings at error severity, differences, drift, failed environments
	exitCantRun = 2 // bad flags, unreadable repository, unreachable cluster
)

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

// cantRun wraps an error that stopped a command from running (exit 2).
func cantRun(err error) error { return &exitError{code: exitCantRun, err: err} }

// found reports that a command ran and found something (exit 1), having
// printed it already.
func found() error { return &exitError{code: exitFound} }

func main() {
	if os.Getenv("GOGC") == "" && (len(os.Args) < 2 || os.Args[1] != "run") {
		// A command that runs once, and exits, lets its heap grow five
		// times what it holds before collecting, up to 1 GiB: garbage
		// collection was a fifth of the CPU of a no-op apply over 10,000
		// apps (at most 632 MiB resident then, BenchmarkCLINoOp10000's
		// cli-peak-RSS-MB). The daemon (run) keeps Go's default; GOGC and
		// GOMEMLIMIT override.
		debug.SetGCPercent(400)
		if os.Getenv("GOMEMLIMIT") == "" {
			debug.SetMemoryLimit(1 << 30)
		}
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns its exit code.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "flinksync:", ee.err)
		}
		return ee.code
	}
	// cobra's own errors: unknown commands and bad flags.
	fmt.Fprintln(stderr, "flinksync:", err)
	return exitCantRun
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "flinksync",
		Short: "GitOps for Apache Flink on Kubernetes: validate, size, render, apply and watch",
		Long: `flinksync reads a Git repository of Flink environments, compute pools and
applications, validates it against policy, sizes every application, renders
FKO or CFK objects, applies and prunes them per environment and reports drift.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.Version = buildinfo.Get().String()
	root.SetVersionTemplate("{{.Version}}\n")
	root.AddCommand(newVersionCommand())
	root.AddCommand(newValidateCommand())
	root.AddCommand(newRenderCommand())
	root.AddCommand(newApplyCommand())
	root.AddCommand(newDiffCommand())
	root.AddCommand(newDriftCommand())
	root.AddCommand(newRunCommand())
	root.AddCommand(newSizeCommand())
	root.AddCommand(newPlanCommand())
	return root
}
