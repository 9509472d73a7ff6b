package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/flinksync/flinksync/internal/model"
)

// daemonPolicy loads --policy, the daemon's own policy, the one way every
// command does: nil without the flag, and an error that names the flag. A
// policy file with findings is refused: there is no half a policy to run on.
func daemonPolicy(path string) (*model.Policy, error) {
	if path == "" {
		return nil, nil
	}
	p, findings, err := model.LoadPolicyFile(path)
	if err != nil {
		return nil, fmt.Errorf("--policy: %w", err)
	}
	if len(findings) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "--policy: %d problem(s) in %s:", len(findings), path)
		for _, f := range findings {
			fmt.Fprintf(&b, "\n  %s %s", f.Rule, f)
		}
		return nil, errors.New(b.String())
	}
	return p, nil
}
