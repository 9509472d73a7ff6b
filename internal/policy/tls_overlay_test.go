package policy

import (
	"testing"
)

// TLS-006 is checked on the CMF REST class as it will be applied: an
// overlay that patches flinksync's own class to http:// and basic auth is
// caught, at the overlay, not passed because the environment file says
// https and mtls.
func TestOverlayThatWeakensCMFRestClassIsCaught(t *testing.T) {
	const overlay = "overlays/eu/kustomization.yaml"
	fs := evaluate(t, with(overlay, "", `patches:
- target: {kind: CMFRestClass}
  patch: |-
    - op: replace
      path: /spec/cmfRest/endpoint
      value: http://cmf.confluent.svc:8080
    - op: replace
      path: /spec/cmfRest/authentication
      value: {type: basic}
`), twoTMs, nil)
	var hits int
	for _, f := range fs {
		if f.Rule != "TLS-006" {
			t.Errorf("unexpected %s: %s", f.Rule, f.Message)
			continue
		}
		hits++
		if f.File != overlay || f.Environment != "eu" || f.Object != "CMFRestClass/flink-eu/cmf" {
			t.Errorf("TLS-006 must point at the overlay and name the object: %s %s %s", f.Location(), f.Environment, f.Object)
		}
	}
	if hits != 2 {
		t.Fatalf("want TLS-006 for the http endpoint and for basic auth, got:\n%s", dump(fs))
	}

	// The environment's own http endpoint is still reported at its line.
	fs = evaluate(t, with("environments/eu.yaml", "authentication: mtls", "authentication: basic"), twoTMs, nil)
	if len(fs) != 1 || fs[0].Rule != "TLS-006" || fs[0].File != "environments/eu.yaml" || fs[0].Line != 14 {
		t.Fatalf("want one TLS-006 at environments/eu.yaml:14, got:\n%s", dump(fs))
	}
}
