// Package cmftest is a stand-in for CMF (Confluent Manager for Apache
// Flink) in tests. It is not CMF: it holds resources in memory and
// validates every request and every response against CMF 2.3.1's REST API
// description (read from ../shared, made strict: unknown fields are
// refused as CMF's generated classes refuse them) with kin-openapi. A
// request that fails validation is answered 400 and counted as a
// violation, which the tests assert is zero.
//
// It serves HTTPS with certificates the test makes (CA), and either
// requires a client certificate (mTLS) or bearer tokens from its own OAuth
// token endpoint (client credentials). It can refuse a scope with 403 as
// CMF's RBAC does, and plays CMF's status: applications run, statements
// and pools are RUNNING. It starts an instance of an application for each
// spec it takes, takes savepoints the test completes or fails
// (SetSavepoint), and detaches them; HoldJobs and SetJob play an upgrade
// that takes time, or fails.
package cmftest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/flinksync/flinksync/internal/cmf"
)

// Auth is how the stand-in authenticates its clients.
type Auth int

// The two ways CMF authenticates.
const (
	// MTLS requires a client certificate the test's CA signed.
	MTLS Auth = iota
	// OAuth requires a bearer token from the stand-in's token endpoint.
	OAuth
)

// Options configure a stand-in.
type Options struct {
	Auth Auth
	// TokenTTL is how long the tokens it issues live (default an hour).
	TokenTTL time.Duration
}

// Server is a running stand-in.
type Server struct {
	// URL is the CMF endpoint (https://127.0.0.1:port), TokenURL the OAuth
	// token endpoint.
	URL, TokenURL string
	// CA signed the server's certificate and Client.
	CA *CA
	// Client is a client certificate the stand-in accepts (mTLS).
	Client Pair
	// ClientID and ClientSecret are the OAuth client it knows.
	ClientID, ClientSecret string
	// FilesDir is a folder of the test's for credential files (Files,
	// Repository): what cmf.Sources.FilesDir or FLINKSYNC_CMF_FILES names.
	FilesDir string

	opts   Options
	router routers.Router
	srv    *httptest.Server

	mu         gosync.Mutex
	store      map[string]cmf.Object // by item path under /cmf/api/v1
	violations []string
	forbidden  map[string]bool
	tokens     map[string]time.Time
	expired    bool
	holdJobs   bool
	writes     int
	seq        int
}

// New starts a stand-in, stopped when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	_, router := description(t)
	if opts.TokenTTL == 0 {
		opts.TokenTTL = time.Hour
	}
	s := &Server{
		CA: NewCA(t, "cmf-standin-ca"), ClientID: "flinksync", ClientSecret: randomHex(16),
		FilesDir: t.TempDir(),
		opts:     opts, router: router, store: map[string]cmf.Object{}, forbidden: map[string]bool{}, tokens: map[string]time.Time{},
	}
	s.Client = s.CA.Issue(t, "flinksync", false)
	server := s.CA.Issue(t, "cmf-standin", true)
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth/token", s.token)
	mux.HandleFunc(cmf.BasePath+"/", s.api)
	s.srv = httptest.NewUnstartedServer(mux)
	tc := &tls.Config{Certificates: []tls.Certificate{server.tlsCertificate(t)}, MinVersion: tls.VersionTLS12}
	if opts.Auth == MTLS {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(s.CA.PEM)
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	s.srv.TLS = tc
	// Refused handshakes are what some tests are about; the client's
	// error says what happened.
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.StartTLS()
	t.Cleanup(s.srv.Close)
	s.URL = s.srv.URL
	s.TokenURL = s.srv.URL + "/oauth/token"
	return s
}

// Files writes the CA, the client certificate and key and the OAuth
// client secret into dir and returns their paths.
func (s *Server) Files(t testing.TB, dir string) (ca, cert, key, secret string) {
	t.Helper()
	for _, f := range []struct {
		name string
		data []byte
		to   *string
	}{{"ca.crt", s.CA.PEM, &ca}, {"tls.crt", s.Client.Cert, &cert}, {"tls.key", s.Client.Key, &key}, {"client-secret", []byte(s.ClientSecret), &secret}} {
		*f.to = filepath.Join(dir, f.name)
		if err := os.WriteFile(*f.to, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return ca, cert, key, secret
}

// Violations are the requests and responses that did not pass the API
// description, in words.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.violations...)
}

// Writes is how many requests (other than GET) the API answered with success.
func (s *Server) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// Forbid makes the stand-in answer 403 to every request in a scope: the
// CMF cluster (env "") or one environment's; Allow undoes it.
func (s *Server) Forbid(scope cmf.Scope, env string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forbidden[scopeKey(scope, env)] = true
}

// Allow undoes Forbid.
func (s *Server) Allow(scope cmf.Scope, env string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.forbidden, scopeKey(scope, env))
}

