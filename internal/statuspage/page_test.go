package statuspage

import (
	"bytes"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/html"
)

func newPage(t testing.TB, o Options) *Page {
	t.Helper()
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func get(t testing.TB, h http.Handler, path string, header ...string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func TestPagesShowTheView(t *testing.T) {
	v := sampleView(60)
	h := newPage(t, Options{}).Handler(func() View { return v })
	code, overview := get(t, h, "/")
	if code != http.StatusOK {
		t.Fatalf("overview: %d\n%s", code, overview)
	}
	for _, want := range []string{
		`<meta http-equiv="refresh" content="10">`,
		`href="/environments/prod-eu"`, `href="/api/v1/status"`,
		`title="2026-11-30 13:59:00 UTC">1 min ago</time>`, // relative and absolute
		"♥</span> 53 healthy", "✖</span> 2 degraded", "↻</span> 3 progressing", "‖</span> 2 suspended", "≠</span> 1 drifted",
		"40.5 / 256 CPU (15.8%)", `aria-label="CPU 15.8% used: 40.5 of 256 CPU"`,
		"blocked: policy: 1 error(s)", "fedcba9", "behind head",
	} {
		if !strings.Contains(overview, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	// Problems first: prod (blocked), then staging (drift on a Service and
	// apps), then dev and prod-eu (drifted apps too, by name).
	if i, j := strings.Index(overview, `href="/environments/prod"`), strings.Index(overview, `href="/environments/dev"`); i < 0 || j < 0 || i > j {
		t.Errorf("the blocked environment must come first (prod at %d, dev at %d)", i, j)
	}

	code, prod := get(t, h, "/environments/prod")
	if code != http.StatusOK {
		t.Fatalf("environment: %d\n%s", code, prod)
	}
	for _, want := range []string{
		"Blocked: nothing is applied or pruned here", "<code>TLS-001</code>", "<code>environments/prod.yaml:12</code>",
		"TLS is required: &lt;tls.secretName&gt; is empty", // escaped
		"<code>CPU-002</code>", "Other findings",
		"app-0007", "✖</span> Degraded", "java.lang.OutOfMemoryError",
		"<code>spec.taskManager.replicas</code>: <code>3</code> → <code>7</code>",
		"3 × 2", ">6<", ">1 min<", "state lost:", "200Gi of state lost",
		`href="https://github.com/acme/flink-gitops/blob/fedcba9876543210fedcba9876543210fedcba98/apps/app-0007.yaml#L4"`,
		"‖</span> Suspended", "(SQL)", "Compute pools",
	} {
		if !strings.Contains(prod, want) {
			t.Errorf("prod's page lacks %q", want)
		}
	}
	if i, j := strings.Index(prod, "app-0007"), strings.Index(prod, "app-0000"); i > j {
		t.Errorf("a degraded app must come before healthy ones")
	}
	if _, staging := get(t, h, "/environments/staging"); !strings.Contains(staging, "Service/flink-staging/rest") || !strings.Contains(staging, "NodePort") {
		t.Errorf("staging's page lacks the drifted Service")
	}
	if code, _ := get(t, h, "/environments/nowhere"); code != http.StatusNotFound {
		t.Errorf("an unknown environment: %d, want 404", code)
	}
	code, events := get(t, h, "/events")
	if code != http.StatusOK || strings.Count(events, "0 created, 9 unchanged") != 200 {
		t.Errorf("events: %d, %d rows", code, strings.Count(events, "0 created, 9 unchanged"))
	}
	if code, _ := get(t, h, "/nothing"); code != http.StatusNotFound {
		t.Errorf("/nothing: %d", code)
	}
}

func TestRefreshOffAndBase(t *testing.T) {
	v := sampleView(1)
	h := newPage(t, Options{Refresh: -1, Base: "/flinksync"}).Handler(func() View { return v })
	_, body := get(t, h, "/")
	if strings.Contains(body, "http-equiv") {
		t.Errorf("a negative Refresh turns the meta refresh off")
	}
	if !strings.Contains(body, `href="/flinksync/environments/dev"`) || !strings.Contains(body, `href="/flinksync/api/v1/status"`) {
		t.Errorf("links must carry the base path")
	}
}

// The page changes nothing and loads nothing: no form, button, input or
// script, no stylesheet, image or frame from anywhere, and a policy that
// says so to the browser.
func TestReadOnlyAndSelfContained(t *testing.T) {
	v := sampleView(30)
	h := newPage(t, Options{}).Handler(func() View { return v })
	for _, path := range []string{"/", "/environments/prod", "/environments/staging", "/events"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
		doc := parse(t, rec.Body.String())
		walk(doc, func(n *html.Node) {
			if n.Data == "link" && attr(n, "rel") == "icon" && attr(n, "href") == "data:," {
				return // no favicon: the browser asks for none
			}
			switch n.Data {
			case "form", "button", "input", "select", "textarea", "script", "iframe", "img", "link", "object", "embed":
				t.Errorf("%s: <%s> on a read-only, self-contained page", path, n.Data)
			}
			if src := attr(n, "src"); src != "" {
				t.Errorf("%s: <%s src=%q>", path, n.Data, src)
			}
		})
	}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		req := httptest.NewRequest(method, "/", nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s /: %d, want 405", method, rec.Code)
		}
	}
}

// Accessibility basics, on the markup: every table has header cells,
// every bar an accessible name with its value, every health and drift mark
// a word beside its symbol (the symbol hidden from screen readers), and
// the document a language and a title.
func TestAccessibilityBasics(t *testing.T) {
	v := sampleView(30)
	h := newPage(t, Options{}).Handler(func() View { return v })
	words := map[string]bool{}
	for _, hs := range Healths {
		words[string(hs)] = true
	}
	for _, path := range []string{"/", "/environments/prod", "/environments/staging", "/events"} {
		_, body := get(t, h, path)
		doc := parse(t, body)
		walk(doc, func(n *html.Node) {
			switch {
			case n.Data == "html" && attr(n, "lang") == "":
				t.Errorf("%s: <html> without lang", path)
			case n.Data == "table":
				if count(n, func(c *html.Node) bool { return c.Data == "th" && attr(c, "scope") == "col" }) == 0 {
					t.Errorf("%s: a table without column headers", path)
				}
			case attr(n, "role") == "img" || attr(n, "class") == "bar" || strings.HasPrefix(attr(n, "class"), "bar "):
				if !regexp.MustCompile(`^CPU [0-9.]+% used: [0-9.]+ of [0-9.]+ CPU$`).MatchString(attr(n, "aria-label")) || attr(n, "role") != "img" {
					t.Errorf("%s: a bar without a text alternative: %q", path, attr(n, "aria-label"))
				}
			case strings.HasPrefix(attr(n, "class"), "health "):
				text := strings.TrimSpace(textOf(n, true))
				if !words[text] {
					t.Errorf("%s: a health mark reads %q, not a health word", path, text)
				}
			case attr(n, "class") == "sym" && attr(n, "aria-hidden") != "true":
				t.Errorf("%s: a symbol not hidden from screen readers", path)
			}
		})
		if count(doc, func(n *html.Node) bool { return n.Data == "title" }) != 1 {
			t.Errorf("%s: no <title>", path)
		}
	}
}

// TestHealthColourContrast reads the colours from the stylesheet: each
// health colour (and drift's) against the page's backgrounds is at least
// 4.5:1 (WCAG 2.1 AA for text), the bar's fills against its track 3:1
// (non-text contrast).
func TestHealthColourContrast(t *testing.T) {
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`--([a-z-]+):\s*(#[0-9a-fA-F]{6})\s*;`).FindAllStringSubmatch(styleCSS, -1) {
		vars[m[1]] = m[2]
	}
	text := []string{"drifted", "fg", "muted", "link"}
	for _, h := range Healths {
		name := strings.TrimPrefix(h.Class(), "h-")
		text = append(text, "health-"+name)
		if !strings.Contains(styleCSS, "."+h.Class()+" { color: var(--health-"+name+"); }") {
			t.Errorf("style.css does not colour .%s with --health-%s", h.Class(), name)
		}
	}
	for _, fg := range text {
		for _, bg := range []string{"bg", "bg-alt"} {
			if vars[fg] == "" || vars[bg] == "" {
				t.Fatalf("style.css lacks --%s or --%s", fg, bg)
			}
			if c := contrast(vars[fg], vars[bg]); c < 4.5 {
				t.Errorf("--%s %s on --%s %s: contrast %.2f:1, want at least 4.5:1", fg, vars[fg], bg, vars[bg], c)
			}
		}
	}
	for _, fill := range []string{"bar-fill", "bar-high", "bar-over"} {
		if c := contrast(vars[fill], vars["bar-track"]); c < 3 {
			t.Errorf("--%s on --bar-track: contrast %.2f:1, want at least 3:1", fill, c)
		}
	}
	// The computation itself, on WCAG's own extremes.
	if c := contrast("#000000", "#ffffff"); math.Abs(c-21) > 0.01 {
		t.Errorf("black on white: %.2f, want 21", c)
	}
	if c := contrast("#767676", "#ffffff"); c < 4.5 || c > 4.6 {
		t.Errorf("#767676 on white: %.2f, want 4.54", c)
	}
}

// contrast is WCAG 2.1's contrast ratio of two sRGB colours "#rrggbb".
func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05)
}

