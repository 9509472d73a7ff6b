package policy

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/redact"
	"github.com/flinksync/flinksync/internal/render"
)

// Flink TLS keys (Flink's security.ssl.* options).
const (
	keySSL         = "security.ssl.enabled" // the old umbrella switch for both
	keySSLInternal = "security.ssl.internal.enabled"
	keySSLRest     = "security.ssl.rest.enabled"
)

// weakProtocols are TLS versions that must not be configured (TLS-004).
var weakProtocols = []string{"SSLv3", "TLSv1", "TLSv1.1"}

// tlsEnvironment checks what the environment itself says about TLS.
func (c *checker) tlsEnvironment(env *model.Environment) {
	name := env.Metadata.Name
	if c.eff.RequiresTLS(env) && (env.Spec.TLS == nil || env.Spec.TLS.SecretName == "") {
		c.add(TLS002, name, "", env.Origin.File, env.Origin.LineOf("spec.tls"), "",
			"TLS is required in %s but no certificate secret is mounted: set spec.tls.secretName to a kubernetes.io/tls secret holding %s and %s",
			name, render.KeystoreFile, render.TruststoreFile)
	}
	c.cmfEndpoints(env)
	// A rendered environment's CMF REST class is checked as it will be
	// applied, after the overlay (cmfRestObject); the model only when the
	// environment did not render.
	if _, rendered := c.in.Rendered[name]; !rendered && env.Spec.CFK != nil && env.Spec.CFK.CMFRest != nil {
		r := env.Spec.CFK.CMFRest
		if strings.HasPrefix(strings.ToLower(r.Endpoint), "http://") {
			c.add(TLS006, name, "", env.Origin.File, env.Origin.LineOf("spec.cfk.cmfRest.endpoint"), "",
				"the CMF REST endpoint %q is plain http; use https://", r.Endpoint)
		}
		if r.Authentication != "mtls" && r.Authentication != "oauth" {
			c.add(TLS006, name, "", env.Origin.File, env.Origin.LineOf("spec.cfk.cmfRest.authentication"), "",
				"the CMF REST class authenticates with %q; use mtls or oauth", r.Authentication)
		}
	}
}

// cmfEndpoints checks the URLs a target: cmf environment sends its
// credentials to (TLS-006): CMF's endpoint and the OAuth token endpoint.
// Over plain http a client certificate cannot be presented at all, and a
// client secret or bearer token travels readable.
func (c *checker) cmfEndpoints(env *model.Environment) {
	cm := env.Spec.CMF
	if env.Spec.Target != model.TargetCMF || cm == nil {
		return
	}
	check := func(path, what, u string) {
		if strings.HasPrefix(strings.ToLower(u), "http://") {
			c.add(TLS006, env.Metadata.Name, "", env.Origin.File, env.Origin.LineOf(path), "",
				"%s %q is plain http: flinksync would send its credentials readable; use https://", what, u)
		}
	}
	check("spec.cmf.endpoint", "the CMF endpoint", cm.Endpoint)
	if o := cm.Auth.OAuth; o != nil {
		check("spec.cmf.auth.oauth.tokenURL", "the OAuth token endpoint", o.TokenURL)
	}
}