// ExpireTokens makes every token issued so far, and every one issued
// from now on, expired in the stand-in's eyes (a token the client still
// holds as valid: a revoked token, or clocks apart).
func (s *Server) ExpireTokens(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expired = on
}

func scopeKey(scope cmf.Scope, env string) string {
	if scope == cmf.ScopeCluster {
		return "cluster"
	}
	return "environment/" + env
}

// Get is the resource at path (under /cmf/api/v1, e.g.
// /environments/prod/statements/x), a copy, or nil.
func (s *Server) Get(path string) cmf.Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	return deepCopy(s.store[path])
}

// Set writes the resource at path as a user would behind flinksync's
// back (no validation, no count).
func (s *Server) Set(path string, obj cmf.Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.store[path] = deepCopy(obj)
}

// Paths are the stored resources' paths under prefix, sorted.
func (s *Server) Paths(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for p := range s.store {
		if strings.HasPrefix(p, prefix) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// AddSecret stores a CMF secret, as an administrator creates one (with
// the confluent CLI) for flinksync's secret mappings to point at.
func (s *Server) AddSecret(name string) {
	s.Set("/secrets/"+name, cmf.Object{"apiVersion": cmf.APIVersion, "kind": "Secret",
		"metadata": map[string]any{"name": name}, "spec": map[string]any{"data": map[string]any{"password": "not-printed"}}})
}

// token is the OAuth token endpoint: the client-credentials grant with
// client authentication by HTTP Basic or form fields (RFC 6749 2.3.1).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.ParseForm() != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "unsupported_grant_type"})
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != s.ClientID || secret != s.ClientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid_client", "error_description": "unknown client or wrong secret"})
		return
	}
	tok := randomHex(24)
	s.mu.Lock()
	s.tokens[tok] = time.Now().Add(s.opts.TokenTTL)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(s.opts.TokenTTL / time.Second)})
}

// authorized checks the bearer token of an OAuth stand-in.
func (s *Server) authorized(r *http.Request) (string, bool) {
	if s.opts.Auth != OAuth {
		return "", true // the TLS handshake checked the certificate
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return "no bearer token", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	until, known := s.tokens[tok]
	switch {
	case !known:
		return "unknown bearer token", false
	case s.expired || time.Now().After(until):
		return "the bearer token has expired", false
	}
	return "", true
}

// api serves CMF's REST API.
func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	if why, ok := s.authorized(r); !ok {
		writeJSON(w, http.StatusUnauthorized, restError(why))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, restError(err.Error()))
		return
	}
	route, params, err := s.router.FindRoute(r)
	if err != nil {
		s.violation("%s %s: no such operation in the API description: %v", r.Method, r.URL.Path, err)
		writeJSON(w, http.StatusNotFound, restError("no such operation"))
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{MultiError: true}}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		s.violation("%s %s: the request does not pass the API description: %v", r.Method, r.URL.Path, err)
		writeJSON(w, http.StatusBadRequest, restError(err.Error()))
		return
	}
	path := strings.TrimPrefix(r.URL.Path, cmf.BasePath)
	if scope, env := scopeOf(path); s.isForbidden(scope, env) {
		writeJSON(w, http.StatusForbidden, restError(fmt.Sprintf("Forbidden: the principal has no role binding that allows %s %s", r.Method, path)))
		return
	}
	var obj cmf.Object
	if len(body) > 0 {
		if err := json.Unmarshal(body, &obj); err != nil {
			writeJSON(w, http.StatusBadRequest, restError(err.Error()))
			return
		}
	}
	status, out := s.handle(r.Method, route.Path, path, obj)
	data, _ := json.Marshal(out)
	if out == nil {
		data = nil
	}
	h := http.Header{}
	if data != nil {
		h.Set("Content-Type", "application/json")
	}
	rv := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: h,
		Body: io.NopCloser(bytes.NewReader(data)), Options: &openapi3filter.Options{MultiError: true}}
	if err := openapi3filter.ValidateResponse(context.Background(), rv); err != nil {
		s.violation("%s %s: the stand-in's %d answer does not pass the API description: %v", r.Method, r.URL.Path, status, err)
	}
	if status < 300 && r.Method != http.MethodGet {
		s.mu.Lock()
		s.writes++
		s.mu.Unlock()
	}
	for k, v := range h {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

func (s *Server) isForbidden(scope cmf.Scope, env string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.forbidden[scopeKey(scope, env)]
}

// scopeOf is the RBAC scope of a path: an environment's resources, or the
// CMF cluster's (environments themselves, catalogs, secrets).
func scopeOf(path string) (cmf.Scope, string) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) > 2 && parts[0] == "environments" {
		return cmf.ScopeEnvironment, parts[1]
	}
	return cmf.ScopeCluster, ""
}

