package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/memory"
)

// DefaultTimeout bounds every Git operation (Flux's default is 60 s).
const DefaultTimeout = 60 * time.Second

// Auth says how to authenticate to the remote. Credentials come from files
// (mounted from a Kubernetes Secret), never from flags.
type Auth struct {
	// UsernameFile and PasswordFile: HTTPS basic auth; a token goes in the
	// password file (the username may then be anything, e.g. "git").
	UsernameFile, PasswordFile string
	// SSHKeyFile is a private key; KnownHostsFile pins the server's key.
	SSHKeyFile, KnownHostsFile string
}

func (a Auth) method() (transport.AuthMethod, error) {
	switch {
	case a.PasswordFile != "":
		pw, err := readSecret(a.PasswordFile)
		if err != nil {
			return nil, err
		}
		user := "git"
		if a.UsernameFile != "" {
			if user, err = readSecret(a.UsernameFile); err != nil {
				return nil, err
			}
		}
		return &githttp.BasicAuth{Username: user, Password: pw}, nil
	case a.SSHKeyFile != "":
		keys, err := gitssh.NewPublicKeysFromFile("git", a.SSHKeyFile, "")
		if err != nil {
			return nil, fmt.Errorf("ssh key %s: %w", a.SSHKeyFile, err)
		}
		if a.KnownHostsFile == "" {
			return nil, errors.New("an SSH key needs a known_hosts file: host keys are always checked")
		}
		cb, err := gitssh.NewKnownHostsCallback(a.KnownHostsFile)
		if err != nil {
			return nil, fmt.Errorf("known_hosts %s: %w", a.KnownHostsFile, err)
		}
		keys.HostKeyCallback = cb
		return keys, nil
	}
	return nil, nil
}

func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading credentials: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Remote is a Git repository the daemon follows: one branch or tag, a
// cached shallow clone on disk, and a head check that costs one request.
type Remote struct {
	URL string
	// Ref is a branch name ("main") or "refs/tags/v1.2".
	Ref      string
	Auth     Auth
	CacheDir string
	Timeout  time.Duration
	// Keyring, when set, is an armored OpenPGP key ring: a head whose
	// commit is not signed by one of its keys is refused.
	Keyring string
	// OnRequest, when set, is called for every request to the remote with
	// its type ("ls-remote" or "fetch"), for metrics.
	OnRequest func(kind string)
	// Limits cap what each fetched revision may read (zero: the defaults).
	Limits Limits

	repo *git.Repository
	// objects are the objects the cached clone's reads keep (go-git's
	// least recently used cache, up to 96 MB), emptied by Release.
	objects cache.Object
}

// Release drops the objects kept from reading the last revision fetched:
// they speed up reading a revision whole (a file's delta base is read
// once), and are not read again until the next fetch. At 10,000 apps the
// daemon kept 6.5 MB of them between commits.
func (r *Remote) Release() {
	if r.objects != nil {
		r.objects.Clear()
	}
}

func (r *Remote) refName() plumbing.ReferenceName {
	if strings.HasPrefix(r.Ref, "refs/") {
		return plumbing.ReferenceName(r.Ref)
	}
	return plumbing.NewBranchReferenceName(r.Ref)
}

func (r *Remote) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return DefaultTimeout
}

func (r *Remote) note(kind string) {
	if r.OnRequest != nil {
		r.OnRequest(kind)
	}
}

// Head asks the remote which commit the ref points at (an ls-remote), so
// the caller can skip the fetch when it has not moved.
func (r *Remote) Head(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	auth, err := r.Auth.method()
	if err != nil {
		return "", err
	}
	r.note("ls-remote")
	rem := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{r.URL}})
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: auth, PeelingOption: git.AppendPeeled})
	if err != nil {
		return "", fmt.Errorf("git ls-remote %s: %w", r.URL, err)
	}
	want := r.refName()
	// An annotated tag is listed twice: the tag object, and its commit as
	// "<tag>^{}". The commit is what Fetch returns, so compare with that.
	for _, ref := range refs {
		if ref.Name().String() == want.String()+"^{}" {
			return ref.Hash().String(), nil
		}
	}
	for _, ref := range refs {
		if ref.Name() == want {
			return ref.Hash().String(), nil
		}
	}
	return "", fmt.Errorf("git ls-remote %s: no ref %s", r.URL, want)
}

// Fetch brings the commit the ref points at into the cached clone (shallow,
// that ref only) and returns its tree as a read-only fs.FS and its hash. A
// signed-commit check runs when a key ring is set.
func (r *Remote) Fetch(ctx context.Context) (fs.FS, string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	auth, err := r.Auth.method()
	if err != nil {
		return nil, "", err
	}
	refspec := config.RefSpec(fmt.Sprintf("+%s:%s", r.refName(), r.refName()))
	if r.repo == nil {
		if err := os.MkdirAll(r.CacheDir, 0o755); err != nil {
			return nil, "", fmt.Errorf("cache dir: %w", err)
		}
		dir := filepath.Join(r.CacheDir, "repo.git")
		if _, err := git.PlainOpen(dir); err != nil {
			repo, err := git.PlainInit(dir, true)
			if err != nil {
				return nil, "", fmt.Errorf("cache repository: %w", err)
			}
			if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{r.URL}}); err != nil {
				return nil, "", fmt.Errorf("cache repository: %w", err)
			}
		}
		r.objects = cache.NewObjectLRUDefault()
		repo, err := git.Open(filesystem.NewStorage(osfs.New(dir), r.objects), nil)
		if err != nil {
			return nil, "", fmt.Errorf("cache repository: %w", err)
		}
		r.repo = repo
	}
	r.note("fetch")
	err = r.repo.FetchContext(ctx, &git.FetchOptions{RemoteName: "origin", RemoteURL: r.URL, RefSpecs: []config.RefSpec{refspec},
		Depth: 1, Auth: auth, Force: true, Tags: git.NoTags})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil, "", fmt.Errorf("git fetch %s %s: %w", r.URL, r.refName(), err)
	}
	ref, err := r.repo.Reference(r.refName(), true)
	if err != nil {
		return nil, "", fmt.Errorf("git fetch %s: %s not found after fetch: %w", r.URL, r.refName(), err)
	}
	hash := ref.Hash()
	if obj, err := r.repo.TagObject(hash); err == nil { // annotated tag
		c, err := obj.Commit()
		if err != nil {
			return nil, "", err
		}
		hash = c.Hash
	}
	if r.Keyring != "" {
		if err := r.verify(hash); err != nil {
			return nil, "", err
		}
	}
	fsys, _, err := OpenTree(r.repo, hash.String(), r.Limits)
	if err != nil {
		return nil, "", err
	}
	return fsys, hash.String(), nil
}

// ErrUntrusted marks a head whose commit signature does not verify.
var ErrUntrusted = errors.New("commit is not signed by a trusted key")

func (r *Remote) verify(hash plumbing.Hash) error {
	c, err := object.GetCommit(r.repo.Storer, hash)
	if err != nil {
		return err
	}
	if c.PGPSignature == "" {
		return fmt.Errorf("%s: %w (it has no signature)", hash, ErrUntrusted)
	}
	if _, err := c.Verify(r.Keyring); err != nil {
		return fmt.Errorf("%s: %w: %v", hash, ErrUntrusted, err)
	}
	return nil
}