// flinkObjects checks the Flink objects of an environment (and the CFK
// objects of its SQL, or their CMF counterparts: pools, statements,
// catalogs): service account, mode, TLS and inline secrets.
func (c *checker) flinkObjects(env *model.Environment, out *render.Environment, objs []*object) {
	name := env.Metadata.Name
	required := c.eff.RequiresTLS(env)
	flinkEnvs := flinkEnvironments(objs)
	for _, v := range objs {
		o, kind, shape := v.Object, v.kind, v.shape
		switch shape {
		case render.CMFRestClassGVK.Kind:
			c.cmfRestObject(env, o)
		case render.FlinkKafkaCatalogGVK.Kind, render.FlinkKafkaDatabaseGVK.Kind:
			c.catalogObject(env, v)
		}
		cluster := clusterSpec(shape)
		if cluster == nil && !isFlink(shape) && shape != render.FlinkStatementGVK.Kind {
			continue
		}
		w := c.ownerOf(env, v)
		app := o.App
		if w != nil && w.name() != "" {
			app = w.name()
		}
		conf := flinkConf(flinkEnvs, o, shape)
		args, _, _ := nestedStrings(o, "spec", "job", "args")
		fo := &flinkObject{Object: o, owner: w, conf: conf, keys: slices.Sorted(maps.Keys(conf)), args: args}
		at := func(rule *diag.Rule, key, fallback, format string, args ...any) {
			file, line, set := keyOrigin(env, w, key)
			switch {
			case o.FromOverlay:
				file, line = o.File, o.Line
			case set:
			case fallback == setByOverlay && out.Overlay != "":
				file, line = out.Overlay, 1
			case fallback == setByOverlay:
				file, line = env.Origin.File, env.Origin.LineOf("spec")
			default:
				file, line = env.Origin.File, env.Origin.LineOf(fallback)
			}
			c.add(rule, name, app, file, line, o.ID(), format, args...)
		}
		if shape == "FlinkDeployment" || shape == render.FlinkApplicationGVK.Kind {
			// A default account set in the environment is reported there.
			if sa := nestedString(o, "spec", "serviceAccount"); sa == "" || (sa == "default" && env.Spec.ServiceAccount != "default") {
				c.addAt(RBAC003, name, o, "%s %q runs its pods as the default service account; set spec.serviceAccount in the environment", kind, o.GetName())
			}
			if mode := nestedString(o, "spec", "mode"); required && (mode == "" || mode == "native") {
				at(RBAC006, "", "spec.tls", "%s %q runs in native mode in %s, which requires TLS: its JobManager can create pods; set spec.mode: standalone to remove its Kubernetes API access",
					kind, o.GetName(), name)
			}
		}
		if shape != render.FlinkStatementGVK.Kind {
			// A statement runs on its pool's cluster: the pool holds its TLS.
			c.clusterTLS(env, out, o, cluster, conf, at)
		} else {
			c.statementObject(env, o, w)
		}
		c.inlineSecrets(name, fo, at)
		c.protocols(required, fo, at)
	}
}

// flinkObject is a rendered Flink object as the TLS checks read it, each
// part read once.
type flinkObject struct {
	*render.Object
	owner *owner
	// conf is the object's Flink configuration (flinkConf); keys, its keys in order.
	conf map[string]string
	keys []string
	// args are its job's arguments (spec.job.args).
	args []string
}

// clusterTLS checks that a Flink cluster has TLS on where it is required
// (TLS-001) and configured where it is on (TLS-002).
func (c *checker) clusterTLS(env *model.Environment, out *render.Environment, o *render.Object, cluster []string, conf map[string]string, at reporter) {
	name := env.Metadata.Name
	internal, rest := sslOn(conf, keySSLInternal), sslOn(conf, keySSLRest)
	if c.eff.RequiresTLS(env) && (!internal || !rest) {
		var off []string
		key := keySSLInternal
		if !internal {
			off = append(off, keySSLInternal)
		}
		if !rest {
			off = append(off, keySSLRest)
			if internal {
				key = keySSLRest
			}
		}
		if _, set := conf[keySSL]; set && conf[keySSL] != "true" {
			key = keySSL
		}
		at(TLS001, key, "spec.tls", "TLS is required in %s but %s is off for %s %q; remove the setting that turns it off (flinksync turns TLS on when spec.tls is set)",
			name, strings.Join(off, " and "), o.GetKind(), o.GetName())
	}
	if !internal && !rest {
		return
	}
	var missing []string
	for _, part := range []struct {
		on   bool
		keys []string
	}{{internal, []string{"security.ssl.internal.keystore", "security.ssl.internal.truststore"}},
		{rest, []string{"security.ssl.rest.keystore", "security.ssl.rest.truststore"}}} {
		if !part.on {
			continue
		}
		for _, k := range part.keys {
			if conf[k] == "" {
				missing = append(missing, k)
			}
		}
	}
	if conf["kubernetes.secrets"] == "" && (env.Spec.TLS == nil || env.Spec.TLS.SecretName == "") {
		missing = append(missing, "a mounted certificate secret (kubernetes.secrets or spec.tls.secretName)")
	}
	if len(missing) > 0 && (env.Spec.TLS == nil || env.Spec.TLS.SecretName != "") {
		at(TLS002, keySSLInternal, "spec.tls", "TLS is on for %q but not configured: missing %s", o.GetName(), strings.Join(missing, ", "))
	}
	if cluster != nil {
		c.passwordDelivery(env, out, o, cluster)
	}
}