func (s *Server) violation(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
}

// handle answers one validated request: status and body.
func (s *Server) handle(method, template, path string, body cmf.Object) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kind := kindOf(template)
	collection := !strings.HasSuffix(template, "}")
	// The parent (environment or catalog) must exist.
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) > 2 && parts[0] == "environments" && s.store["/environments/"+parts[1]] == nil {
		return http.StatusNotFound, restError("environment " + parts[1] + " not found")
	}
	if kind == cmf.KindDatabase && s.store["/catalogs/kafka/"+parts[2]] == nil {
		return http.StatusNotFound, restError("catalog " + parts[2] + " not found")
	}
	if len(parts) > 4 && parts[2] == "applications" && s.store["/"+strings.Join(parts[:4], "/")] == nil {
		return http.StatusNotFound, restError("application " + parts[3] + " not found")
	}
	if strings.HasSuffix(template, "/detach") {
		return s.detach(strings.TrimSuffix(path, "/detach"))
	}
	switch {
	case collection && method == http.MethodGet:
		var items []any
		prefix := path + "/"
		for _, p := range sortedKeys(s.store) {
			if rest, ok := strings.CutPrefix(p, prefix); ok && !strings.Contains(rest, "/") {
				items = append(items, s.view(kind, s.store[p]))
			}
		}
		if items == nil {
			items = []any{}
		}
		return http.StatusOK, map[string]any{"items": items, "metadata": map[string]any{"size": len(items)}}
	case collection && method == http.MethodPost:
		name := nameOf(kind, body)
		if name == "" {
			return http.StatusUnprocessableEntity, restError("metadata.name is required")
		}
		item := path + "/" + name
		prev := s.store[item]
		if prev != nil && kind == cmf.KindSavepoint {
			return http.StatusUnprocessableEntity, restError(fmt.Sprintf("%s %s already exists", kind, name))
		}
		if prev != nil && !cmf.UpsertByPost(kind) {
			return http.StatusConflict, restError(fmt.Sprintf("%s %s already exists", kind, name))
		}
		if kind == cmf.KindSecretMapping {
			secret, _ := lookup(body, "spec", "secretName").(string)
			if s.store["/secrets/"+secret] == nil {
				return http.StatusNotFound, restError("secret " + secret + " not found")
			}
		}
		s.store[item] = s.stored(kind, body, prev)
		if kind == cmf.KindApplication && (prev == nil || !reflect.DeepEqual(prev["spec"], body["spec"])) {
			s.instance(item, body)
		}
		code := http.StatusOK
		if kind == cmf.KindApplication || kind == cmf.KindSavepoint {
			code = http.StatusCreated
		}
		return code, s.view(kind, s.store[item])
	case method == http.MethodGet:
		if s.store[path] == nil {
			return http.StatusNotFound, restError(fmt.Sprintf("%s %s not found", kind, parts[len(parts)-1]))
		}
		return http.StatusOK, s.view(kind, s.store[path])
	case method == http.MethodPut:
		prev := s.store[path]
		if prev == nil {
			return http.StatusNotFound, restError(fmt.Sprintf("%s %s not found", kind, parts[len(parts)-1]))
		}
		if name := nameOf(kind, body); name != parts[len(parts)-1] {
			return http.StatusBadRequest, restError(fmt.Sprintf("metadata.name %q is not the name in the path", name))
		}
		if kind == cmf.KindStatement {
			stopped, _ := lookup(prev, "spec", "stopped").(bool)
			if !stopped && !reflect.DeepEqual(lookup(prev, "spec", "statement"), lookup(body, "spec", "statement")) {
				return http.StatusUnprocessableEntity, restError("the SQL of a running statement cannot change")
			}
		}
		s.store[path] = s.stored(kind, body, prev)
		switch kind {
		case cmf.KindStatement, cmf.KindCatalog, cmf.KindDatabase:
			return http.StatusOK, nil // the description declares no body
		}
		return http.StatusOK, s.view(kind, s.store[path])
	case method == http.MethodDelete:
		if s.store[path] == nil {
			return http.StatusNotFound, restError(fmt.Sprintf("%s %s not found", kind, parts[len(parts)-1]))
		}
		for p := range s.store {
			if strings.HasPrefix(p, path+"/") {
				delete(s.store, p)
			}
		}
		delete(s.store, path)
		return http.StatusNoContent, nil
	}
	return http.StatusMethodNotAllowed, restError("method not allowed")
}

