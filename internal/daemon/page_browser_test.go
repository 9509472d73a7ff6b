package daemon

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flinksync/flinksync/internal/testenv"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "also write the status page's screenshots to docs/images/ (for docs/status-page.md)")

// chromiumPath is the headless browser of the test: $FLINKSYNC_CHROMIUM, or
// Debian's chromium, which `make chromium` installs. Missing, it skips the
// test, naming the target, or fails it where testenv.Required says so.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("FLINKSYNC_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil {
		msg := fmt.Sprintf("%s is missing: run `make chromium` in the repository root", p)
		if testenv.Required() {
			t.Fatalf("%s (required here: %s=1 or CI is set)", msg, testenv.RequireEnv)
		}
		t.Skip(msg)
	}
	return p
}

// browser starts a headless Chromium with a fresh profile; the flags keep
// it off the network (no QUIC, no background fetches, no updates) and out
// of the sandbox a root user in a container cannot have.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1440, 900)); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// TestStatusPageInBrowser loads the status page of a daemon syncing the
// example repository on the control plane in a real headless Chromium:
// the overview shows the five environments (prod-cmf's on a CMF
// stand-in) with their apps' health and sizing, an environment's page every app with the operator's words and
// its sizing, and a field changed behind flinksync's back (a merge patch by
// another field manager, as `kubectl patch` sends) in dev, whose drift
// mode is warn, shows on dev's page within one drift interval. The pages
// pass accessibility basics as the browser computes them, and the
// screenshots go to the test's artifact directory (go test -artifacts),
// $FLINKSYNC_SCREENSHOTS, and with -update-screenshots docs/images/.
func TestStatusPageInBrowser(t *testing.T) {
	ctx := browser(t)
	const driftInterval = 3 * time.Second
	f := newFixture(t, options{drift: driftInterval})
	eventually(t, 60*time.Second, "the first revision applied", f.applied(f.head()))

	// Play the operator in dev: every job runs, but one fails.
	devApps := f.appsIn("dev")
	if len(devApps) < 2 {
		t.Fatalf("dev has %d FlinkDeployments, want 2 or more", len(devApps))
	}
	failing := devApps[0]
	for _, app := range devApps {
		st := map[string]any{"lifecycleState": "STABLE", "jobStatus": map[string]any{"state": "RUNNING"}, "jobManagerDeploymentStatus": "READY"}
		if app == failing {
			st = map[string]any{"lifecycleState": "FAILED", "jobStatus": map[string]any{"state": "FAILED"}, "jobManagerDeploymentStatus": "ERROR",
				"error": `{"type":"org.apache.flink.kubernetes.operator.exception.DeploymentFailedException","message":"java.lang.OutOfMemoryError: Java heap space"}`}
		}
		testenv.SetStatus(t, f.cfg, fdGVR, f.ns("dev"), app, st)
	}
	eventually(t, 4*driftInterval, "dev's health read from the operator's status", func() bool {
		n := 0
		for _, h := range f.env("dev").Health {
			if h.Health == "Healthy" || h.Health == "Degraded" {
				n++
			}
		}
		return n == len(devApps)
	})

	// The overview: every environment, its cluster and target, the apps'
	// health in words, and the CPU of the sizing against the nodes.
	overview := load(t, ctx, f.http.URL+"/")
	f.d.mu.Lock()
	res := f.d.current
	f.d.mu.Unlock()
	for _, env := range []string{"dev", "staging", "prod", "prod-eu", exampleCMFEnv} {
		if !strings.Contains(overview, `href="/environments/`+env+`"`) {
			t.Errorf("the overview lacks environment %s", env)
		}
		tot := res.Sizing.Environment(env)
		if tot == nil {
			t.Fatalf("no sizing totals for %s", env)
		}
		want := cpuText(tot.TotalCPU) + " / " + cpuText(tot.CapacityCPU) + " CPU"
		if !strings.Contains(overview, want) {
			t.Errorf("the overview lacks %s's CPU %q", env, want)
		}
	}
	for _, want := range []string{"fko", "cfk", "cmf", "default", fmt.Sprintf("%d healthy", len(devApps)-1), "1 degraded", "unknown", "at head"} {
		if !strings.Contains(overview, want) {
			t.Errorf("the overview lacks %q", want)
		}
	}
	checkA11y(t, ctx, "overview")
	screenshot(t, ctx, "status-overview.png")

	// dev's page: every app with its health and the operator's words, its
	// TaskManagers × slots, parallelism, CPU and checkpoint interval.
	devPage := load(t, ctx, f.http.URL+"/environments/dev")
	for _, s := range envSizing(res.Sizing, "dev") {
		if !strings.Contains(devPage, ">"+s.App+"<") {
			t.Errorf("dev's page lacks app %s", s.App)
		}
		if !strings.Contains(devPage, fmt.Sprintf("%d × %d", s.TaskManagers, s.SlotsPerTaskManager)) {
			t.Errorf("dev's page lacks %s's %d × %d", s.App, s.TaskManagers, s.SlotsPerTaskManager)
		}
	}
	for _, want := range []string{"Degraded", "Healthy", "java.lang.OutOfMemoryError: Java heap space", "drift: warn"} {
		if !strings.Contains(devPage, want) {
			t.Errorf("dev's page lacks %q", want)
		}
	}
	checkA11y(t, ctx, "dev")

	// Someone edits a live object in dev (drift: warn leaves it).
	target := devApps[len(devApps)-1]
	patch := []byte(`{"spec":{"taskManager":{"replicas":7}}}`)
	if _, err := f.dyn.Resource(fdGVR).Namespace(f.ns("dev")).Patch(context.Background(), target, types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: "kubectl-patch"}); err != nil {
		t.Fatal(err)
	}
	patched := time.Now()
	var drifted string
	for deadline := patched.Add(driftInterval + 2*time.Second); ; { // a drift interval, and the pass itself
		drifted = load(t, ctx, f.http.URL+"/environments/dev")
		if strings.Contains(drifted, "<code>spec.taskManager.replicas</code>") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the drifted field is not on dev's page %s after the patch (drift interval %s)", time.Since(patched).Round(time.Millisecond), driftInterval)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("the drifted field showed %s after the patch (drift interval %s)", time.Since(patched).Round(time.Millisecond), driftInterval)
	if !strings.Contains(drifted, "<code>7</code>") || !strings.Contains(drifted, "≠</span> Drifted") {
		t.Errorf("dev's page must give the live value 7 and say Drifted in words")
	}
	checkA11y(t, ctx, "dev drifted")
	screenshot(t, ctx, "status-environment.png")

	events := load(t, ctx, f.http.URL+"/events")
	for _, want := range []string{"drift", "drifted field(s), left as it is (drift: warn)", "spec.taskManager.replicas", "revision pass"} {
		if !strings.Contains(events, want) {
			t.Errorf("the events page lacks %q", want)
		}
	}
	checkA11y(t, ctx, "events")
	screenshot(t, ctx, "status-events.png")
}

