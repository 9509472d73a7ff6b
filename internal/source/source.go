// Package source reads a repository's content and revision from Git
// (go-git): a local checkout, a local or remote repository at a revision,
// or a cached shallow clone that the daemon polls. It is the first stage:
// it hands the later stages an fs.FS and a revision, nothing else.
package source

import (
	"errors"
	"fmt"

	git "github.com/go-git/go-git/v5"
)

// Revision returns the commit HEAD points at in the Git checkout that holds
// dir, and whether the work tree has uncommitted changes. A folder that is
// not in a Git repository has no revision ("", false, nil).
func Revision(dir string) (string, bool, error) {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("%s: opening the Git repository: %w", dir, err)
	}
	head, err := repo.Head()
	if err != nil {
		return "", false, nil // no commit yet
	}
	wt, err := repo.Worktree()
	if err != nil {
		return head.Hash().String(), false, nil
	}
	st, err := wt.Status()
	if err != nil {
		return head.Hash().String(), false, nil
	}
	return head.Hash().String(), !st.IsClean(), nil
}