// stored is body as the stand-in keeps it: with CMF's metadata and the
// status CMF would report once the resource runs.
func (s *Server) stored(kind cmf.Kind, body, prev cmf.Object) cmf.Object {
	obj := deepCopy(body)
	now := time.Now().UTC().Format(time.RFC3339)
	created := now
	if prev != nil {
		if c, ok := lookup(prev, "metadata", "creationTimestamp").(string); ok {
			created = c
		}
	}
	if kind == cmf.KindEnvironment {
		if obj["name"] == nil {
			obj["name"] = lookup(obj, "metadata", "name")
		}
		obj["created_time"], obj["updated_time"] = created, now
		return obj
	}
	meta, _ := obj["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		obj["metadata"] = meta
	}
	s.seq++
	meta["creationTimestamp"] = created
	if kind != cmf.KindApplication {
		meta["uid"] = fmt.Sprintf("standin-%d", s.seq)
	}
	switch kind {
	case cmf.KindSavepoint:
		// CMF has the operator take it; the test plays the operator
		// (SetSavepoint).
		obj["status"] = map[string]any{"state": "TRIGGER_PENDING", "triggerTimestamp": now}
	case cmf.KindApplication:
		obj["status"] = map[string]any{"jobStatus": map[string]any{"state": "RUNNING"}, "lifecycleState": "STABLE", "jobManagerDeploymentStatus": "READY"}
		if prev != nil && prev["status"] != nil && reflect.DeepEqual(prev["spec"], body["spec"]) {
			obj["status"] = deepCopy(prev)["status"] // metadata only: the job goes on as it was
		}
	case cmf.KindStatement:
		phase := "RUNNING"
		if stopped, _ := lookup(obj, "spec", "stopped").(bool); stopped {
			phase = "STOPPED"
		}
		obj["status"] = map[string]any{"phase": phase}
	case cmf.KindComputePool:
		obj["status"] = map[string]any{"phase": "RUNNING"}
	}
	return obj
}

// instance records a new instance of the application at item, as CMF
// starts one for each spec it deploys: named by a UUID, with the spec and
// the job's state (RUNNING; SetInstanceState plays a failure).
func (s *Server) instance(item string, app cmf.Object) {
	name, job := uuid(), "RUNNING"
	if s.holdJobs {
		job = "CREATED"
		s.store[item]["status"] = map[string]any{"jobStatus": map[string]any{"state": job}, "lifecycleState": "UPGRADING", "jobManagerDeploymentStatus": "DEPLOYING"}
	}
	s.store[item+"/instances/"+name] = cmf.Object{"apiVersion": cmf.APIVersion, "kind": string(cmf.KindInstance),
		"metadata": map[string]any{"name": name, "uid": name, "creationTimestamp": time.Now().UTC().Format(time.RFC3339Nano)},
		"status":   map[string]any{"spec": deepCopy(app)["spec"], "jobStatus": map[string]any{"jobId": randomHex(16), "state": job}}}
}

// HoldJobs makes the jobs of the application instances started from now
// on wait (CREATED, the application UPGRADING) until SetJob plays their
// outcome; off, they run at once.
func (s *Server) HoldJobs(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holdJobs = on
}

