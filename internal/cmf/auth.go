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

// LoadCredentials reads the credentials spec.cmf of env names: files the
// daemon is given, or Secrets in the environment's namespace, which
// secrets reads (nil: no Secret can be read).
func LoadCredentials(ctx context.Context, env *model.Environment, secrets SecretReader) (Credentials, error) {
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
		b, err := os.ReadFile(path)
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
