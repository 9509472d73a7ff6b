package model

import (
	"net/url"
	"path"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/flinksync/flinksync/internal/diag"
)

// Defaults of spec.cmf; docs/cmf.md lists them.
const (
	// DefaultCMFClientSecretKey is the key of spec.cmf.auth.oauth.clientSecretRef.
	DefaultCMFClientSecretKey = "client-secret"
	// DefaultCMFCAKey is the key of spec.cmf.caSecretRef: the key
	// cert-manager writes a CA into.
	DefaultCMFCAKey = "ca.crt"
	// MinCMFEnvironmentName is the shortest name CMF takes for an
	// environment: the minLength of the name in CMF 2.3.1's API
	// description (PostResourceBase.name).
	MinCMFEnvironmentName = 4
)

// cmfEnvironmentName is the pattern of PostResourceBase.name in CMF
// 2.3.1's API description: a DNS-1123 subdomain.
var cmfEnvironmentName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// checkCMF checks spec.cmf of an environment and applies its defaults.
// Whether the endpoint is https is policy's call (CMF-001), so that a
// waiver can be written for a test installation.
func (l *loader) checkCMF(e *Environment) {
	name, o, s := e.Metadata.Name, e.Origin, &e.Spec
	bad := func(path string, rule *diag.Rule, format string, args ...any) {
		l.errorf(o.File, o.LineOf(path), rule, name, "", path+": "+format, args...)
	}
	switch {
	case s.Target == TargetCMF && s.CMF == nil:
		bad("spec", RuleRequired, "missing required field \"cmf\" (cmf.endpoint and cmf.auth) for target cmf")
		return
	case s.Target != TargetCMF && s.Target != "" && s.CMF != nil:
		bad("spec.cmf", RuleInvalidValue, "only meaningful for target cmf; remove it or set target: cmf")
		return
	case s.CMF == nil:
		return
	}
	if name != "" && (len(name) < MinCMFEnvironmentName || !cmfEnvironmentName.MatchString(name)) {
		bad("metadata.name", RuleName, "environment %q becomes a CMF environment, whose name CMF requires to have at least %d characters and match %s",
			name, MinCMFEnvironmentName, cmfEnvironmentName)
	}
	c := s.CMF
	if c.Endpoint != "" && !httpURL(c.Endpoint) {
		bad("spec.cmf.endpoint", RuleInvalidValue, "%q is not an https:// URL with a host (e.g. https://cmf.confluent.svc:8080)", c.Endpoint)
	}
	if c.CAFile != "" && c.CASecretRef != nil {
		bad("spec.cmf.caFile", RuleInvalidValue, "set caFile or caSecretRef, not both")
	}
	l.cmfFile(e, "spec.cmf.caFile", c.CAFile)
	l.cmfSecretRef(e, "spec.cmf.caSecretRef", c.CASecretRef, DefaultCMFCAKey)
	a := c.Auth
	switch {
	case a.MTLS == nil && a.OAuth == nil:
		if o.has("spec.cmf.auth") {
			bad("spec.cmf.auth", RuleRequired, "set one of mtls (a client certificate) or oauth (client credentials)")
		}
	case a.MTLS != nil && a.OAuth != nil:
		bad("spec.cmf.auth", RuleInvalidValue, "set one of mtls or oauth, not both")
	case a.MTLS != nil:
		m := a.MTLS
		files := m.CertFile != "" || m.KeyFile != "" || m.CAFile != ""
		switch {
		case m.SecretRef != "" && files:
			bad("spec.cmf.auth.mtls", RuleInvalidValue, "set secretRef or certFile and keyFile, not both")
		case m.SecretRef == "" && (m.CertFile == "" || m.KeyFile == ""):
			bad("spec.cmf.auth.mtls", RuleRequired, "set secretRef (a Secret with tls.crt, tls.key and ca.crt) or both certFile and keyFile")
		case m.SecretRef != "" && len(validation.IsDNS1123Subdomain(m.SecretRef)) > 0:
			bad("spec.cmf.auth.mtls.secretRef", RuleName, "%q is not a Secret name: %s", m.SecretRef, strings.Join(validation.IsDNS1123Subdomain(m.SecretRef), "; "))
		}
		l.cmfFile(e, "spec.cmf.auth.mtls.certFile", m.CertFile)
		l.cmfFile(e, "spec.cmf.auth.mtls.keyFile", m.KeyFile)
		l.cmfFile(e, "spec.cmf.auth.mtls.caFile", m.CAFile)
	default:
		a := a.OAuth
		if a.TokenURL != "" && !httpURL(a.TokenURL) {
			bad("spec.cmf.auth.oauth.tokenURL", RuleInvalidValue, "%q is not an https:// URL with a host", a.TokenURL)
		}
		if (a.ClientSecretRef == nil) == (a.ClientSecretFile == "") {
			bad("spec.cmf.auth.oauth", RuleRequired, "set one of clientSecretRef (a Secret) or clientSecretFile (a file the daemon is given): the client secret is never written in the repository")
		}
		l.cmfSecretRef(e, "spec.cmf.auth.oauth.clientSecretRef", a.ClientSecretRef, DefaultCMFClientSecretKey)
		l.cmfFile(e, "spec.cmf.auth.oauth.clientSecretFile", a.ClientSecretFile)
	}
}

// cmfFile checks a file path of spec.cmf: absolute, since the daemon's
// working folder is no place the repository can know.
func (l *loader) cmfFile(e *Environment, at, file string) {
	if file != "" && !path.IsAbs(file) {
		l.errorf(e.Origin.File, e.Origin.LineOf(at), RuleInvalidValue, e.Metadata.Name, "",
			"%s: %q is not an absolute path (a file mounted into flinksync, such as /etc/flinksync/cmf/tls.crt)", at, file)
	}
}

// cmfSecretRef checks a Secret key reference and defaults its key.
func (l *loader) cmfSecretRef(e *Environment, at string, ref *SecretKeyRef, key string) {
	if ref == nil {
		return
	}
	if ref.Key == "" {
		ref.Key = key
	}
	if errs := validation.IsDNS1123Subdomain(ref.Name); ref.Name != "" && len(errs) > 0 {
		l.errorf(e.Origin.File, e.Origin.LineOf(at+".name"), RuleName, e.Metadata.Name, "",
			"%s.name: %q is not a Secret name: %s", at, ref.Name, strings.Join(errs, "; "))
	}
}

// httpURL reports whether s is an http:// or https:// URL with a host.
func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// UsesSecrets reports whether spec.cmf names a Kubernetes Secret, so that
// syncing the environment needs its cluster to read it.
func (c *CMF) UsesSecrets() bool {
	return c != nil && (c.CASecretRef != nil || (c.Auth.MTLS != nil && c.Auth.MTLS.SecretRef != "") ||
		(c.Auth.OAuth != nil && c.Auth.OAuth.ClientSecretRef != nil))
}
