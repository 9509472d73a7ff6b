package redact

import (
	"slices"
	"testing"
)

func TestKey(t *testing.T) {
	secret := []string{
		// Flink
		"security.ssl.keystore-password", "security.ssl.internal.key-password", "security.ssl.rest.truststore-password",
		"s3.secret-key", "s3.access-key", "metrics.reporter.datadog.apikey", "metrics.reporter.datadog.apiKey",
		"metrics.reporter.promgateway.password",
		// Hadoop file systems
		"fs.s3a.secret.key", "fs.s3a.access.key", "fs.s3a.session.token", "fs.s3a.encryption.key",
		"fs.azure.account.key.acct.blob.core.windows.net", "fs.azure.account.key.acct.dfs.core.windows.net",
		"fs.azure.account.oauth2.client.secret", "fs.azure.sas.container.acct.blob.core.windows.net",
		"fs.gs.auth.service.account.private.key", "fs.oss.accessKeySecret",
		// Kafka
		"sasl.jaas.config", "properties.sasl.jaas.config", "ssl.key.password", "ssl.keystore.key",
		"basic.auth.user.info", "schema.registry.basic.auth.user.info", "gs.auth.client.secret",
		// JVM and SDK conventions
		"javax.net.ssl.keyStorePassword", "javax.net.ssl.trustStorePassword",
		"AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN", "AZURE_STORAGE_KEY",
		"AZURE_STORAGE_CONNECTION_STRING", "AZURE_CLIENT_SECRET", "GITHUB_TOKEN", "DB_PASSWORD", "db-pass",
		"api-token", "PGPASSWORD", "keystorepassword", "clientSecret", "x-api-key", "Authorization", "auth",
		"credentials", "passphrase",
	}
	plain := []string{
		"taskmanager.numberOfTaskSlots", "kubernetes.secrets", "kubernetes.env.secretKeyRef", "secretName",
		"secretKeyRef", "passwordSecretRef", "tls.secretName", "password.file", "token.url",
		"fs.s3a.aws.credentials.provider", "basic.auth.credentials.source", "fs.azure.sas.token.provider.type",
		"security.ssl.rest.authentication-enabled", "security.ssl.keystore", "security.ssl.truststore",
		"security.kerberos.login.keytab", "fs.gs.auth.type", "fs.gs.auth.service.account.enable",
		"key", "value", "name", "state.checkpoints.dir", "jobmanager.rpc.address", "passive",
		"compass", "bypass", "keyFile", "security.delegation.tokens.enabled", "sasl.mechanism",
		"imagePullSecrets", "key.serializer", "DATABASE_URL", "",
	}
	for _, k := range secret {
		if !Key(k) {
			t.Errorf("Key(%q) = false, want true", k)
		}
	}
	for _, k := range plain {
		if Key(k) {
			t.Errorf("Key(%q) = true, want false (a near miss must stay readable)", k)
		}
	}
}

func TestSegments(t *testing.T) {
	for in, want := range map[string][]string{
		"fs.azure.account.key.acct": {"fs", "azure", "account", "key", "acct"},
		"keyStorePassword":          {"key", "store", "password"},
		"AWSSecretKey":              {"aws", "secret", "key"},
		"oauth2ClientSecret":        {"oauth2", "client", "secret"},
		"AWS_SECRET_ACCESS_KEY":     {"aws", "secret", "access", "key"},
		"--db-pass":                 {"db", "pass"},
	} {
		if got := segments(in); !slices.Equal(got, want) {
			t.Errorf("segments(%q) = %q, want %q", in, got, want)
		}
	}
}
