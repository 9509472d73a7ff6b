package render

import "strings"

// CFKTestRepos are the repositories of this package's internal tests that
// have a target: cfk environment, by name, for the external test that checks
// what they render against the real CFK CRDs.
func CFKTestRepos() map[string]map[string]string {
	tls := baseFiles()
	tls["envs/eu.yaml"] = strings.Replace(envCFK, "  cfk:\n", "  tls: {required: true, secretName: eu-tls}\n  cfk:\n", 1)
	rest := baseFiles()
	rest["envs/eu.yaml"] = strings.Replace(envCFK, "{name: default, namespace: confluent}", "{name: default}", 1) +
		"    cmfRest: {endpoint: \"https://cmf.confluent.svc:8080\", authentication: mtls, tlsSecretRef: cmf-tls}\n"
	sqlTLS := cfkSQLFiles()
	sqlTLS["envs/eu.yaml"] = tls["envs/eu.yaml"]
	return map[string]map[string]string{"base": baseFiles(), "tls": tls, "cmfRest": rest, "sql": cfkSQLFiles(), "sqlTLS": sqlTLS}
}
