// Package cmf is a small client of Confluent Manager for Apache Flink's
// REST API (CMF 2.3.1, base path /cmf/api/v1), written for flinksync from
// the API description: the environments, applications, compute pools,
// statements, Kafka catalogs and databases, secrets and secret mappings a
// target: cmf environment syncs. It authenticates with a client
// certificate or OAuth client credentials (auth.go), and its errors name
// the resource and, on 403, the RBAC scope whose role binding is missing.
//
// The package knows nothing of the pipeline; internal/cmf/cmfsync syncs an
// environment with it.
package cmf

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// APIVersion is the apiVersion of CMF's resources.
const APIVersion = "cmf.confluent.io/v1"

// BasePath is where CMF serves its API.
const BasePath = "/cmf/api/v1"

// Kind is a kind of CMF resource.
type Kind string

// The kinds flinksync reads and writes. Their names are the kind field
// CMF writes into each resource.
const (
	KindEnvironment   Kind = "Environment"
	KindApplication   Kind = "FlinkApplication"
	KindComputePool   Kind = "ComputePool"
	KindStatement     Kind = "Statement"
	KindCatalog       Kind = "KafkaCatalog"
	KindDatabase      Kind = "KafkaDatabase"
	KindSecret        Kind = "Secret"
	KindSecretMapping Kind = "EnvironmentSecretMapping"
	// KindSavepoint is a savepoint of an application (Ref.Application),
	// KindInstance one of its instances: CMF starts a new instance of an
	// application for each spec it deploys.
	KindSavepoint Kind = "Savepoint"
	KindInstance  Kind = "FlinkApplicationInstance"
)

// Scope is the RBAC scope a CMF resource belongs to: CMF authorizes
// through Confluent RBAC (MDS), and a role binding grants permissions in
// one scope only; scopes do not nest.
type Scope string

// The two scopes.
const (
	// ScopeCluster is the CMF cluster: environments, catalogs and their
	// databases, and secrets.
	ScopeCluster Scope = "CMF cluster"
	// ScopeEnvironment is one environment: its applications, statements,
	// compute pools and secret mappings.
	ScopeEnvironment Scope = "environment"
)

// Ref names one CMF resource.
type Ref struct {
	Kind Kind
	// Environment is the environment of an environment-scoped resource.
	Environment string
	// Catalog is the catalog of a database.
	Catalog string
	// Application is the application of a savepoint or an instance.
	Application string
	Name        string
}

// Scope is the RBAC scope of the resource.
func (r Ref) Scope() Scope {
	switch r.Kind {
	case KindEnvironment, KindCatalog, KindDatabase, KindSecret:
		return ScopeCluster
	}
	return ScopeEnvironment
}

// String names the resource for messages: "Statement views-1a2b3c4d in
// environment prod".
func (r Ref) String() string {
	s := string(r.Kind) + " " + r.Name
	switch {
	case r.Kind == KindDatabase:
		s += " of catalog " + r.Catalog
	case r.Application != "":
		s += " of application " + r.Application + " in environment " + r.Environment
	case r.Scope() == ScopeEnvironment:
		s += " in environment " + r.Environment
	}
	return s
}

// collection is the path of the resource's kind, where it is listed and
// created.
func (r Ref) collection() string {
	env := "/environments/" + url.PathEscape(r.Environment)
	switch r.Kind {
	case KindEnvironment:
		return "/environments"
	case KindApplication:
		return env + "/applications"
	case KindComputePool:
		return env + "/compute-pools"
	case KindStatement:
		return env + "/statements"
	case KindSecretMapping:
		return env + "/secret-mappings"
	case KindCatalog:
		return "/catalogs/kafka"
	case KindDatabase:
		return "/catalogs/kafka/" + url.PathEscape(r.Catalog) + "/databases"
	case KindSecret:
		return "/secrets"
	case KindSavepoint:
		return env + "/applications/" + url.PathEscape(r.Application) + "/savepoints"
	case KindInstance:
		return env + "/applications/" + url.PathEscape(r.Application) + "/instances"
	}
	return "/unknown-kind/" + string(r.Kind)
}

// item is the path of the resource itself.
func (r Ref) item() string { return r.collection() + "/" + url.PathEscape(r.Name) }

// UpsertByPost reports whether CMF creates and updates resources of kind
// with one POST to the collection (environments and applications); the
// others are created with POST and updated with PUT.
func UpsertByPost(k Kind) bool { return k == KindEnvironment || k == KindApplication }

// Client talks to one CMF.
type Client struct {
	base string
	http *http.Client
}

// New is a client of the CMF at endpoint (https://host:port, with or
// without the base path) that sends its requests through hc, which
// carries the authentication (Credentials.HTTPClient).
func New(endpoint string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(endpoint, "/"))
	if err != nil || u.Host == "" || u.Scheme != "https" {
		// Whatever policy waives (TLS-006): credentials never travel in clear.
		return nil, fmt.Errorf("CMF endpoint %q is not an https:// URL", endpoint)
	}
	base := u.String()
	if !strings.HasSuffix(base, BasePath) {
		base += BasePath
	}
	return &Client{base: base, http: hc}, nil
}

// Endpoint is the base URL of the API.
func (c *Client) Endpoint() string { return c.base }

// Object is a CMF resource as JSON decodes it.
type Object = map[string]any

// ErrNotFound is wrapped by the errors of requests for missing resources.
var ErrNotFound = errors.New("not found")

// Error is a request CMF refused or could not answer.
type Error struct {
	// Op is what was asked: get, list, create, update or delete.
	Op       string
	Ref      Ref
	Status   int
	Messages []string
	endpoint string
}