// appsIn are the FlinkDeployments of env, by name.
func (f *fixture) appsIn(env string) []string {
	l, err := f.dyn.Resource(fdGVR).Namespace(f.ns(env)).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, u := range l.Items {
		out = append(out, u.GetName())
	}
	sort.Strings(out)
	return out
}

// load navigates to url and returns the document as the browser has it.
func load(t *testing.T, ctx context.Context, url string) string {
	t.Helper()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		t.Fatalf("loading %s: %v", url, err)
	}
	if resp.Status != 200 {
		t.Fatalf("loading %s: HTTP %d", url, resp.Status)
	}
	html, err := chromedp.Run(ctx, chromedp.OuterHTML("html"))
	if err != nil {
		t.Fatalf("reading %s: %v", url, err)
	}
	return html
}

// a11y is what the browser computes of a page for accessibility basics.
type a11y struct {
	Tables, TablesWithoutHeaders int
	Bars                         []string // the bars' accessible names
	Health                       []string // the words of the health marks, symbols left out
	Colours                      [][2]string
	Background                   string
	Resources                    []string // subresources loaded (stylesheets, images, scripts)
	Scripts                      int
}

const a11yJS = `(() => {
  const words = el => [...el.childNodes].filter(n => !(n.nodeType === 1 && n.getAttribute('aria-hidden') === 'true')).map(n => n.textContent).join('').trim();
  const bg = getComputedStyle(document.body).backgroundColor;
  const cells = [...document.querySelectorAll('tbody tr td, tbody tr th')].map(c => getComputedStyle(c).backgroundColor);
  const tables = [...document.querySelectorAll('table')];
  return {
    Tables: tables.length,
    TablesWithoutHeaders: tables.filter(t => !t.querySelector('thead th[scope=col]')).length,
    Bars: [...document.querySelectorAll('.bar')].map(b => (b.getAttribute('role') || '') + ': ' + (b.getAttribute('aria-label') || '')),
    Health: [...document.querySelectorAll('.health')].map(words),
    Colours: [...document.querySelectorAll('.health, .drifted, .result, [class^="h-"]')].map(e => {
      let p = e, c = 'rgba(0, 0, 0, 0)';
      while (p && (c === 'rgba(0, 0, 0, 0)' || c === 'transparent')) { c = getComputedStyle(p).backgroundColor; p = p.parentElement; }
      return [getComputedStyle(e).color, c];
    }),
    Background: bg,
    Resources: performance.getEntriesByType('resource').map(r => r.name),
    Scripts: document.scripts.length,
  };
})()`

