package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/commands.md from the commands")

// commandsDoc renders every command's usage, description and flags.
func commandsDoc() []byte {
	var b bytes.Buffer
	root := newRootCommand()
	b.WriteString("# flinksync commands\n\n")
	b.WriteString("Generated from the commands themselves (`go test ./cmd/flinksync -update-docs`); `flinksync <command> --help` prints the same.\n\n")
	b.WriteString(root.Long + "\n\n")
	b.WriteString("| command | what it does |\n|---|---|\n")
	cmds := root.Commands()
	for _, c := range cmds {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s |\n", c.Name(), c.Name(), c.Short)
	}
	for _, c := range cmds {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		writeCommand(&b, c)
	}
	return b.Bytes()
}

func writeCommand(b *bytes.Buffer, c *cobra.Command) {
	fmt.Fprintf(b, "\n## %s\n\n```\nflinksync %s\n```\n\n%s\n\n", c.Name(), c.Use, strings.TrimSpace(c.Long))
	b.WriteString("Flags:\n\n```\n")
	b.WriteString(c.Flags().FlagUsagesWrapped(100))
	b.WriteString("```\n")
}

func TestCommandsDocIsCurrent(t *testing.T) {
	got := commandsDoc()
	const path = "../../docs/commands.md"
	if *updateDocs {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("docs/commands.md is not up to date with the commands (err %v): run go test ./cmd/flinksync -run CommandsDoc -update-docs", err)
	}
	for _, name := range []string{"validate", "size", "render", "apply", "diff", "drift", "plan", "run"} {
		if !bytes.Contains(got, []byte("\n## "+name+"\n")) {
			t.Errorf("docs/commands.md lacks %s", name)
		}
	}
}
