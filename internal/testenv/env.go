package testenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"net/http"
	"os/exec"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"strconv"
	"syscall"
)

// ModulePath is the module whose go.mod marks the repository root.
const ModulePath = "github.com/flinksync/flinksync"

// Binaries are the files the control plane needs in the binary folder.
var Binaries = []string{"etcd", "kube-apiserver"}

// StartTimeout bounds the start of etcd and of kube-apiserver (each).
const StartTimeout = 90 * time.Second

// MissingBinariesError reports control-plane binaries that are not in Dir.
type MissingBinariesError struct {
	Dir     string   // folder searched
	Missing []string // file names not found there
}

func (e *MissingBinariesError) Error() string {
	paths := make([]string, len(e.Missing))
	for i, name := range e.Missing {
		paths[i] = filepath.Join(e.Dir, name)
	}
	return fmt.Sprintf("control plane binaries missing: %s (run `make controlplane` in the repository root to build them)",
		strings.Join(paths, ", "))
}

// RepoRoot returns the repository root: the first folder at or above the
// working directory whose go.mod declares module [ModulePath].
func RepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("testenv: finding the repository root: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if isRepoRoot(dir) {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("testenv: no go.mod declaring module %s at or above %s", ModulePath, wd)
		}
	}
}

func isRepoRoot(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "module"); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`) == ModulePath
		}
	}
	return false
}

// BinDir returns the folder holding the control-plane binaries:
// $KUBEBUILDER_ASSETS when set, otherwise <repo>/bin. It returns a
// *[MissingBinariesError] when a binary is not there.
func BinDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		root, err := RepoRoot()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, "bin")
	}
	var missing []string
	for _, name := range Binaries {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return dir, &MissingBinariesError{Dir: dir, Missing: missing}
	}
	return dir, nil
}

// Options configures [Start]. The zero value is ready to use.
type Options struct {
	// BinDir holds etcd and kube-apiserver; empty means [BinDir]'s answer.
	BinDir string
	// Output receives the output of etcd and kube-apiserver; nil discards it.
	Output io.Writer
	// EtcdOutput and APIServerOutput, when set, replace Output for one of them.
	EtcdOutput, APIServerOutput io.Writer
}

// Env is a running control plane with flinksync's test CRDs installed.
type Env struct {
	// Config is a client config for the user "admin" in system:masters.
	Config *rest.Config

	env      *envtest.Environment
	dir      string // etcd data and kube-apiserver certificates
	watchdog *watchdog
	usersMu  sync.Mutex // envtest's user provisioning is not safe for concurrent use
	// restarted are the kube-apiservers RestartAPIServer started.
	restarted []*exec.Cmd
	// stoppedArgs is the command line of the kube-apiserver StopAPIServer
	// stopped.
	stoppedArgs []string
}

// Start starts etcd and kube-apiserver, installs the test CRDs and waits
// until they are served. The caller must call [Env.Stop].
func Start(opts Options) (*Env, error) {
	bin := opts.BinDir
	if bin == "" {
		var err error
		if bin, err = BinDir(); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "flinksync-controlplane-")
	if err != nil {
		return nil, fmt.Errorf("testenv: creating the control plane's folder: %w", err)
	}

	te := &envtest.Environment{
		UseExistingCluster:       ptr.To(false),
		ControlPlaneStartTimeout: StartTimeout,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	te.ControlPlane.Etcd = &envtest.Etcd{
		Path:    filepath.Join(bin, "etcd"),
		DataDir: filepath.Join(dir, "etcd"),
		Out:     firstWriter(opts.EtcdOutput, opts.Output),
		Err:     firstWriter(opts.EtcdOutput, opts.Output),
	}
	api := te.ControlPlane.GetAPIServer()
	api.Path = filepath.Join(bin, "kube-apiserver")
	api.CertDir = filepath.Join(dir, "kube-apiserver")
	api.Out = firstWriter(opts.APIServerOutput, opts.Output)
	api.Err = api.Out
	// Watches (the daemon's, sync/watch.go) are long requests: without a
	// grace period for them, a stopped kube-apiserver waits for its HTTP
	// server's 60 s shutdown timeout before it exits (StopAPIServer).
	api.Configure().Set("shutdown-watch-termination-grace-period", "2s")
	for _, d := range []string{te.ControlPlane.Etcd.DataDir, api.CertDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("testenv: creating %s: %w", d, err)
		}
	}

	// The watchdog runs before the first child starts, so that none outlives us.
	e := &Env{env: te, dir: dir, watchdog: startWatchdog(dir)}
	cfg, err := te.Start()
	if err != nil {
		stopErr := e.Stop()
		return nil, errors.Join(fmt.Errorf("testenv: starting etcd and kube-apiserver from %s: %w", bin, err), stopErr)
	}
	e.Config = cfg
	// envtest always makes a webhook serving-cert folder in $TMPDIR; no
	// webhooks are installed, so drop it now rather than leak it on a crash.
	if d := te.WebhookInstallOptions.LocalServingCertDir; d != "" {
		_ = os.RemoveAll(d)
		te.WebhookInstallOptions.LocalServingCertDir = ""
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := InstallCRDs(ctx, cfg); err != nil {
		return nil, errors.Join(err, e.Stop())
	}
	return e, nil
}

// AddUser provisions a client certificate for a user in the given groups and
// returns its client config and an equivalent kubeconfig file's content.
// Authorization is RBAC: a user outside system:masters may do only what
// (Cluster)RoleBindings grant it.
func (e *Env) AddUser(name string, groups ...string) (*rest.Config, []byte, error) {
	e.usersMu.Lock()
	defer e.usersMu.Unlock()
	u, err := e.env.AddUser(envtest.User{Name: name, Groups: groups}, rest.CopyConfig(e.Config))
	if err != nil {
		return nil, nil, fmt.Errorf("testenv: adding user %q: %w", name, err)
	}
	kubeconfig, err := u.KubeConfig()
	if err != nil {
		return nil, nil, fmt.Errorf("testenv: writing a kubeconfig for user %q: %w", name, err)
	}
	return u.Config(), kubeconfig, nil
}

// Stop stops kube-apiserver and etcd and removes their files. It is safe to
// call more than once.
func (e *Env) Stop() error {
	if e == nil || e.env == nil {
		return nil
	}
	var errs []error
	for _, c := range e.restarted {
		_ = c.Process.Signal(syscall.SIGTERM)
		_ = c.Wait()
	}
	e.restarted = nil
	if err := e.env.Stop(); err != nil {
		errs = append(errs, fmt.Errorf("testenv: stopping the control plane: %w", err))
	}
	e.watchdog.stop()
	if err := os.RemoveAll(e.dir); err != nil {
		errs = append(errs, fmt.Errorf("testenv: removing %s: %w", e.dir, err))
	}
	e.env = nil
	return errors.Join(errs...)
}

func firstWriter(ws ...io.Writer) io.Writer {
	for _, w := range ws {
		if w != nil {
			return w
		}
	}
	return nil
}

// outputTail returns the last n lines of b, for error messages.
func outputTail(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// RestartAPIServer stops kube-apiserver and starts it again with the same
// arguments, certificates and etcd, the way a real API server restarts:
// clients see refused connections, then the same server with the same
// data. It returns once the new process answers /readyz. The process it
// starts is stopped by [Env.Stop] (and by the watchdog).
func (e *Env) RestartAPIServer(ctx context.Context) error {
	if err := e.StopAPIServer(); err != nil {
		return err
	}
	return e.StartAPIServer(ctx)
}

// StopAPIServer stops this Env's kube-apiserver (etcd keeps running), as a
// cluster that goes down: clients see refused connections until
// [Env.StartAPIServer].
func (e *Env) StopAPIServer() error {
	pid, args, err := e.apiServerProcess()
	if err != nil {
		return err
	}
	proc, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	_ = proc.Signal(syscall.SIGTERM)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			break
		}
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); strings.Contains(string(b), ") Z ") {
			break // exited, waiting for its parent to reap it
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testenv: kube-apiserver (pid %d) did not stop", pid)
		}
	}
	e.stoppedArgs = args
	return nil
}

// StartAPIServer starts the kube-apiserver [Env.StopAPIServer] stopped, with
// the same arguments, certificates and etcd, and returns once it answers
// /readyz.
func (e *Env) StartAPIServer(ctx context.Context) error {
	args := e.stoppedArgs
	if args == nil {
		return errors.New("testenv: StartAPIServer without StopAPIServer")
	}
	e.stoppedArgs = nil
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = e.env.ControlPlane.APIServer.Out, e.env.ControlPlane.APIServer.Err
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testenv: restarting kube-apiserver: %w", err)
	}
	e.restarted = append(e.restarted, cmd)
	hc, err := rest.HTTPClientFor(e.Config)
	if err != nil {
		return err
	}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(e.Config.Host, "/")+"/readyz", nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testenv: kube-apiserver not ready after a restart: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// apiServerProcess finds the running kube-apiserver of this Env (its
// command line names the Env's folder) and returns its pid and arguments.
func (e *Env) apiServerProcess() (int, []string, error) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if filepath.Base(args[0]) != "kube-apiserver" || !strings.Contains(string(b), e.dir) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil {
			continue
		}
		if st, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "stat")); strings.Contains(string(st), ") Z ") {
			continue
		}
		return pid, args, nil
	}
	return 0, nil, errors.New("testenv: no running kube-apiserver of this control plane")
}
