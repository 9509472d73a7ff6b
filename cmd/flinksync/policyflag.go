package main

import (
	"fmt"

	"github.com/flinksync/flinksync/internal/model"
)

// daemonPolicy loads --policy, the daemon's own policy, the one way every
// command does: nil without the flag, and an error that names the flag.
func daemonPolicy(path string) (*model.Policy, error) {
	if path == "" {
		return nil, nil
	}
	p, err := model.LoadPolicyFile(path)
	if err != nil {
		return nil, fmt.Errorf("--policy: %w", err)
	}
	return p, nil
}
