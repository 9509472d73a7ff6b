package cmf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/flinksync/flinksync/internal/model"
)

// Credentials are what flinksync presents to CMF, read from the files or
// Secrets spec.cmf names. They never reach output: errors name the file
// or Secret they came from, never their content.
type Credentials struct {
	// CA is the PEM of the CA that signed CMF's certificate (and the token
	// endpoint's); empty means the system roots.
	CA []byte
	// ClientCert and ClientKey are the PEM of a client certificate (mTLS).
	ClientCert, ClientKey []byte
	// OAuth, when set, fetches bearer tokens with client credentials.
	OAuth *OAuth
}

// OAuth is an OAuth 2.0 client-credentials grant (RFC 6749 section 4.4).
type OAuth struct {
	TokenURL, ClientID, ClientSecret string
	Scopes                           []string
	Audience                         string
}

// requestTimeout bounds one request to CMF or the token endpoint.
const requestTimeout = 30 * time.Second

// HTTPClient is an HTTP client that authenticates as c says.
func (c Credentials) HTTPClient() (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(c.CA) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(c.CA) {
			return nil, errors.New("the CMF CA holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	if len(c.ClientCert) > 0 || len(c.ClientKey) > 0 {
		pair, err := tls.X509KeyPair(c.ClientCert, c.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("the CMF client certificate and key do not form a pair: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	base := &http.Client{Transport: tr, Timeout: requestTimeout}
	if c.OAuth == nil {
		return base, nil
	}
	o := c.OAuth
	if u, err := url.Parse(o.TokenURL); err != nil || u.Scheme != "https" {
		// Whatever policy waives: the client secret never travels in clear.
		return nil, fmt.Errorf("the OAuth token endpoint %q is not https://", o.TokenURL)
	}
	cc := &clientcredentials.Config{ClientID: o.ClientID, ClientSecret: o.ClientSecret, TokenURL: o.TokenURL, Scopes: o.Scopes}
	if o.Audience != "" {
		cc.EndpointParams = url.Values{"audience": {o.Audience}}
	}
	// The token source lives as long as the client: it fetches a token
	// when the one it holds is about to expire.
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, base)
	src := &tokenSource{src: cc.TokenSource(ctx), url: o.TokenURL, client: o.ClientID}
	return &http.Client{Transport: &oauth2.Transport{Source: oauth2.ReuseTokenSource(nil, src), Base: tr}, Timeout: requestTimeout}, nil
}

// tokenSource names the token endpoint and client in its errors.
type tokenSource struct {
	src         oauth2.TokenSource
	url, client string
}

func (t *tokenSource) Token() (*oauth2.Token, error) {
	tok, err := t.src.Token()
	if err == nil {
		return tok, nil
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		msg := re.ErrorCode
		if re.ErrorDescription != "" {
			msg += ": " + re.ErrorDescription
		}
		if msg == "" {
			msg = re.Response.Status
		}
		return nil, fmt.Errorf("the OAuth token endpoint %s refused client %q (%s)", t.url, t.client, msg)
	}
	return nil, fmt.Errorf("the OAuth token endpoint %s: %w", t.url, err)
}

// SecretReader reads the data of a Kubernetes Secret.
type SecretReader func(ctx context.Context, namespace, name string) (map[string][]byte, error)

// Sources are where credentials may come from.
type Sources struct {
	// Secrets reads the Secrets spec.cmf names, in the environment's
	// namespace; nil when there is no cluster to read them from.
	Secrets SecretReader
	// FilesDir is the folder the files spec.cmf names must be in
	// (symbolic links resolved): those flinksync is given, and no other
	// file of its machine, since the repository decides where what it
	// reads is sent. Empty means FilesDir().
	FilesDir string
}

// DefaultFilesDir is where flinksync reads CMF credential files from,
// unless FLINKSYNC_CMF_FILES names another folder.
const DefaultFilesDir = "/etc/flinksync/cmf"

// FilesDirEnv is the environment variable that names the folder of CMF
// credential files.
const FilesDirEnv = "FLINKSYNC_CMF_FILES"

// FilesDir is the folder of CMF credential files: FLINKSYNC_CMF_FILES, or
// DefaultFilesDir.
func FilesDir() string {
	if d := os.Getenv(FilesDirEnv); d != "" {
		return d
	}
	return DefaultFilesDir
}

// readFileUnder reads file, which must be inside dir once symbolic links
// are resolved.
func readFileUnder(dir, file string) ([]byte, error) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("the folder of CMF credential files %s: %w", dir, err)
	}
	real, err := filepath.EvalSymlinks(file)
	if err != nil {
		return nil, err
	}
	if rel, err := filepath.Rel(root, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("%s is not in %s, the folder flinksync reads CMF credential files from (%s)", file, dir, FilesDirEnv)
	}
	return os.ReadFile(real)
}

// LoadCredentials reads the credentials spec.cmf of env names: files in
// src.FilesDir, or Secrets in the environment's namespace.
func LoadCredentials(ctx context.Context, env *model.Environment, src Sources) (Credentials, error) {
	secrets := src.Secrets
	filesDir := src.FilesDir
	if filesDir == "" {
		filesDir = FilesDir()
	}
	spec := env.Spec.CMF
	if spec == nil {
		return Credentials{}, fmt.Errorf("environment %s has no spec.cmf", env.Metadata.Name)
	}
	ns := env.Spec.Namespace
	var c Credentials
	cache := map[string]map[string][]byte{}
	secretKey := func(field, name, key string) ([]byte, error) {
		if secrets == nil {
			return nil, fmt.Errorf("%s: Secret %s/%s: no Kubernetes cluster to read it from", field, ns, name)
		}
		data, ok := cache[name]
		if !ok {
			var err error
			if data, err = secrets(ctx, ns, name); err != nil {
				return nil, fmt.Errorf("%s: Secret %s/%s: %w", field, ns, name, err)
			}
			cache[name] = data
		}
		v, ok := data[key]
		if !ok || len(v) == 0 {
			return nil, fmt.Errorf("%s: Secret %s/%s has no key %q", field, ns, name, key)
		}
		return v, nil
	}
	file := func(field, path string) ([]byte, error) {
		b, err := readFileUnder(filesDir, path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		return b, nil
	}
	var err error
	switch {
	case spec.CAFile != "":
		c.CA, err = file("spec.cmf.caFile", spec.CAFile)
	case spec.CASecretRef != nil:
		c.CA, err = secretKey("spec.cmf.caSecretRef", spec.CASecretRef.Name, keyOr(spec.CASecretRef.Key, model.DefaultCMFCAKey))
	}
	if err != nil {
		return c, err
	}
	if m := spec.Auth.MTLS; m != nil {
		if m.SecretRef != "" {
			const at = "spec.cmf.auth.mtls.secretRef"
			if c.ClientCert, err = secretKey(at, m.SecretRef, "tls.crt"); err != nil {
				return c, err
			}
			if c.ClientKey, err = secretKey(at, m.SecretRef, "tls.key"); err != nil {
				return c, err
			}
			if len(c.CA) == 0 {
				c.CA = cache[m.SecretRef]["ca.crt"] // optional
			}
		} else {
			if c.ClientCert, err = file("spec.cmf.auth.mtls.certFile", m.CertFile); err != nil {
				return c, err
			}
			if c.ClientKey, err = file("spec.cmf.auth.mtls.keyFile", m.KeyFile); err != nil {
				return c, err
			}
			if m.CAFile != "" && len(c.CA) == 0 {
				if c.CA, err = file("spec.cmf.auth.mtls.caFile", m.CAFile); err != nil {
					return c, err
				}
			}
		}
	}
	if o := spec.Auth.OAuth; o != nil {
		var secret []byte
		if o.ClientSecretRef != nil {
			secret, err = secretKey("spec.cmf.auth.oauth.clientSecretRef", o.ClientSecretRef.Name, keyOr(o.ClientSecretRef.Key, model.DefaultCMFClientSecretKey))
		} else {
			secret, err = file("spec.cmf.auth.oauth.clientSecretFile", o.ClientSecretFile)
		}
		if err != nil {
			return c, err
		}
		c.OAuth = &OAuth{TokenURL: o.TokenURL, ClientID: o.ClientID, ClientSecret: strings.TrimSpace(string(secret)),
			Scopes: o.Scopes, Audience: o.Audience}
	}
	return c, nil
}

func keyOr(k, def string) string {
	if k == "" {
		return def
	}
	return k
}