// checkA11y checks the page the browser shows: every table has column
// headers, every capacity bar is an image with a text alternative that
// gives the figures, every health mark reads as a health word without its
// symbol, every coloured word has a contrast of 4.5:1 or more against the
// background the browser paints under it, and nothing was loaded besides
// the document (no script, no stylesheet, no image, no font).
func checkA11y(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[a11y](a11yJS))
	if err != nil {
		t.Fatalf("%s: %v", page, err)
	}
	if got.Tables == 0 || got.TablesWithoutHeaders > 0 {
		t.Errorf("%s: %d table(s), %d without column headers", page, got.Tables, got.TablesWithoutHeaders)
	}
	for _, b := range got.Bars {
		if !strings.HasPrefix(b, "img: CPU ") || !strings.Contains(b, "% used: ") {
			t.Errorf("%s: a capacity bar without its figures in words: %q", page, b)
		}
	}
	words := map[string]bool{"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true, "Missing": true, "Unknown": true}
	for _, h := range got.Health {
		if !words[h] {
			t.Errorf("%s: a health mark reads %q", page, h)
		}
	}
	for _, c := range got.Colours {
		fg, bg := rgb(t, c[0]), rgb(t, c[1])
		if r := contrastRatio(fg, bg); r < 4.5 {
			t.Errorf("%s: %s on %s: contrast %.2f:1, want 4.5:1 or more", page, c[0], c[1], r)
		}
	}
	if len(got.Resources) > 0 || got.Scripts > 0 {
		t.Errorf("%s: subresources %q and %d script(s) loaded; the page is one self-contained document", page, got.Resources, got.Scripts)
	}
}

// rgb reads a computed colour, "rgb(r, g, b)" or "rgba(r, g, b, 1)".
func rgb(t *testing.T, s string) [3]float64 {
	t.Helper()
	inner := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(s, "rgba("), "rgb("), ")")
	parts := strings.Split(inner, ",")
	if len(parts) < 3 {
		t.Fatalf("a colour %q", s)
	}
	var c [3]float64
	for i := range c {
		v, err := strconv.ParseFloat(strings.TrimSpace(parts[i]), 64)
		if err != nil {
			t.Fatalf("a colour %q: %v", s, err)
		}
		c[i] = v
	}
	return c
}

// contrastRatio is WCAG 2.1's contrast ratio of two sRGB colours.
func contrastRatio(a, b [3]float64) float64 {
	lum := func(c [3]float64) float64 {
		var l [3]float64
		for i, v := range c {
			v /= 255
			if v <= 0.03928 {
				l[i] = v / 12.92
			} else {
				l[i] = math.Pow((v+0.055)/1.055, 2.4)
			}
		}
		return 0.2126*l[0] + 0.7152*l[1] + 0.0722*l[2]
	}
	la, lb := lum(a), lum(b)
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05)
}

// screenshot saves the whole page as PNG in the test's artifact
// directory, in $FLINKSYNC_SCREENSHOTS when set, and in docs/images/ with
// -update-screenshots.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dirs := []string{t.ArtifactDir()}
	if d := os.Getenv("FLINKSYNC_SCREENSHOTS"); d != "" {
		dirs = append(dirs, d)
	}
	if *updateScreenshots {
		dirs = append(dirs, filepath.Join("..", "..", "docs", "images"))
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshot %s (%d bytes) in %s", name, len(png), strings.Join(dirs, ", "))
}

// cpuText is a CPU figure as the page writes it.
func cpuText(v float64) string { return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) }
