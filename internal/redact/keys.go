package redact

import (
	"strings"
	"unicode"
)

// A key (a Flink configuration key, a map key in an object, an environment
// variable's name, a command-line flag, a JVM system property) looks
// secret when its segments say so. A key is cut into segments at every
// character that is not a letter or a digit and at camelCase boundaries,
// and compared in lower case: "fs.azure.account.key.acct.blob.core.windows.net"
// is fs|azure|account|key|acct|blob|core|windows|net, "keyStorePassword" is
// key|store|password, "AWS_SECRET_ACCESS_KEY" is aws|secret|access|key.
//
// The lists below are the documented masking list (docs/security.md): the
// conventions of Flink (security.ssl.*-password, s3.secret-key,
// metrics.reporter.*.apikey), Hadoop file systems (fs.s3a.secret.key,
// fs.s3a.session.token, fs.azure.account.key.<account>,
// fs.azure.account.oauth2.client.secret, fs.azure.sas.*,
// fs.gs.auth.service.account.private.key), Kafka (sasl.jaas.config,
// ssl.key.password, basic.auth.user.info), the JVM (-D…Password=…), cloud
// SDK environment variables (AWS_SECRET_ACCESS_KEY, AZURE_STORAGE_KEY,
// *_CONNECTION_STRING) and command-line flags (--db-pass, --api-token).

// secretSegments make a key secret wherever they stand.
var secretSegments = map[string]bool{
	"password": true, "passwd": true, "pwd": true, "pass": true, "passphrase": true,
	"secret": true, "token": true, "credential": true, "credentials": true, "creds": true,
	"apikey": true, "jaas": true, "sas": true, "authorization": true, "cookie": true,
}

// secretStems make a key secret when a segment contains them: keys written
// in one lower-case word ("keystorepassword", "dbpasswd", "datadogapikey").
var secretStems = []string{"password", "passwd", "passphrase", "apikey", "secretkey", "accesskey", "privatekey", "accesstoken", "authtoken", "clientsecret"}

// secretLast make a key secret only as its last segment ("auth" holds
// user:password in a Docker config; "fs.gs.auth.type" does not).
var secretLast = map[string]bool{"auth": true}

// secretPhrases make a key secret when its segments hold them in a row.
var secretPhrases = [][]string{
	{"access", "key"},     // fs.s3a.access.key, s3.access-key, AWS_ACCESS_KEY_ID
	{"account", "key"},    // fs.azure.account.key.<account>, service.account.key
	{"private", "key"},    // fs.gs.auth.service.account.private.key
	{"api", "key"},        // x-api-key, apiKey
	{"auth", "key"},       // AUTH_KEY
	{"master", "key"},     // MASTER_KEY
	{"encryption", "key"}, // fs.s3a.encryption.key
	{"signing", "key"},    // SIGNING_KEY
	{"client", "key"},     // a TLS client's private key
	{"keystore", "key"},   // Kafka ssl.keystore.key (a PEM private key)
	{"shared", "key"},     // Azure SharedKey
	{"storage", "key"},    // AZURE_STORAGE_KEY
	{"user", "info"},      // Kafka schema registry basic.auth.user.info
	{"connection", "string"},
}

// referenceLast, as a key's last segment, says that the key names, points at
// or configures a secret rather than holding it: secretName, secretKeyRef,
// password.file, fs.s3a.aws.credentials.provider, basic.auth.credentials.source,
// fs.azure.sas.token.provider.type, security.ssl.rest.authentication-enabled.
var referenceLast = map[string]bool{
	"name": true, "ref": true, "file": true, "path": true, "dir": true, "directory": true, "location": true,
	"provider": true, "providers": true, "class": true, "type": true, "source": true, "mechanism": true,
	"algorithm": true, "enabled": true, "enable": true, "required": true, "length": true, "size": true,
	"ttl": true, "expiry": true, "expiration": true, "timeout": true, "interval": true, "url": true,
	"uri": true, "endpoint": true, "header": true, "format": true, "mode": true, "method": true,
	"policy": true, "factory": true, "manager": true,
}

// Key reports whether a key looks like it holds a secret, by the lists
// above. "taskmanager.numberOfTaskSlots", "kubernetes.secrets" (a list of
// Secrets to mount) and "secretName" do not.
func Key(key string) bool {
	segs := segments(key)
	if len(segs) == 0 || referenceLast[segs[len(segs)-1]] {
		return false
	}
	for i, s := range segs {
		if secretSegments[s] || (i == len(segs)-1 && secretLast[s]) {
			return true
		}
		for _, stem := range secretStems {
			if strings.Contains(s, stem) {
				return true
			}
		}
		for _, p := range secretPhrases {
			if hasPhrase(segs[i:], p) {
				return true
			}
		}
	}
	return false
}

func hasPhrase(segs, phrase []string) bool {
	if len(segs) < len(phrase) {
		return false
	}
	for j, w := range phrase {
		if segs[j] != w {
			return false
		}
	}
	return true
}

// segments cuts a key at non-alphanumerics and camelCase boundaries, in
// lower case: "AWSSecretKey" → aws, secret, key; "oauth2ClientSecret" →
// oauth2, client, secret.
func segments(key string) []string {
	var out []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	rs := []rune(key)
	for i, r := range rs {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			flush()
			continue
		}
		if unicode.IsUpper(r) && len(cur) > 0 {
			prev := cur[len(cur)-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				flush()
			}
		}
		cur = append(cur, r)
	}
	flush()
	return out
}