func luminance(hex string) float64 {
	var c [3]float64
	for i := range c {
		n, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		v := float64(n) / 255
		if v <= 0.03928 {
			c[i] = v / 12.92
		} else {
			c[i] = math.Pow((v+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*c[0] + 0.7152*c[1] + 0.0722*c[2]
}

func TestBearerToken(t *testing.T) {
	v := sampleView(1)
	h := newPage(t, Options{Token: []byte("s3cret-token")}).Handler(func() View { return v })
	for _, tc := range []struct {
		header []string
		want   int
	}{
		{nil, http.StatusUnauthorized},
		{[]string{"Authorization", "Bearer wrong"}, http.StatusUnauthorized},
		{[]string{"Authorization", "Basic czNjcmV0LXRva2Vu"}, http.StatusUnauthorized},
		{[]string{"Authorization", "Bearer s3cret-token"}, http.StatusOK},
	} {
		for _, path := range []string{"/", "/environments/dev", "/events"} {
			code, body := get(t, h, path, tc.header...)
			if code != tc.want {
				t.Errorf("%s with %v: %d, want %d", path, tc.header, code, tc.want)
			}
			if code == http.StatusUnauthorized && strings.Contains(body, "dev") {
				t.Errorf("%s: a refused request sees the page", path)
			}
		}
	}
}

func TestHealthsHaveDistinctWordsAndSymbols(t *testing.T) {
	seen := map[string]Health{}
	for _, h := range Healths {
		if o, dup := seen[h.Symbol()]; dup {
			t.Errorf("%s and %s share the symbol %s", h, o, h.Symbol())
		}
		seen[h.Symbol()] = h
	}
	if _, dup := seen[DriftedSymbol]; dup {
		t.Errorf("drift's symbol is a health's")
	}
}

func TestForgeLink(t *testing.T) {
	for _, tc := range []struct{ remote, want string }{
		{"https://github.com/acme/gitops.git", "https://github.com/acme/gitops/blob/abc/apps/a%20b.yaml#L3"},
		{"git@github.com:acme/gitops.git", "https://github.com/acme/gitops/blob/abc/apps/a%20b.yaml#L3"},
		{"ssh://git@github.com/acme/gitops", "https://github.com/acme/gitops/blob/abc/apps/a%20b.yaml#L3"},
		{"https://gitlab.com/acme/team/gitops.git", "https://gitlab.com/acme/team/gitops/-/blob/abc/apps/a%20b.yaml#L3"},
		{"https://git.internal.example/acme/gitops.git", ""},
		{"/srv/git/gitops", ""},
		{"https://github.com/acme", ""},
	} {
		if got := ForgeLink(tc.remote, "abc", "apps/a b.yaml", 3); got != tc.want {
			t.Errorf("ForgeLink(%q) = %q, want %q", tc.remote, got, tc.want)
		}
	}
	if got := ForgeLink("https://github.com/acme/gitops", "", "apps/a.yaml", 0); got != "" {
		t.Errorf("without a revision: %q", got)
	}
}

func TestAgo(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{{0, "just now"}, {42 * time.Second, "42 s ago"}, {3 * time.Minute, "3 min ago"}, {5 * time.Hour, "5 h ago"}, {72 * time.Hour, "3 d ago"}} {
		if got := ago(sampleNow, sampleNow.Add(-tc.d)); got != tc.want {
			t.Errorf("ago(%s) = %q, want %q", tc.d, got, tc.want)
		}
	}
	if got := ago(sampleNow, time.Time{}); got != "never" {
		t.Errorf("zero time: %q", got)
	}
}

func parse(t testing.TB, s string) *html.Node {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader([]byte(s)))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func walk(n *html.Node, f func(*html.Node)) {
	if n.Type == html.ElementNode {
		f(n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func count(n *html.Node, pred func(*html.Node) bool) int {
	k := 0
	walk(n, func(c *html.Node) {
		if pred(c) {
			k++
		}
	})
	return k
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// textOf is n's text; with visible, text under aria-hidden is left out
// (what a screen reader reads).
func textOf(n *html.Node, visible bool) string {
	var b strings.Builder
	var rec func(*html.Node)
	rec = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		if visible && attr(n, "aria-hidden") == "true" {
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			rec(c)
		}
	}
	rec(n)
	return b.String()
}

// 50 tabs reloading at once cost one render; a second later the page is
// rendered again.
func TestCacheCoalesces(t *testing.T) {
	v := sampleView(100)
	var calls atomic.Int32
	h := newPage(t, Options{CacheFor: 200 * time.Millisecond}).Handler(func() View { calls.Add(1); return v })
	var wg gosync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, body := get(t, h, "/environments/prod"); code != http.StatusOK || !strings.Contains(body, "app-0099") {
				t.Errorf("a cached page: %d", code)
			}
		}()
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("50 requests at once took %d views, want 1", n)
	}
	time.Sleep(250 * time.Millisecond)
	get(t, h, "/environments/prod")
	if n := calls.Load(); n != 2 {
		t.Errorf("after CacheFor the page must be rendered again (%d views)", n)
	}
}

// A new version of the data is rendered at the next request, cache or not.
func TestCacheFollowsVersion(t *testing.T) {
	v := sampleView(3)
	var version atomic.Uint64
	h := newPage(t, Options{CacheFor: time.Hour, Version: version.Load}).Handler(func() View { return v })
	if _, body := get(t, h, "/environments/dev"); strings.Contains(body, "app-0003") {
		t.Fatal("app-0003 before it exists")
	}
	v = sampleView(4)
	if _, body := get(t, h, "/environments/dev"); strings.Contains(body, "app-0003") {
		t.Errorf("the same version must be served from the cache")
	}
	version.Add(1)
	if _, body := get(t, h, "/environments/dev"); !strings.Contains(body, "app-0003") {
		t.Errorf("a new version must be rendered at once")
	}
}

// Every value from the cluster, Git or the operator is text on the page,
// never markup: in the hand-written app rows as in the templates.
func TestHostileValuesAreEscaped(t *testing.T) {
	const evil = `"><script>alert(1)</script><img src=x onerror=alert(2)>`
	v := sampleView(2)
	e := &v.Environments[0]
	e.Name, e.Cluster, e.Summary = "dev", evil, evil
	e.Errors = []string{evil}
	e.Apps[0] = App{Name: evil, Pool: evil, File: evil + ".yaml", Line: 1, Health: Health(evil), Message: evil, StateImpact: evil,
		Drift: []Drift{{Object: evil, Field: evil, Git: evil, Live: evil}}}
	e.OtherDrift = []Drift{{Object: evil, Field: evil, Git: evil, Live: evil}}
	e.Findings = []Finding{{Rule: evil, File: evil, Message: evil, Blocking: true}}
	v.Events = []Event{{Kind: EventKind(evil), Environment: evil, Message: evil}}
	v.Alerts = []Alert{{Kind: evil, Summary: evil}}
	v.Source.URL = "https://github.com/acme/" + evil
	h := newPage(t, Options{}).Handler(func() View { return v })
	for _, path := range []string{"/", "/environments/dev", "/events"} {
		code, body := get(t, h, path)
		if code != http.StatusOK {
			t.Fatalf("%s: %d", path, code)
		}
		doc := parse(t, body)
		walk(doc, func(n *html.Node) {
			if n.Data == "script" || n.Data == "img" {
				t.Errorf("%s: a value became a <%s> element", path, n.Data)
			}
			for _, a := range n.Attr {
				if strings.HasPrefix(a.Key, "on") {
					t.Errorf("%s: a value became an attribute %s", path, a.Key)
				}
				if a.Key == "href" && strings.Contains(a.Val, "<") {
					t.Errorf("%s: a link to %q", path, a.Val)
				}
			}
		})
		if !strings.Contains(textOf(doc, false), evil) {
			t.Errorf("%s: the value is not shown as text", path)
		}
	}
	if _, body := get(t, h, "/environments/dev"); !strings.Contains(body, "? Unknown") && !strings.Contains(body, `class="health h-unknown"`) {
		t.Errorf("a health word the page does not know is shown as Unknown")
	}
}
