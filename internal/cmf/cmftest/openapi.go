package cmftest

import (
	"fmt"
	"os"
	"path/filepath"
	gosync "sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/flinksync/flinksync/internal/testenv"
)

// Description is CMF 2.3.1's REST API description, relative to the
// repository root: reference data beside the checkout (CI has it there),
// never copied into the project.
const Description = "../shared/reference/cmf/openapi-2.3.1.yaml"

var (
	loadOnce   gosync.Once
	loadedDoc  *openapi3.T
	loadRouter routers.Router
	loadErr    error
)

// description loads the API description once per test binary, made
// strict (strict), with its router. A missing description fails the test
// when testenv.Required (CI, or FLINKSYNC_REQUIRE_CONTROLPLANE=1) and
// skips it otherwise.
func description(t testing.TB) (*openapi3.T, routers.Router) {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, filepath.FromSlash(Description))
	if _, err := os.Stat(file); err != nil {
		if testenv.Required() {
			t.Fatalf("CMF's API description must be at %s (%s=1 or CI is set; CI has it beside the checkout): %v", file, testenv.RequireEnv, err)
		}
		t.Skipf("CMF's API description is not at %s (CI has it beside the checkout)", file)
	}
	loadOnce.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromFile(file)
		if err != nil {
			loadErr = fmt.Errorf("%s: %w", file, err)
			return
		}
		// The stand-in serves on a port of its own: routes match by path.
		doc.Servers = nil
		strict(doc)
		r, err := legacy.NewRouter(doc, openapi3.DisableExamplesValidation())
		if err != nil {
			loadErr = fmt.Errorf("%s: %w", file, err)
			return
		}
		loadedDoc, loadRouter = doc, r
	})
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return loadedDoc, loadRouter
}

// strict makes the description refuse what CMF refuses and the
// description leaves open: a field no schema of an object declares. CMF
// reads its bodies into Java classes generated from these schemas
// (Jackson, failing on unknown properties), while the description itself
// allows any additional property. Each allOf is merged into one schema
// first, so that the fields of all its parts are known together; objects
// without declared properties (free-form YAML or JSON such as an
// application's spec) stay open.
func strict(doc *openapi3.T) {
	seen := map[*openapi3.Schema]bool{}
	for _, ref := range doc.Components.Schemas {
		strictSchema(ref.Value, seen)
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if rb := op.RequestBody; rb != nil && rb.Value != nil {
				for _, mt := range rb.Value.Content {
					if mt.Schema != nil {
						strictSchema(mt.Schema.Value, seen)
					}
				}
			}
			for _, resp := range op.Responses.Map() {
				if resp.Value == nil {
					continue
				}
				for _, mt := range resp.Value.Content {
					if mt.Schema != nil {
						strictSchema(mt.Schema.Value, seen)
					}
				}
			}
		}
	}
}

func strictSchema(s *openapi3.Schema, seen map[*openapi3.Schema]bool) {
	if s == nil || seen[s] {
		return
	}
	seen[s] = true
	for _, part := range s.AllOf {
		strictSchema(part.Value, seen)
	}
	if len(s.AllOf) > 0 {
		props := openapi3.Schemas{}
		for k, v := range s.Properties {
			props[k] = v
		}
		required := append([]string(nil), s.Required...)
		for _, part := range s.AllOf {
			p := part.Value
			if p == nil {
				continue
			}
			for k, v := range p.Properties {
				if _, ok := props[k]; !ok {
					props[k] = v
				}
			}
			required = append(required, p.Required...)
			if s.Type == nil && p.Type != nil {
				s.Type = p.Type
			}
		}
		s.Properties, s.Required, s.AllOf = props, dedupe(required), nil
	}
	for _, p := range s.Properties {
		strictSchema(p.Value, seen)
	}
	if s.Items != nil {
		strictSchema(s.Items.Value, seen)
	}
	if s.AdditionalProperties.Schema != nil {
		strictSchema(s.AdditionalProperties.Schema.Value, seen)
	}
	for _, list := range []openapi3.SchemaRefs{s.OneOf, s.AnyOf} {
		for _, r := range list {
			strictSchema(r.Value, seen)
		}
	}
	if len(s.Properties) > 0 && s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil {
		no := false
		s.AdditionalProperties.Has = &no
	}
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
