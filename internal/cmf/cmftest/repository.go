package cmftest

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// catalogSecret is a catalog's or a database's credentials Secret in a
// repository's catalogs/*.yaml.
var catalogSecret = regexp.MustCompile(`(?m)^\s+secret: (\S+)$`)

// ForRepository starts a stand-in over mTLS for the cmf environment of the
// repository in folder repo (examples/repo-layout): it holds the CMF
// secrets the repository's catalogs name, as CMF's administrator creates
// them (flinksync only maps them). The test fails if anything flinksync
// sent, or the stand-in answered, did not pass CMF's API description.
func ForRepository(t testing.TB, repo string) *Server {
	t.Helper()
	s := New(t, Options{Auth: MTLS})
	t.Cleanup(func() {
		if v := s.Violations(); len(v) > 0 {
			t.Errorf("the CMF stand-in counted %d violation(s) of CMF's API description:\n%s", len(v), strings.Join(v, "\n"))
		}
	})
	catalogs, err := filepath.Glob(filepath.Join(repo, "catalogs", "*.yaml"))
	if err != nil || len(catalogs) == 0 {
		t.Fatalf("the catalogs of %s: %v %v", repo, catalogs, err)
	}
	for _, file := range catalogs {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range catalogSecret.FindAllSubmatch(data, -1) {
			s.AddSecret(string(m[1]))
		}
	}
	return s
}

// WriteClientSecret writes the client certificate the stand-in accepts,
// with its CA, into the kubernetes.io/tls Secret name in namespace ns
// (tls.crt, tls.key and ca.crt, as cert-manager writes them), for an
// environment whose spec.cmf.auth.mtls.secretRef names it.
func (s *Server) WriteClientSecret(t testing.TB, cfg *rest.Config, ns, name string) {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": s.Client.Cert, "tls.key": s.Client.Key, "ca.crt": s.CA.PEM},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}
