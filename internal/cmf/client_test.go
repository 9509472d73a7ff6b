package cmf_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/flinksync/flinksync/internal/cmf"
	"github.com/flinksync/flinksync/internal/cmf/cmftest"
)

func mtlsClient(t *testing.T, s *cmftest.Server, pair cmftest.Pair) *cmf.Client {
	t.Helper()
	hc, err := cmf.Credentials{CA: s.CA.PEM, ClientCert: pair.Cert, ClientKey: pair.Key}.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	c, err := cmf.New(s.URL, hc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func noViolations(t *testing.T, s *cmftest.Server) {
	t.Helper()
	if v := s.Violations(); len(v) > 0 {
		t.Errorf("the stand-in counted %d violation(s) of the API description:\n%s", len(v), strings.Join(v, "\n"))
	}
}

// TestClientAgainstStandIn writes and reads each kind flinksync syncs,
// over mTLS; every request passes the API description.
func TestClientAgainstStandIn(t *testing.T) {
	s := cmftest.New(t, cmftest.Options{Auth: cmftest.MTLS})
	c := mtlsClient(t, s, s.Client)
	ctx := context.Background()
	env := cmf.Ref{Kind: cmf.KindEnvironment, Name: "prod"}
	if err := c.Create(ctx, env, cmf.Object{"name": "prod", "kubernetesNamespace": "flink-prod",
		"metadata": map[string]any{"name": "prod", "labels": map[string]any{"a": "b"}}}); err != nil {
		t.Fatal(err)
	}
	pool := cmf.Ref{Kind: cmf.KindComputePool, Environment: "prod", Name: "sql"}
	body := cmf.Object{"apiVersion": cmf.APIVersion, "kind": "ComputePool", "metadata": map[string]any{"name": "sql"},
		"spec": map[string]any{"type": "DEDICATED", "clusterSpec": map[string]any{"image": "x"}}}
	if err := c.Create(ctx, pool, body); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx, pool, body); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, pool)
	if err != nil || got["status"].(map[string]any)["phase"] != "RUNNING" {
		t.Fatalf("pool: %v %v", got, err)
	}
	list, err := c.List(ctx, cmf.Ref{Kind: cmf.KindComputePool, Environment: "prod"})
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
	if err := c.Delete(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, pool); !errors.Is(err, cmf.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	noViolations(t, s)
}

// TestStandInRefusesWhatTheDescriptionRefuses: an unknown field, a
// missing required field and a bad environment name are refused and
// counted.
func TestStandInRefusesWhatTheDescriptionRefuses(t *testing.T) {
	s := cmftest.New(t, cmftest.Options{Auth: cmftest.MTLS})
	c := mtlsClient(t, s, s.Client)
	ctx := context.Background()
	if err := c.Create(ctx, cmf.Ref{Kind: cmf.KindEnvironment, Name: "prod"}, cmf.Object{"name": "prod", "kubernetesNamespace": "flink-prod"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ref  cmf.Ref
		body cmf.Object
		want string
	}{
		{"unknown field", cmf.Ref{Kind: cmf.KindEnvironment, Name: "prod"},
			cmf.Object{"name": "prod", "kubernetesNamespace": "flink-prod", "namespace": "x"}, "namespace"},
		{"missing required field", cmf.Ref{Kind: cmf.KindStatement, Environment: "prod", Name: "s"},
			cmf.Object{"apiVersion": cmf.APIVersion, "kind": "Statement", "metadata": map[string]any{"name": "s"}, "spec": map[string]any{"statement": "SELECT 1;"}}, "computePoolName"},
		{"bad environment name", cmf.Ref{Kind: cmf.KindEnvironment, Name: "dev"},
			cmf.Object{"name": "dev", "kubernetesNamespace": "flink-dev"}, "name"},
		{"unknown field in metadata", cmf.Ref{Kind: cmf.KindStatement, Environment: "prod", Name: "s"},
			cmf.Object{"apiVersion": cmf.APIVersion, "kind": "Statement", "metadata": map[string]any{"name": "s", "namespace": "x"},
				"spec": map[string]any{"statement": "SELECT 1;", "computePoolName": "p"}}, "namespace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(s.Violations())
			err := c.Create(ctx, tc.ref, tc.body)
			if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a 400 naming %q", err, tc.want)
			}
			if len(s.Violations()) != before+1 {
				t.Fatalf("the violation was not counted")
			}
		})
	}
}

