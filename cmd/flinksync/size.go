package main

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/pipeline"
	"github.com/flinksync/flinksync/internal/report"
	"github.com/flinksync/flinksync/internal/sizing"
)

func newSizeCommand() *cobra.Command {
	var repo, env, app, output, policyFile string
	var explain bool
	var read readFlags
	cmd := &cobra.Command{
		Use:   "size --repo DIR [--env ENV] [--app NAME]",
		Short: "Show the sizing of each application and streaming SQL statement per environment, with the reasoning",
		Long: `size loads the repository and sizes every application and every streaming
(DML) SQL statement in every environment it runs in: TaskManagers, slots,
parallelism, CPU and memory, checkpoint interval and the constraint that set
the count. Statements are listed beside the applications, of kind
"statement"; a DDL statement runs once and is not sized. --explain prints
every step of the model with its numbers (docs/sizing.md describes the
model).

An application or statement that needs more TaskManagers than its pool's
maxTaskManagers is listed on stderr with its file and line (policy CPU-003):
the sizing is printed with a warning under its row (exceedsMaxTaskManagers
in --output json), and size exits 1.

Exit codes: 0 sized, 1 sized but above a pool's maxTaskManagers, 2 could
not run (bad flags, load errors, an application or statement that cannot
be sized).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if repo == "" {
				return cantRun(fmt.Errorf("--repo is required"))
			}
			if output != "text" && output != "json" {
				return cantRun(fmt.Errorf("--output %q: want text or json", output))
			}
			// The pipeline sizes (with the policy in force); size shows its
			// sizing and stops at what keeps it from sizing: load errors,
			// and the apps and statements that cannot be sized.
			res, err := runPipeline(repo, policyFile, "", read.limits())
			if err != nil {
				return cantRun(err)
			}
			if err := loadErrors(cmd.ErrOrStderr(), res.Findings); err != nil {
				return cantRun(err)
			}
			r, plan := res.Repo, res.Sizing
			if err := checkSizeFilters(r, env, app); err != nil {
				return cantRun(err)
			}
			failed := sizingFailures(res.Findings, env, app)
			results := selectResults(plan.Results, env, app)
			if output == "json" {
				err = writeSizeJSON(cmd.OutOrStdout(), results)
			} else {
				err = writeSizeText(cmd.OutOrStdout(), plan, results, env, app, explain)
			}
			if err != nil {
				return cantRun(err)
			}
			if len(failed) > 0 {
				if err := report.WriteFindingsText(cmd.ErrOrStderr(), failed); err != nil {
					return cantRun(err)
				}
				return cantRun(fmt.Errorf("%d application(s) or statement(s) could not be sized (listed above)", len(failed)))
			}
			if over := aboveMaxTaskManagers(r, results); len(over) > 0 {
				for _, line := range over {
					fmt.Fprintln(cmd.ErrOrStderr(), line)
				}
				return &exitError{code: exitFound, err: fmt.Errorf("%d application(s) or statement(s) need more TaskManagers than their pool's maxTaskManagers (listed above)", len(over))}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&repo, "repo", "", "repository root folder")
	cmd.Flags().StringVar(&env, "env", "", "only this environment")
	cmd.Flags().StringVar(&app, "app", "", "only this application or SQL statement")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().StringVar(&policyFile, "policy", "", "the daemon's own policy file (its maxTaskManagerCPU bounds TaskManager CPU)")
	cmd.Flags().BoolVar(&explain, "explain", false, "print each application's and statement's reasoning under it (text output)")
	read.register(cmd.Flags())
	return cmd
}

// loadErrors prints the load findings (file and line) and stops the
// command when one is an error: a repository that does not load cannot be
// sized.
func loadErrors(w io.Writer, findings []*diag.Finding) error {
	var load []*diag.Finding
	for _, f := range findings {
		if strings.HasPrefix(f.Rule, "LOAD-") {
			load = append(load, f)
		}
	}
	if len(load) == 0 {
		return nil
	}
	if err := report.WriteFindingsText(w, load); err != nil {
		return err
	}
	if n := diag.Summarize(load).Errors; n > 0 {
		return fmt.Errorf("the repository has %d load error(s), listed above: fix them to size it", n)
	}
	return nil
}

// sizingFailures are the pipeline's findings of apps and statements that
// cannot be sized (SIZE-001), of the selected environment and app.
func sizingFailures(findings []*diag.Finding, env, app string) []*diag.Finding {
	var out []*diag.Finding
	for _, f := range findings {
		if f.Rule == pipeline.RuleSizing && (env == "" || f.Environment == env) && (app == "" || f.App == app) {
			out = append(out, f)
		}
	}
	return out
}

// checkSizeFilters rejects an --env or --app the repository does not have;
// --app names an application or a SQL statement.
func checkSizeFilters(r *model.Repository, env, app string) error {
	if env != "" && r.Environment(env) == nil {
		var names []string
		for _, e := range r.Environments {
			names = append(names, e.Metadata.Name)
		}
		return fmt.Errorf("--env %q: no such environment (declared: %s)", env, strings.Join(names, ", "))
	}
	if app == "" {
		return nil
	}
	var envs []string
	switch a, st := r.App(app), r.Statement(app); {
	case a != nil:
		envs = a.Spec.Environments
	case st != nil:
		if !sizedStatement(r, app) {
			return fmt.Errorf("--app %q: statement %s is DDL (CREATE, ALTER, DROP): it runs once and is not sized", app, app)
		}
		envs = st.Spec.Environments
	default:
		var names []string
		for _, x := range r.Apps {
			names = append(names, x.Metadata.Name)
		}
		for _, x := range r.Statements {
			names = append(names, x.Metadata.Name)
		}
		return fmt.Errorf("--app %q: no such application or statement (declared: %s)", app, strings.Join(names, ", "))
	}
	if env != "" && !slices.Contains(envs, env) {
		return fmt.Errorf("--app %q does not run in environment %q (it runs in: %s)", app, env, strings.Join(envs, ", "))
	}
	return nil
}

// sizedStatement reports whether statement name is sized in some
// environment: whether it is DML there.
func sizedStatement(r *model.Repository, name string) bool {
	for _, e := range r.Environments {
		for _, st := range r.EffectiveStatements(e.Metadata.Name) {
			if st.Name == name && st.Kind == model.SQLDML {
				return true
			}
		}
	}
	return false
}

// aboveMaxTaskManagers lists, with file and line, the results that need
// more TaskManagers than their pool's maxTaskManagers (policy CPU-003,
// which validate reports too).
func aboveMaxTaskManagers(r *model.Repository, results []*sizing.Result) []string {
	var out []string
	for _, res := range results {
		p := r.Pool(res.Pool)
		if p == nil || p.Spec.MaxTaskManagers <= 0 || res.TaskManagers <= p.Spec.MaxTaskManagers {
			continue
		}
		kind, file, line, lower := "app", "", 0, "lower the workload"
		if res.Statement {
			kind = "statement"
			for _, st := range r.EffectiveStatements(res.Environment) {
				if st.Name == res.App {
					path := "spec.workload"
					if st.Spec.Parallelism > 0 {
						path, lower = "spec.parallelism", "lower spec.parallelism"
					}
					file, line = st.Origin.File, st.Origin.LineOf(path)
				}
			}
		} else {
			for _, a := range r.EffectiveApps(res.Environment) {
				if a.Name == res.App {
					path := "spec.workload"
					if a.Spec.TaskManagers > 0 {
						path = "spec.taskManagers"
					}
					file, line = a.Origin.File, a.Origin.LineOf(path)
				}
			}
		}
		out = append(out, fmt.Sprintf("%s:%d: environment %s: %s %s needs %d TaskManagers but pool %q allows at most %d (maxTaskManagers, policy CPU-003): use a larger pool, raise its maxTaskManagers, or %s",
			file, line, res.Environment, kind, res.App, res.TaskManagers, p.Metadata.Name, p.Spec.MaxTaskManagers, lower))
	}
	return out
}

func selectResults(all []*sizing.Result, env, app string) []*sizing.Result {
	out := []*sizing.Result{}
	for _, r := range all {
		if (env == "" || r.Environment == env) && (app == "" || r.App == app) {
			out = append(out, r)
		}
	}
	return out
}

func writeSizeJSON(w io.Writer, results []*sizing.Result) error { return writeJSON(w, results) }

// writeSizeText writes a table per environment, then the environment's
// totals; with explain, each app's reasoning under its row.
func writeSizeText(w io.Writer, plan *sizing.Plan, results []*sizing.Result, env, app string, explain bool) error {
	byEnv := map[string][]*sizing.Result{}
	var envs []string
	for _, r := range results {
		if _, ok := byEnv[r.Environment]; !ok {
			envs = append(envs, r.Environment)
		}
		byEnv[r.Environment] = append(byEnv[r.Environment], r)
	}
	if env != "" && len(envs) == 0 && app == "" {
		envs = []string{env} // an environment without apps still has totals
	}
	sort.Strings(envs)
	var b bytes.Buffer
	for i, name := range envs {
		if i > 0 {
			b.WriteByte('\n')
		}
		t := plan.Environment(name)
		if t == nil {
			continue
		}
		fmt.Fprintf(&b, "environment %s: %d node(s) of %s CPU and %s\n", name, t.Nodes, cpu(t.NodeCPU), mem(t.NodeMemory))
		rows := byEnv[name]
		if len(rows) == 0 {
			b.WriteString("  no applications or streaming statements\n")
		} else if err := sizeTable(&b, rows, explain); err != nil {
			return err
		}
		scope := "total"
		if app != "" {
			statements := 0
			for _, r := range plan.Results {
				if r.Environment == name && r.Statement {
					statements++
				}
			}
			scope = fmt.Sprintf("environment total (%d app(s))", t.Apps-statements)
			if statements > 0 {
				scope = fmt.Sprintf("environment total (%d app(s) and %d statement(s))", t.Apps-statements, statements)
			}
		}
		fmt.Fprintf(&b, "%s: %d TaskManagers, CPU %s / %s%s, memory %s / %s, nodes needed %d / %d\n",
			scope, t.TaskManagers, cpu(t.TotalCPU), cpu(t.CapacityCPU), percent(t.TotalCPU, t.CapacityCPU),
			mem(t.TotalMemory), mem(t.CapacityMemory), t.NodesNeeded, t.Nodes)
		if t.Unplaced > 0 {
			fmt.Fprintf(&b, "  %d pod(s) fit on no node\n", t.Unplaced)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

func sizeTable(b *bytes.Buffer, rows []*sizing.Result, explain bool) error {
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tTMS\tSLOTS\tPARALLELISM\tTM CPU\tTM MEMORY\tTOTAL CPU\tCHECKPOINT\tBINDING")
	for _, r := range rows {
		tmCount := strconv.Itoa(r.TaskManagers)
		if r.TaskManagers != r.EstimatedTaskManagers {
			tmCount += fmt.Sprintf(" (est. %d)", r.EstimatedTaskManagers)
		}
		tmCPU := cpu(r.TaskManagerCPU)
		if r.Clamped {
			tmCPU += fmt.Sprintf(" (pool %s)", cpu(r.PoolTaskManagerCPU))
		}
		ckpt := sizing.FormatFlinkDuration(r.CheckpointIntervalDuration)
		if r.CheckpointIntervalSource != sizing.LevelLatency {
			ckpt += " (" + string(r.CheckpointIntervalSource) + ")"
		}
		kind := "app"
		if r.Statement {
			kind = "statement"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", r.App, kind, tmCount, r.SlotsPerTaskManager, r.Parallelism,
			tmCPU, mem(r.TaskManagerMemory), cpu(r.TotalCPU), ckpt, r.BindingConstraint)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	lines := strings.Split(strings.TrimSuffix(table.String(), "\n"), "\n")
	for i, line := range lines {
		b.WriteString("  " + strings.TrimRight(line, " ") + "\n")
		if r := rows[max(0, i-1)]; i > 0 && r.ExceedsMaxTaskManagers {
			fmt.Fprintf(b, "    warning: %d TaskManagers, above pool %s's maxTaskManagers of %d (policy CPU-003)\n", r.TaskManagers, r.Pool, r.MaxTaskManagers)
		}
		if explain && i > 0 {
			for _, step := range rows[i-1].Explanation {
				b.WriteString("      - " + step + "\n")
			}
		}
	}
	return nil
}

func cpu(c float64) string { return strconv.FormatFloat(c, 'f', -1, 64) }

func mem(b int64) string { return resource.NewQuantity(b, resource.BinarySI).String() }

func percent(part, whole float64) string {
	if whole <= 0 {
		return ""
	}
	return fmt.Sprintf(" (%.0f%%)", 100*part/whole)
}