// detach moves the savepoint at path out of its application, to
// /detached-savepoints, and answers with it.
func (s *Server) detach(path string) (int, any) {
	sp := s.store[path]
	if sp == nil {
		return http.StatusNotFound, restError("savepoint " + path[strings.LastIndex(path, "/")+1:] + " not found")
	}
	delete(s.store, path)
	s.store["/detached-savepoints/"+path[strings.LastIndex(path, "/")+1:]] = sp
	return http.StatusOK, deepCopy(sp)
}

// SetSavepoint plays the operator on the savepoint at path: its state,
// and its location once COMPLETED or its error once FAILED.
func (s *Server) SetSavepoint(path, state, pathOrError string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.store[path]
	if sp == nil {
		return
	}
	st := map[string]any{"state": state, "resultTimestamp": time.Now().UTC().Format(time.RFC3339)}
	switch state {
	case "COMPLETED":
		st["path"] = pathOrError
	case "FAILED":
		st["error"], st["failures"] = pathOrError, 1
	}
	sp["status"] = st
}

// Instances are the paths of the application's instances (at app, an
// application's path), oldest first.
func (s *Server) Instances(app string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for p := range s.store {
		if strings.HasPrefix(p, app+"/instances/") {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, _ := lookup(s.store[out[i]], "metadata", "creationTimestamp").(string)
		b, _ := lookup(s.store[out[j]], "metadata", "creationTimestamp").(string)
		return a < b
	})
	return out
}

// SetJob plays the operator on the application at app: its newest
// instance's job state and the application's status (FKO's, which CMF
// reports): a state of FAILED makes the job failed with message, else
// the job runs in that state.
func (s *Server) SetJob(app, state, message string) {
	inst := s.Instances(app)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(inst) > 0 {
		s.store[inst[len(inst)-1]]["status"].(map[string]any)["jobStatus"].(map[string]any)["state"] = state
	}
	if obj := s.store[app]; obj != nil {
		st := map[string]any{"jobStatus": map[string]any{"state": state}, "lifecycleState": "STABLE", "jobManagerDeploymentStatus": "READY"}
		if state == "FAILED" {
			st["lifecycleState"], st["error"] = "FAILED", message
		}
		obj["status"] = st
	}
}

func uuid() string {
	h := randomHex(16)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// view is a stored resource as CMF answers with it: without what the
// description marks write-only (a secret's data, a mapping's spec).
func (s *Server) view(kind cmf.Kind, obj cmf.Object) cmf.Object {
	out := deepCopy(obj)
	if kind == cmf.KindSecret || kind == cmf.KindSecretMapping {
		delete(out, "spec")
	}
	return out
}

// kindOf is the kind a route serves.
func kindOf(template string) cmf.Kind {
	t := strings.TrimPrefix(template, cmf.BasePath)
	switch {
	case strings.Contains(t, "/savepoints") || strings.HasPrefix(t, "/detached-savepoints"):
		return cmf.KindSavepoint
	case strings.Contains(t, "/instances"):
		return cmf.KindInstance
	case strings.Contains(t, "/databases"):
		return cmf.KindDatabase
	case strings.HasPrefix(t, "/catalogs/kafka"):
		return cmf.KindCatalog
	case strings.HasPrefix(t, "/secrets"):
		return cmf.KindSecret
	case strings.Contains(t, "/applications"):
		return cmf.KindApplication
	case strings.Contains(t, "/compute-pools"):
		return cmf.KindComputePool
	case strings.Contains(t, "/statements"):
		return cmf.KindStatement
	case strings.Contains(t, "/secret-mappings"):
		return cmf.KindSecretMapping
	}
	return cmf.KindEnvironment
}

func nameOf(kind cmf.Kind, body cmf.Object) string {
	if n, _ := lookup(body, "metadata", "name").(string); n != "" {
		return n
	}
	if kind == cmf.KindEnvironment {
		n, _ := body["name"].(string)
		return n
	}
	return ""
}

func lookup(obj map[string]any, path ...string) any {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

func restError(msg string) map[string]any {
	return map[string]any{"errors": []any{map[string]any{"message": msg}}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func deepCopy(obj cmf.Object) cmf.Object {
	if obj == nil {
		return nil
	}
	b, _ := json.Marshal(obj)
	var out cmf.Object
	_ = json.Unmarshal(b, &out)
	return out
}

func sortedKeys(m map[string]cmf.Object) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
