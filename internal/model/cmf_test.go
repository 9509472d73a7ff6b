package model

import (
	"strings"
	"testing"
)

// cmfEnv is an environment of target cmf called prod-cmf; spec.cmf starts
// on line 15.
func cmfEnv(cmf string) string {
	return strings.NewReplacer("target: fko", "target: cmf", "name: dev", "name: prod-cmf").Replace(base["environments/dev.yaml"]) + "  cmf:\n" + cmf
}

func TestLoadCMF(t *testing.T) {
	const mtls = "    endpoint: https://cmf.confluent.svc:8080\n    auth:\n      mtls: {secretRef: cmf-client-tls}\n"
	repo, err := loaded(LoadFS(repoFS(map[string]string{"environments/dev.yaml": cmfEnv(mtls + "    caSecretRef: {name: cmf-ca}\n"),
		"apps/a.yaml": strings.Replace(base["apps/a.yaml"], "[dev]", "[prod-cmf]", 1)})))
	if err != nil {
		t.Fatal(err)
	}
	c := repo.Environment("prod-cmf").Spec.CMF
	if c == nil || c.Auth.MTLS.SecretRef != "cmf-client-tls" || c.CASecretRef.Key != DefaultCMFCAKey {
		t.Fatalf("spec.cmf: %+v", c)
	}
	if got := repo.Environment("prod-cmf").CMFInstance(); got != "endpoint https://cmf.confluent.svc:8080" {
		t.Errorf("CMFInstance %q", got)
	}

	app := map[string]string{"apps/a.yaml": strings.Replace(base["apps/a.yaml"], "[dev]", "[prod-cmf]", 1)}
	with := func(env string) map[string]string {
		m := map[string]string{"environments/dev.yaml": env}
		for k, v := range app {
			m[k] = v
		}
		return m
	}
	const f = "environments/dev.yaml"
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []want
	}{
		{"target cmf without cmf", with(strings.Replace(cmfEnv(""), "  cmf:\n", "", 1)), []want{{RuleRequired.ID(), f, 5}}},
		{"cmf on target fko", with(strings.Replace(cmfEnv(mtls), "target: cmf", "target: fko", 1)), []want{{RuleInvalidValue.ID(), f, 15}}},
		{"no auth", with(cmfEnv("    endpoint: https://cmf:8080\n")), []want{{RuleRequired.ID(), f, 16}}},
		{"both auths", with(cmfEnv(mtls + "      oauth: {tokenURL: https://idp/token, clientID: f, clientSecretFile: /s}\n")), []want{{RuleInvalidValue.ID(), f, 17}}},
		{"mtls without key", with(cmfEnv("    endpoint: https://cmf:8080\n    auth:\n      mtls: {certFile: /c.crt}\n")), []want{{RuleRequired.ID(), f, 18}}},
		{"relative file", with(cmfEnv("    endpoint: https://cmf:8080\n    auth:\n      mtls: {certFile: c.crt, keyFile: /k}\n")), []want{{RuleInvalidValue.ID(), f, 18}}},
		{"oauth without secret", with(cmfEnv("    endpoint: https://cmf:8080\n    auth:\n      oauth:\n        tokenURL: https://idp/token\n        clientID: flinksync\n")), []want{{RuleRequired.ID(), f, 18}}},
		{"not a URL", with(cmfEnv(strings.Replace(mtls, "https://cmf.confluent.svc:8080", "cmf:8080", 1))), []want{{RuleInvalidValue.ID(), f, 16}}},
		{"environment name CMF refuses", with(strings.Replace(cmfEnv(mtls), "name: prod-cmf", "name: qa", 1)), []want{{RuleReference.ID(), "apps/a.yaml", 6}, {RuleName.ID(), f, 4}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, findings, err := LoadFS(repoFS(tc.files))
			var got, wantS []string
			for _, f := range findings {
				got = append(got, want{f.Rule, f.File, f.Line}.String())
			}
			for _, w := range tc.want {
				wantS = append(wantS, w.String())
			}
			if strings.Join(got, "\n") != strings.Join(wantS, "\n") {
				t.Errorf("findings:\n got: %v\nwant: %v\n%v", got, wantS, err)
			}
		})
	}
}