// sslOn reports whether one part of Flink TLS is on, honouring the umbrella key.
func sslOn(conf map[string]string, key string) bool {
	if v, ok := conf[key]; ok {
		return strings.EqualFold(v, "true")
	}
	return strings.EqualFold(conf[keySSL], "true")
}

// reporter reports a finding about key of a rendered Flink object at the
// level of the model that sets the key; when none does, at fallback in the
// environment (setByOverlay: see there).
type reporter func(rule *diag.Rule, key, fallback, format string, args ...any)

// setByOverlay, as a reporter's fallback, says that render writes no such
// key itself (a secret, a client's protocol or Schema Registry URL): one no
// level of the model sets was written by the environment's kustomize
// overlay, and is reported there (at the environment's spec without one).
const setByOverlay = ""

// inlineSecrets reports passwords and tokens written into configuration or
// job arguments (TLS-003).
func (c *checker) inlineSecrets(envName string, o *flinkObject, at reporter) {
	for _, k := range o.keys {
		v, lk := o.conf[k], c.keyOf(k).lower
		switch {
		case !c.secretInline(k, v):
		case strings.HasSuffix(lk, "sasl.jaas.config"):
			at(TLS003, k, setByOverlay, "%q holds a password inline for %q; load the JAAS config from a mounted Secret instead", k, o.GetName())
		case strings.HasPrefix(lk, "security.ssl.") && strings.Contains(lk, "password"):
			at(TLS003, k, setByOverlay, "%q is written inline in the Flink configuration of %q; remove it: flinksync delivers the keystore and truststore password from Secret <spec.tls.secretName>%s (see docs/tls.md)", k, o.GetName(), render.TLSPasswordSecretSuffix)
		default:
			at(TLS003, k, setByOverlay, "%q is written inline in the Flink configuration of %q; deliver it from a Kubernetes Secret (pod template env with secretKeyRef) instead", k, o.GetName())
		}
	}
	args, w := o.args, o.owner
	for i, a := range args {
		la := strings.ToLower(a)
		isFlag := strings.Contains(la, "password") || strings.Contains(la, "token") || strings.Contains(la, "secret")
		if !isFlag {
			continue
		}
		inline := strings.Contains(la, "=") || (i+1 < len(args) && !strings.HasPrefix(args[i+1], "-"))
		if !inline {
			continue
		}
		file, line := o.File, o.Line
		if w != nil {
			file, line = w.origin().File, w.origin().LineOf("spec.job.args")
		}
		c.add(TLS003, envName, o.App, file, line, o.ID(),
			"job argument %q of %q passes a secret inline; read it from a file or environment variable filled from a Kubernetes Secret", a, o.GetName())
	}
}

// secretInline reports whether value v of key k is a secret written
// inline: a key that looks secret (redact.Key, as every output masks it),
// a JAAS config with a password, or a value redact would mask (a URL's
// password, a token). A Kafka config provider's or an environment
// variable's reference (${file:…}, ${env:…}) is not a secret.
func (c *checker) secretInline(k, v string) bool {
	ki := c.keyOf(k)
	switch {
	case v == "" || strings.Contains(v, "${"):
		return false
	case ki.jaas:
		return strings.Contains(strings.ToLower(v), "password=")
	case ki.secret:
		return true
	}
	masked, ok := c.masked[v]
	if !ok {
		masked = redact.Text(v) != v
		if c.masked == nil {
			c.masked = map[string]bool{}
		}
		c.masked[v] = masked
	}
	return masked
}

// keyInfo is what the checks ask of a configuration key or connector
// option, worked out once per key and pass (keyOf).
type keyInfo struct {
	lower string
	// secret: the key looks secret (render.SecretKey).
	secret bool
	// jaas: the key is a JAAS config (…sasl.jaas.config).
	jaas bool
	// setting is which client setting the key is (clientSettings).
	setting setting
}

// setting is the kind of client setting a key makes (clientSettings).
type setting int

const (
	otherSetting  setting = iota
	tlsProtocols          // security.ssl.protocol, …ssl.enabled.protocols, …ssl.protocol
	kafkaProtocol         // …security.protocol
	registryURLs          // a Schema Registry URL (registryURLKey)
)