func (e *Error) Error() string {
	what := e.Ref.String()
	if e.Op == "list" {
		what = string(e.Ref.Kind) + "s"
		if e.Ref.Scope() == ScopeEnvironment {
			what += " of environment " + e.Ref.Environment
		}
	}
	msg := fmt.Sprintf("CMF %s %s: %d %s", e.Op, what, e.Status, http.StatusText(e.Status))
	if len(e.Messages) > 0 {
		msg += ": " + strings.Join(e.Messages, "; ")
	}
	switch e.Status {
	case http.StatusForbidden:
		msg += "; " + e.missingPermission()
	case http.StatusUnauthorized:
		msg += "; CMF at " + e.endpoint + " did not accept flinksync's credentials (an expired or invalid OAuth token, or a principal it does not know)"
	}
	return msg
}

// missingPermission says which role binding the principal lacks.
func (e *Error) missingPermission() string {
	if e.Ref.Scope() == ScopeCluster {
		return fmt.Sprintf("flinksync's principal lacks a permission in the CMF cluster scope (role binding with --cmf <CMF-id>) to %s %ss; see docs/cmf.md", e.Op, e.Ref.Kind)
	}
	return fmt.Sprintf("flinksync's principal lacks a permission in the scope of environment %s (role binding with --cmf <CMF-id> --flink-environment %s) to %s %ss; see docs/cmf.md",
		e.Ref.Environment, e.Ref.Environment, e.Op, e.Ref.Kind)
}

// Unwrap makes errors.Is(err, ErrNotFound) true for a 404.
func (e *Error) Unwrap() error {
	if e.Status == http.StatusNotFound {
		return ErrNotFound
	}
	return nil
}

// Forbidden reports whether err is CMF's 403.
func Forbidden(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusForbidden
}

// Get reads one resource.
func (c *Client) Get(ctx context.Context, r Ref) (Object, error) {
	var out Object
	if err := c.do(ctx, "get", r, http.MethodGet, r.item(), nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// pageSize is how many resources a list asks for at a time.
const pageSize = 100

// List reads every resource of r's kind (in r's environment, or r's
// catalog), page by page.
func (c *Client) List(ctx context.Context, r Ref) ([]Object, error) {
	var all []Object
	for page := 0; ; page++ {
		q := url.Values{"page": {strconv.Itoa(page)}, "size": {strconv.Itoa(pageSize)}}
		var out struct {
			Items []Object `json:"items"`
		}
		if err := c.do(ctx, "list", r, http.MethodGet, r.collection()+"?"+q.Encode(), nil, &out); err != nil {
			return nil, err
		}
		all = append(all, out.Items...)
		if len(out.Items) < pageSize {
			return all, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// Create creates a resource (for environments and applications: creates
// or updates it).
func (c *Client) Create(ctx context.Context, r Ref, body Object) error {
	return c.do(ctx, "create", r, http.MethodPost, r.collection(), body, nil)
}

// Update replaces a resource's spec: POST for the kinds CMF upserts that
// way, else PUT.
func (c *Client) Update(ctx context.Context, r Ref, body Object) error {
	if UpsertByPost(r.Kind) {
		return c.do(ctx, "update", r, http.MethodPost, r.collection(), body, nil)
	}
	return c.do(ctx, "update", r, http.MethodPut, r.item(), body, nil)
}

// Delete deletes a resource; a missing one is not an error.
func (c *Client) Delete(ctx context.Context, r Ref) error {
	err := c.do(ctx, "delete", r, http.MethodDelete, r.item(), nil, nil)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// Detach detaches a savepoint from its application: CMF keeps it as a
// detached savepoint (/detached-savepoints) when the application goes, and
// returns it.
func (c *Client) Detach(ctx context.Context, r Ref) (Object, error) {
	var out Object
	if err := c.do(ctx, "detach", r, http.MethodPost, r.item()+"/detach", nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// maxBody bounds what is read of a response: CMF's pages of 100
// resources stay far below it.
const maxBody = 32 << 20

func (c *Client) do(ctx context.Context, op string, r Ref, method, path string, body Object, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("CMF %s %s: %w", op, r, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("CMF %s %s: %w", op, r, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("CMF %s %s: %w", op, r, c.transportError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("CMF %s %s: reading the answer: %w", op, r, err)
	}
	if resp.StatusCode >= 300 {
		e := &Error{Op: op, Ref: r, Status: resp.StatusCode, endpoint: c.base}
		var rest struct {
			Errors []struct {
				Message string `json:"message"`
			} `json:"errors"`
		}
		if json.Unmarshal(data, &rest) == nil {
			for _, m := range rest.Errors {
				e.Messages = append(e.Messages, m.Message)
			}
		}
		return e
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("CMF %s %s: the answer is not JSON: %w", op, r, err)
		}
	}
	return nil
}

// transportError says in words what a failed connection most likely means.
func (c *Client) transportError(err error) error {
	var cert *tls.CertificateVerificationError
	var op *net.OpError
	switch {
	case errors.As(err, &cert):
		return fmt.Errorf("CMF at %s presented a certificate flinksync does not trust (set spec.cmf.caFile or caSecretRef to its CA): %w", c.base, err)
	case strings.Contains(err.Error(), "tls: ") || strings.Contains(err.Error(), "certificate"):
		return fmt.Errorf("the TLS handshake with CMF at %s failed (does CMF trust flinksync's client certificate?): %w", c.base, err)
	case errors.As(err, &op):
		return fmt.Errorf("cannot reach CMF at %s: %w", c.base, err)
	}
	return err
}
