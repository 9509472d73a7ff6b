package testenv

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"path/filepath"
	"regexp"
)

// RequireEnv names the variable that makes missing binaries fail tests
// instead of skipping them; CI being set has the same effect.
const RequireEnv = "FLINKSYNC_REQUIRE_CONTROLPLANE"

// The control plane of this test binary, set by Main.
var (
	current    *Env
	skipReason string // set by Main when the binaries are missing
	mainCalled bool
)

// Required reports whether a missing control plane is an error rather than a
// reason to skip: FLINKSYNC_REQUIRE_CONTROLPLANE is 1/true, or it is unset and
// CI is set (to anything but "" or false/0).
func Required() bool {
	if v, ok := os.LookupEnv(RequireEnv); ok && v != "" {
		return truthy(v)
	}
	return truthy(os.Getenv("CI"))
}

func truthy(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "false", "no", "off":
		return false
	}
	return true
}

// Main starts the control plane, runs the tests and stops the control plane;
// it returns the exit code for os.Exit. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
//
// When the binaries are missing, it runs the tests anyway and [Config] skips
// the ones that need the control plane, unless [Required] says otherwise: then
// it prints what is missing and returns 1 without running any test. A control
// plane that fails to start always returns 1, with the tail of its output.
func Main(m *testing.M) int {
	mainCalled = true
	if !flag.Parsed() {
		flag.Parse() // the test flags (-test.v, ...); m.Run would parse them too
	}
	bin, err := BinDir()
	if err != nil {
		var missing *MissingBinariesError
		if !errors.As(err, &missing) || Required() {
			fmt.Fprintf(os.Stderr, "testenv: FAIL: %s\n", strings.TrimPrefix(err.Error(), "testenv: "))
			if missing != nil {
				fmt.Fprintf(os.Stderr, "testenv: the control plane is required here (%s=1 or CI is set)\n", RequireEnv)
			}
			return 1
		}
		skipReason = err.Error()
		return m.Run()
	}

	etcdOut, apiOut := &tailBuffer{max: 32 << 10}, &tailBuffer{max: 32 << 10}
	start := time.Now()
	env, err := Start(Options{BinDir: bin, EtcdOutput: etcdOut, APIServerOutput: apiOut})
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: FAIL: %s\n--- last lines of kube-apiserver output:\n%s\n--- last lines of etcd output:\n%s\n",
			strings.TrimPrefix(err.Error(), "testenv: "), outputTail(apiOut.Bytes(), 30), outputTail(etcdOut.Bytes(), 10))
		return 1
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "testenv: control plane from %s ready at %s in %s\n", bin, env.Config.Host, time.Since(start).Round(time.Millisecond))
	}
	current = env
	code := m.Run()
	current = nil
	if err := env.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Config returns a fresh copy of the admin client config of the control plane
// that [Main] started. It skips t when the binaries are missing (see [Main])
// and fails t when TestMain did not call Main.
func Config(t testing.TB) *rest.Config {
	t.Helper()
	env := currentEnv(t)
	return rest.CopyConfig(env.Config)
}

// UserConfig provisions a user in the given groups and returns its client
// config. Authorization is RBAC, so the user may do only what RoleBindings or
// ClusterRoleBindings grant it (or everything, in group system:masters).
func UserConfig(t testing.TB, name string, groups ...string) *rest.Config {
	t.Helper()
	env := currentEnv(t)
	cfg, _, err := env.AddUser(name, groups...)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func currentEnv(t testing.TB) *Env {
	t.Helper()
	switch {
	case current != nil:
		return current
	case skipReason != "":
		t.Skip(skipReason)
	case !mainCalled:
		t.Fatal("testenv: no control plane: call testenv.Main from TestMain (func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) })")
	default:
		t.Fatal("testenv: the control plane is already stopped")
	}
	return nil
}

// CreateNamespace creates the namespace name with cfg, or does nothing if it
// exists. It does not delete it afterwards: without a controller manager a
// deleted namespace stays Terminating, so each test should use its own name.
func CreateNamespace(t testing.TB, cfg *rest.Config, name string) {
	t.Helper()
	if err := EnsureNamespace(context.Background(), cfg, name); err != nil {
		t.Fatal(err)
	}
}

// EnsureNamespace creates the namespace name unless it exists.
func EnsureNamespace(ctx context.Context, cfg *rest.Config, name string) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("testenv: creating a client for %s: %w", cfg.Host, err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("testenv: creating namespace %q: %w", name, err)
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it; safe for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

// Bytes returns a copy of what the buffer holds.
func (b *tailBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf...)
}

// WriteKubeconfig writes cfg as a kubeconfig file in a temporary folder of
// t and returns its path, for programs that take one (flinksync, kubectl).
func WriteKubeconfig(t testing.TB, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["test"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test"}
	kc.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// CopyTree copies the folder from into to (created as needed), passing each
// file's content through rewrite when it is not nil; rel is the file's path
// relative to from, with forward slashes.
func CopyTree(t testing.TB, from, to string, rewrite func(rel string, data []byte) []byte) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if rewrite != nil {
			data = rewrite(filepath.ToSlash(rel), data)
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

var envNamespace = regexp.MustCompile(`(?m)^  namespace: (\S+)$`)

// UniqueNamespaces is a CopyTree rewrite for a flinksync repository: it
// appends suffix to each environment's spec.namespace (in files under
// environments/) and creates that namespace on the control plane, so tests
// sharing one control plane never meet.
func UniqueNamespaces(t testing.TB, cfg *rest.Config, suffix string) func(string, []byte) []byte {
	return func(rel string, data []byte) []byte {
		if !strings.HasPrefix(rel, "environments/") {
			return data
		}
		data = envNamespace.ReplaceAll(data, []byte("  namespace: ${1}"+suffix))
		if m := envNamespace.FindSubmatch(data); m != nil {
			CreateNamespace(t, cfg, string(m[1]))
		}
		return data
	}
}

// RestartAPIServer restarts the kube-apiserver of this test binary's
// control plane (see [Env.RestartAPIServer]).
func RestartAPIServer(t testing.TB) {
	t.Helper()
	Config(t)
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	if err := current.RestartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
}

// Within runs f and fails the test if it has not returned after limit: for
// reads and parses of hostile input that must end, where a hang is the bug
// (a named pipe, a huge exponent). A hung f keeps its goroutine; the test
// binary ends anyway.
func Within(t testing.TB, limit time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("%s: still running after %s", what, limit)
	}
}

// SecondCluster starts another control plane, apart from the one [Main]
// started (its own etcd and kube-apiserver, flinksync's test CRDs
// installed), for tests of environments on several clusters. It is
// stopped when t ends. It skips or fails t as [Config] does.
func SecondCluster(t testing.TB) *Env {
	t.Helper()
	currentEnv(t) // the same skip or failure when there is no control plane
	out := &tailBuffer{max: 64 << 10}
	e, err := Start(Options{Output: out})
	if err != nil {
		t.Fatalf("testenv: starting a second control plane: %v\n%s", err, out.Bytes())
	}
	t.Cleanup(func() {
		if err := e.Stop(); err != nil {
			t.Logf("testenv: stopping the second control plane: %v", err)
		}
	})
	return e
}