// TestClientErrors: a 403 names the scope; a client certificate the
// stand-in does not trust and an expired token fail with words that say so.
func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	s := cmftest.New(t, cmftest.Options{Auth: cmftest.MTLS})
	c := mtlsClient(t, s, s.Client)
	if err := c.Create(ctx, cmf.Ref{Kind: cmf.KindEnvironment, Name: "prod"}, cmf.Object{"name": "prod", "kubernetesNamespace": "flink-prod"}); err != nil {
		t.Fatal(err)
	}
	s.Forbid(cmf.ScopeEnvironment, "prod")
	_, err := c.List(ctx, cmf.Ref{Kind: cmf.KindStatement, Environment: "prod"})
	if !cmf.Forbidden(err) || !strings.Contains(err.Error(), "scope of environment prod") {
		t.Fatalf("403: %v", err)
	}
	s.Forbid(cmf.ScopeCluster, "")
	_, err = c.Get(ctx, cmf.Ref{Kind: cmf.KindCatalog, Name: "kafka"})
	if !cmf.Forbidden(err) || !strings.Contains(err.Error(), "CMF cluster scope") {
		t.Fatalf("403: %v", err)
	}

	other := cmftest.NewCA(t, "someone-else")
	_, err = mtlsClient(t, s, other.Issue(t, "flinksync", false)).Get(ctx, cmf.Ref{Kind: cmf.KindEnvironment, Name: "prod"})
	if err == nil || !strings.Contains(err.Error(), "TLS handshake") {
		t.Fatalf("untrusted client certificate: %v", err)
	}

	o := cmftest.New(t, cmftest.Options{Auth: cmftest.OAuth})
	oauth := func(secret string) *cmf.Client {
		hc, err := cmf.Credentials{CA: o.CA.PEM, OAuth: &cmf.OAuth{TokenURL: o.TokenURL, ClientID: o.ClientID, ClientSecret: secret}}.HTTPClient()
		if err != nil {
			t.Fatal(err)
		}
		c, _ := cmf.New(o.URL, hc)
		return c
	}
	if _, err := oauth(o.ClientSecret).List(ctx, cmf.Ref{Kind: cmf.KindEnvironment}); err != nil {
		t.Fatal(err)
	}
	_, err = oauth("wrong").List(ctx, cmf.Ref{Kind: cmf.KindEnvironment})
	if err == nil || !strings.Contains(err.Error(), "token endpoint") || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("wrong client secret: %v", err)
	}
	o.ExpireTokens(true)
	_, err = oauth(o.ClientSecret).List(ctx, cmf.Ref{Kind: cmf.KindEnvironment})
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired token: %v", err)
	}
	noViolations(t, s)
	noViolations(t, o)
}

// TestNoCredentialsInClear: whatever policy waives, the client refuses an
// http:// CMF endpoint and an http:// token endpoint.
func TestNoCredentialsInClear(t *testing.T) {
	if _, err := cmf.New("http://cmf:8080", nil); err == nil {
		t.Error("an http:// CMF endpoint was accepted")
	}
	_, err := cmf.Credentials{OAuth: &cmf.OAuth{TokenURL: "http://idp/token", ClientID: "f", ClientSecret: "s"}}.HTTPClient()
	if err == nil || !strings.Contains(err.Error(), "not https://") {
		t.Errorf("an http:// token endpoint: %v", err)
	}
}
