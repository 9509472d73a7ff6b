package daemon

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// httpDaemon is a daemon with only its HTTP side: enough for the server's
// limits, which do not depend on a cluster.
func httpDaemon(l HTTPLimits) *Daemon {
	d := &Daemon{cfg: Config{WebhookSecret: []byte("tok"), HTTP: l}, trigger: make(chan struct{}, 1), log: discardLogger()}
	d.leader.Store(true)
	d.started.Store(true)
	return d
}

// serve runs d.Server() on a local port, as `flinksync run` does.
func serve(t *testing.T, d *Daemon) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := d.Server()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin waits for the server to close c and returns what it sent
// first; the test fails when c is still open after limit.
func closedWithin(t *testing.T, c net.Conn, limit time.Duration) (time.Duration, string) {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(limit))
	data, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server still held the connection after %s (it sent %q)", limit, data)
	}
	return time.Since(start), string(data)
}

// A client that sends its headers a byte at a time, never finishing them,
// is cut off at ReadHeaderTimeout.
func TestSlowHeadersAreCutOff(t *testing.T) {
	addr := serve(t, httpDaemon(HTTPLimits{ReadHeaderTimeout: 300 * time.Millisecond}))
	c := dial(t, addr)
	go func() {
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: flinksync\r\nX-Slow: "); err != nil {
			return
		}
		for {
			time.Sleep(20 * time.Millisecond)
			if _, err := c.Write([]byte("a")); err != nil {
				return
			}
		}
	}()
	took, _ := closedWithin(t, c, 3*time.Second)
	if took < 250*time.Millisecond {
		t.Errorf("closed after %s, before the timeout", took)
	}
}

// A client that sends a webhook's headers and part of its body, then
// stops, is cut off at ReadTimeout, and triggers nothing.
func TestUnfinishedBodyIsCutOff(t *testing.T) {
	d := httpDaemon(HTTPLimits{ReadTimeout: 500 * time.Millisecond})
	addr := serve(t, d)
	c := dial(t, addr)
	if _, err := io.WriteString(c, "POST /hooks/generic HTTP/1.1\r\nHost: flinksync\r\nContent-Length: 1000\r\n"+
		"X-Signature: sha256="+hmacHex("tok", "{}")+"\r\n\r\n{\"ref\":"); err != nil {
		t.Fatal(err)
	}
	took, got := closedWithin(t, c, 3*time.Second)
	if took < 400*time.Millisecond {
		t.Errorf("closed after %s, before the timeout", took)
	}
	if strings.HasPrefix(got, "HTTP/1.1 202") || len(d.trigger) != 0 {
		t.Errorf("an unfinished body must trigger nothing: %q", got)
	}
}

// A kept-alive connection that sends nothing more is closed at IdleTimeout.
func TestIdleConnectionIsClosed(t *testing.T) {
	addr := serve(t, httpDaemon(HTTPLimits{IdleTimeout: 300 * time.Millisecond}))
	c := dial(t, addr)
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: flinksync\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("healthz: %d, close %v", resp.StatusCode, resp.Close)
	}
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(3 * time.Second))
	_, err = r.ReadByte()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("an idle connection must be closed, still open after 3s")
	}
	if took := time.Since(start); took < 250*time.Millisecond {
		t.Errorf("closed after %s, before the idle timeout", took)
	}
}

// Headers larger than MaxHeaderBytes are refused; the default is well
// below net/http's 1 MiB.
func TestHugeHeadersAreRefused(t *testing.T) {
	addr := serve(t, httpDaemon(HTTPLimits{}))
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("x", 4*DefaultMaxHeaderBytes))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("%d bytes of headers: got %d, want 431", 4*DefaultMaxHeaderBytes, resp.StatusCode)
	}
}

// Webhooks held by slow bodies fill the cap; the next webhook is refused
// at once with 503 and Retry-After, the other endpoints still answer, and
// once the slow clients are cut off webhooks are taken again.
func TestWebhookConcurrencyIsCapped(t *testing.T) {
	d := httpDaemon(HTTPLimits{MaxConcurrentWebhooks: 2, ReadTimeout: 2 * time.Second})
	addr := serve(t, d)
	var slow []net.Conn
	for range 2 {
		c := dial(t, addr)
		if _, err := io.WriteString(c, "POST /hooks/generic HTTP/1.1\r\nHost: flinksync\r\nContent-Length: 100\r\n\r\n{"); err != nil {
			t.Fatal(err)
		}
		slow = append(slow, c)
	}
	post := func() (*http.Response, time.Duration) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/hooks/generic", strings.NewReader("{}"))
		req.Header.Set("X-Signature", "sha256="+hmacHex("tok", "{}"))
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp, time.Since(start)
	}
	// The slow requests take their slots as soon as their headers are read.
	var resp *http.Response
	var took time.Duration
	eventually(t, time.Second, "a webhook refused", func() bool {
		resp, took = post()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	if took > 500*time.Millisecond || resp.Header.Get("Retry-After") == "" {
		t.Errorf("the refusal must be quick and say when to retry: %s, Retry-After %q", took, resp.Header.Get("Retry-After"))
	}
	hc, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	hc.Body.Close()
	if hc.StatusCode != http.StatusOK {
		t.Errorf("the cap is for webhooks only: healthz %d", hc.StatusCode)
	}
	for _, c := range slow {
		closedWithin(t, c, 5*time.Second)
	}
	if resp, _ := post(); resp.StatusCode != http.StatusAccepted {
		t.Errorf("once the slow clients are gone a webhook is taken: %d", resp.StatusCode)
	}
}

// Every limit is set by default, so `flinksync run` is bounded without flags.
func TestServerLimitsDefault(t *testing.T) {
	srv := httpDaemon(HTTPLimits{}).Server()
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 ||
		srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes >= http.DefaultMaxHeaderBytes {
		t.Errorf("unbounded server: %+v", srv)
	}
}
