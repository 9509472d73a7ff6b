package statuspage

import (
	"bytes"
	"crypto/subtle"
	"embed"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strings"
	gosync "sync"
	"time"
)

// DefaultRefresh is how often the page reloads itself: often enough that
// it is never more than a few seconds behind a pass, rare enough that 50
// open tabs cost the daemon nothing to speak of (see the benchmark).
const DefaultRefresh = 10 * time.Second

// Options configure the page.
type Options struct {
	// Refresh is the meta refresh interval: zero takes DefaultRefresh, a
	// negative value turns it off.
	Refresh time.Duration
	// Token, when not empty, is the bearer token every request must carry
	// (Authorization: Bearer <token>); others get 401.
	Token []byte
	// JSON is the address of the status API the page is a view of, linked
	// from every page.
	JSON string
	// Base is the path prefix the page is served under ("" at the root).
	Base string
	// CacheFor is how long a rendered page is served again to the next
	// requests of the same path: zero takes DefaultCacheFor, a negative
	// value renders every request. Requests that arrive while a page
	// renders wait for it rather than render it too, so 50 tabs that
	// reload at once cost one render.
	CacheFor time.Duration
	// Version, when set, says when the data changed: a cached page of
	// another version is rendered anew at once, so a pass's outcome shows
	// at the next request rather than up to CacheFor later.
	Version func() uint64
}

// DefaultCacheFor keeps a rendered page for a second: its relative times
// have a resolution of a second, and the page reloads every 10.
const DefaultCacheFor = time.Second

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets/style.css
var styleCSS string

// Page renders the three pages.
type Page struct {
	opts                        Options
	overview, environment, evts *template.Template
	bufs                        gosync.Pool
	mu                          gosync.Mutex
	cache                       map[string]*cached // by path
}

// cached is one path's last rendering; rendering is held by the request
// that renders it anew.
type cached struct {
	mu        gosync.Mutex
	at        time.Time
	version   uint64
	code      int
	body      []byte
	rendering gosync.Mutex
}

// New parses the templates.
func New(opts Options) (*Page, error) {
	if opts.Refresh == 0 {
		opts.Refresh = DefaultRefresh
	}
	if opts.JSON == "" {
		opts.JSON = opts.Base + "/api/v1/status"
	}
	if opts.CacheFor == 0 {
		opts.CacheFor = DefaultCacheFor
	}
	p := &Page{opts: opts, bufs: gosync.Pool{New: func() any { return new(bytes.Buffer) }}, cache: map[string]*cached{}}
	var err error
	parse := func(page string) *template.Template {
		if err != nil {
			return nil
		}
		var t *template.Template
		t, err = template.New(page).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+page)
		if err != nil {
			err = fmt.Errorf("status page template %s: %w", page, err)
		}
		return t
	}
	p.overview, p.environment, p.evts = parse("overview.html"), parse("environment.html"), parse("events.html")
	if err != nil {
		return nil, err
	}
	return p, nil
}

// data is what the templates see.
type data struct {
	Title   string
	Nav     string
	Refresh int
	CSS     template.CSS
	JSON    string
	Base    string
	Now     time.Time
	View    *View
	Envs    []Environment
	Env     *Environment
}

func (p *Page) data(v *View, title, nav string) *data {
	refresh := 0
	if p.opts.Refresh > 0 {
		refresh = max(1, int(p.opts.Refresh/time.Second))
	}
	now := v.Generated
	if now.IsZero() {
		now = time.Now()
	}
	return &data{Title: title, Nav: nav, Refresh: refresh, CSS: template.CSS(styleCSS), JSON: p.opts.JSON, Base: p.opts.Base, Now: now, View: v}
}

// Overview writes the overview page of v.
func (p *Page) Overview(w io.Writer, v *View) error {
	d := p.data(v, "Environments", "overview")
	d.Envs = sortOverview(v.Environments)
	return p.overview.ExecuteTemplate(w, "layout", d)
}

// Environment writes the page of environment name; ErrNotFound when v
// has no such environment.
func (p *Page) Environment(w io.Writer, v *View, name string) error {
	for i := range v.Environments {
		if v.Environments[i].Name == name {
			d := p.data(v, "Environment "+name, "environment")
			d.Env = &v.Environments[i]
			return p.environment.ExecuteTemplate(w, "layout", d)
		}
	}
	return ErrNotFound
}

// Events writes the events page of v.
func (p *Page) Events(w io.Writer, v *View) error {
	return p.evts.ExecuteTemplate(w, "layout", p.data(v, "Events", "events"))
}

// ErrNotFound is returned for an environment the view does not have.
var ErrNotFound = fmt.Errorf("no such environment")