// keyOf is k's keyInfo, memoized in the checker.
func (c *checker) keyOf(k string) *keyInfo {
	if ki := c.keys[k]; ki != nil {
		return ki
	}
	lk := strings.ToLower(k)
	ki := &keyInfo{lower: lk, secret: render.SecretKey(k), jaas: strings.HasSuffix(lk, "sasl.jaas.config")}
	switch {
	case lk == "security.ssl.protocol" || strings.HasSuffix(lk, "ssl.enabled.protocols") || strings.HasSuffix(lk, "ssl.protocol"):
		ki.setting = tlsProtocols
	case strings.HasSuffix(lk, "security.protocol"):
		ki.setting = kafkaProtocol
	case registryURLKey(lk):
		ki.setting = registryURLs
	}
	if c.keys == nil {
		c.keys = map[string]*keyInfo{}
	}
	c.keys[k] = ki
	return ki
}

// protocols reports weak TLS versions (TLS-004), Kafka plaintext (TLS-005)
// and Schema Registry over http:// (TLS-008) where TLS is required.
func (c *checker) protocols(required bool, o *flinkObject, at reporter) {
	subject := func() string { return fmt.Sprintf("%q", o.GetName()) }
	for _, k := range o.keys {
		c.clientSettings(required, subject, k, o.conf[k], func(rule *diag.Rule, format string, args ...any) {
			at(rule, k, setByOverlay, format, args...)
		})
	}
	args := o.args
	for i, a := range args {
		if !required || !strings.Contains(strings.ToLower(a), "security.protocol") {
			continue
		}
		val := a
		if j := strings.Index(a, "="); j >= 0 {
			val = a[j+1:]
		} else if i+1 < len(args) {
			val = args[i+1]
		}
		if up := strings.ToUpper(val); up == "PLAINTEXT" || up == "SASL_PLAINTEXT" {
			at(TLS005, "", "spec", "job argument %q sets a Kafka client to %s for %q in an environment that requires TLS; use SSL or SASL_SSL", a, up, o.GetName())
		}
	}
}

// cmfRestObject checks a CMF REST class as the environment will apply it:
// flinksync's own, after the overlay, or one an overlay added (TLS-006). A
// value the environment file wrote is reported there; one the overlay
// wrote, at the overlay.
func (c *checker) cmfRestObject(env *model.Environment, o *render.Object) {
	var spec *model.CMFRest
	if env.Spec.CFK != nil && !o.FromOverlay {
		spec = env.Spec.CFK.CMFRest
	}
	report := func(fromEnv bool, key, format string, args ...any) {
		if fromEnv {
			c.add(TLS006, env.Metadata.Name, "", env.Origin.File, env.Origin.LineOf(key), o.ID(), format, args...)
		} else {
			c.addAt(TLS006, env.Metadata.Name, o, format, args...)
		}
	}
	if ep := nestedString(o, "spec", "cmfRest", "endpoint"); strings.HasPrefix(strings.ToLower(ep), "http://") {
		report(spec != nil && spec.Endpoint == ep, "spec.cfk.cmfRest.endpoint",
			"CMFRestClass %q uses plain http endpoint %q; use https://", o.GetName(), ep)
	}
	if t := nestedString(o, "spec", "cmfRest", "authentication", "type"); t != "mtls" && t != "oauth" {
		report(spec != nil && spec.Authentication == t, "spec.cfk.cmfRest.authentication",
			"CMFRestClass %q authenticates with %q; use mtls or oauth", o.GetName(), t)
	}
}

func nestedStrings(o *render.Object, path ...string) ([]string, bool, error) {
	v, ok, err := nestedSlice(o, path...)
	var out []string
	for _, x := range v {
		out = append(out, fmt.Sprint(x))
	}
	return out, ok, err
}

func nestedSlice(o *render.Object, path ...string) ([]any, bool, error) {
	cur := any(o.Object)
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false, nil
		}
		cur, ok = m[p]
		if !ok {
			return nil, false, nil
		}
	}
	s, ok := cur.([]any)
	return s, ok, nil
}