// Handler serves GET / (the overview), /environments/{name} and /events
// from the view view returns, taken once per request. Nothing it serves
// changes anything.
func (p *Page) Handler(view func() View) http.Handler {
	mux := http.NewServeMux()
	serve := func(render func(io.Writer, *View, *http.Request) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			code, body := p.rendered(r, view, render)
			h := w.Header()
			h.Set("Cache-Control", "no-store")
			h.Set("X-Content-Type-Options", "nosniff")
			if code != http.StatusOK {
				h.Set("Content-Type", "text/plain; charset=utf-8")
				w.WriteHeader(code)
				_, _ = w.Write(body)
				return
			}
			h.Set("Content-Type", "text/html; charset=utf-8")
			// No script, no frame, nothing from elsewhere: the page is its
			// own stylesheet and markup.
			h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
			h.Set("Referrer-Policy", "no-referrer")
			_, _ = w.Write(body)
		}
	}
	mux.Handle("GET /{$}", serve(func(w io.Writer, v *View, _ *http.Request) error { return p.Overview(w, v) }))
	mux.Handle("GET /environments/{name}", serve(func(w io.Writer, v *View, r *http.Request) error {
		return p.Environment(w, v, r.PathValue("name"))
	}))
	mux.Handle("GET /events", serve(func(w io.Writer, v *View, _ *http.Request) error { return p.Events(w, v) }))
	return p.Protect(mux)
}

// rendered is r's page: the cached one when it is recent, else a new
// rendering of view(). While one request renders a path again, the others
// get the page it replaces (stale by a render at most) rather than wait;
// only the first request of a path waits. The bytes returned are never
// changed afterwards.
func (p *Page) rendered(r *http.Request, view func() View, render func(io.Writer, *View, *http.Request) error) (int, []byte) {
	if p.opts.CacheFor <= 0 {
		return p.render(r, view, render)
	}
	p.mu.Lock()
	c := p.cache[r.URL.Path]
	if c == nil {
		if len(p.cache) >= maxCached {
			clear(p.cache) // paths of environments gone, typos: start again
		}
		c = &cached{}
		p.cache[r.URL.Path] = c
	}
	p.mu.Unlock()
	var version uint64
	if p.opts.Version != nil {
		version = p.opts.Version()
	}
	c.mu.Lock()
	code, body, fresh := c.code, c.body, time.Since(c.at) < p.opts.CacheFor && c.version == version
	c.mu.Unlock()
	if body != nil && fresh {
		return code, body
	}
	if body != nil {
		if !c.rendering.TryLock() {
			return code, body // another request renders it anew
		}
	} else {
		c.rendering.Lock()
		c.mu.Lock()
		code, body = c.code, c.body
		c.mu.Unlock()
		if body != nil { // rendered while this request waited
			c.rendering.Unlock()
			return code, body
		}
	}
	defer c.rendering.Unlock()
	code, body = p.render(r, view, render)
	c.mu.Lock()
	c.at, c.version, c.code, c.body = time.Now(), version, code, body
	c.mu.Unlock()
	return code, body
}

// render renders view() with render.
func (p *Page) render(r *http.Request, view func() View, render func(io.Writer, *View, *http.Request) error) (int, []byte) {
	v := view()
	buf := p.bufs.Get().(*bytes.Buffer)
	defer func() { buf.Reset(); p.bufs.Put(buf) }()
	code := http.StatusOK
	if err := render(buf, &v, r); err != nil {
		buf.Reset()
		code = http.StatusInternalServerError
		if err == ErrNotFound {
			code = http.StatusNotFound
			fmt.Fprintf(buf, "no environment %q here\n", r.PathValue("name"))
		} else {
			fmt.Fprintf(buf, "status page: %v\n", err)
		}
	}
	return code, bytes.Clone(buf.Bytes())
}

// maxCached bounds the cache's paths.
const maxCached = 256

// Protect lets through only requests with the bearer token, when one is
// set; the others get 401 and a WWW-Authenticate challenge.
func (p *Page) Protect(h http.Handler) http.Handler {
	if len(p.opts.Token) == 0 {
		return h
	}
	want := p.opts.Token
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="flinksync status page"`)
			http.Error(w, "unauthorized: send Authorization: Bearer <token>\n", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// when pairs a time with the page's clock for the "when" template.
type when struct{ Now, T time.Time }

var funcs = template.FuncMap{
	"ago":         ago,
	"utc":         utc,
	"iso":         iso,
	"cpu":         cpu,
	"memory":      memory,
	"duration":    duration,
	"short":       short,
	"percent":     percent,
	"forge":       ForgeLink,
	"appRows":     appRows,
	"healths":     func() []Health { return Healths },
	"worstFirst":  func() []Health { return worstFirst },
	"lowerHealth": func(h Health) string { return lower(string(h)) },
	"driftSym":    func() string { return DriftedSymbol },
	"when":        func(now, t time.Time) when { return when{now, t} },
	"blocking":    func(fs []Finding) []Finding { return filterFindings(fs, true) },
	"nonblocking": func(fs []Finding) []Finding { return filterFindings(fs, false) },
}

func filterFindings(fs []Finding, blocking bool) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Blocking == blocking {
			out = append(out, f)
		}
	}
	return out
}