// CheckCertificate checks the certificate of a live kubernetes.io/tls
// secret (its tls.crt) and returns a TLS-007 finding when it is expired or
// expires within CertificateWarningWindow, or cannot be read. The sync stage
// calls it when a cluster is reachable.
func CheckCertificate(env *model.Environment, tlsCrt []byte, now time.Time) *diag.Finding {
	file, line := env.Origin.File, env.Origin.LineOf("spec.tls.secretName")
	mk := func(format string, args ...any) *diag.Finding {
		f := TLS007.Atf(file, line, format, args...).For(env.Metadata.Name, "")
		f.Object = "Secret/" + env.Spec.Namespace + "/" + env.Spec.TLS.SecretName
		return f
	}
	block, _ := pem.Decode(tlsCrt)
	if block == nil {
		return mk("secret %q holds no PEM certificate in tls.crt", env.Spec.TLS.SecretName)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return mk("secret %q: tls.crt does not parse: %v", env.Spec.TLS.SecretName, err)
	}
	switch left := cert.NotAfter.Sub(now); {
	case left <= 0:
		return mk("the certificate in secret %q expired on %s; renew it", env.Spec.TLS.SecretName, cert.NotAfter.UTC().Format(time.DateOnly))
	case left < CertificateWarningWindow:
		return mk("the certificate in secret %q expires on %s, in %d day(s); renew it", env.Spec.TLS.SecretName,
			cert.NotAfter.UTC().Format(time.DateOnly), int(left.Hours()/24))
	}
	return nil
}

// passwordDelivery reports (TLS-002) a Flink object whose pods no longer get
// the keystore password flinksync renders for them (docs/tls.md): render
// always adds it, so an overlay replaced or removed a pod template.
func (c *checker) passwordDelivery(env *model.Environment, out *render.Environment, o *render.Object, cluster []string) {
	secret := render.TLSPasswordSecret(env)
	if secret == "" {
		return
	}
	var broken []string
	for _, part := range []string{"jobManager", "taskManager"} {
		templates := []map[string]any{nestedMap(o, under(cluster, "podTemplate")...), nestedMap(o, under(cluster, part, "podTemplate")...)}
		if !hasPasswordInit(templates, secret) || !hasConfDir(templates) {
			broken = append(broken, part)
		}
	}
	if len(broken) == 0 {
		return
	}
	file, line := env.Origin.File, env.Origin.LineOf("spec.tls.secretName")
	switch {
	case o.FromOverlay:
		file, line = o.File, o.Line
	case out.Overlay != "":
		file, line = out.Overlay, 1
	}
	c.add(TLS002, env.Metadata.Name, o.App, file, line, o.ID(),
		"the %s pods of %q do not get the keystore password from Secret %q: the pod template lacks init container %s or %s=%s on %s; patch the pod templates without replacing them (see docs/tls.md)",
		strings.Join(broken, " and "), o.GetName(), secret, render.TLSInitContainer, render.EnvFlinkConfDir, render.TLSConfDir, render.MainContainer)
}

// hasPasswordInit reports whether one of the pod templates has flinksync's
// init container reading the password from secret.
func hasPasswordInit(templates []map[string]any, secret string) bool {
	for _, t := range templates {
		for _, c := range listOfMaps(t, "spec", "initContainers") {
			if c["name"] != render.TLSInitContainer {
				continue
			}
			for _, e := range listOfMaps(c, "env") {
				ref, _, _ := unstructured.NestedStringMap(e, "valueFrom", "secretKeyRef")
				if e["name"] == render.TLSPasswordEnv && ref["name"] == secret && ref["key"] == render.TLSPasswordKey {
					return true
				}
			}
		}
	}
	return false
}

// hasConfDir reports whether Flink's main container reads its configuration
// from the copy the init container writes.
func hasConfDir(templates []map[string]any) bool {
	for _, t := range templates {
		for _, c := range listOfMaps(t, "spec", "containers") {
			if c["name"] != render.MainContainer {
				continue
			}
			for _, e := range listOfMaps(c, "env") {
				if e["name"] == render.EnvFlinkConfDir && e["value"] == render.TLSConfDir {
					return true
				}
			}
		}
	}
	return false
}

func nestedMap(o *render.Object, path ...string) map[string]any {
	v, _, _ := unstructured.NestedFieldNoCopy(o.Object, path...)
	m, _ := v.(map[string]any)
	return m
}

func listOfMaps(m map[string]any, path ...string) []map[string]any {
	if m == nil {
		return nil
	}
	v, _, _ := unstructured.NestedFieldNoCopy(m, path...)
	list, _ := v.([]any)
	var out []map[string]any
	for _, x := range list {
		if xm, ok := x.(map[string]any); ok {
			out = append(out, xm)
		}
	}
	return out
}
