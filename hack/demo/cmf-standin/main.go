// Command demo-cmf-standin runs the CMF stand-in of the tests
// (internal/cmf/cmftest) as a local process, for `make demo`. It is NOT
// CMF (Confluent Manager for Apache Flink), which is proprietary and not
// available here: it holds resources in memory and validates every request
// and response against CMF 2.3.1's REST API description, read from
// ../shared/reference/cmf beside the checkout. It is a development tool,
// not part of the flinksync product.
//
// It serves HTTPS on 127.0.0.1 with certificates it makes and requires a
// client certificate (mTLS). It runs in the foreground until SIGTERM or
// SIGINT. hack/demo.sh starts it in the background and hack/demo-stop.sh
// stops it.
//
// Usage:
//
//	demo-cmf-standin --dir .demo/cmf-standin [--secret NAME]...
//
// Into --dir it writes ca.crt, tls.crt and tls.key (the client
// certificate the stand-in accepts, and the CA of both) and then, last,
// the ready file: url=<the stand-in's URL> and pid=<this process>. While
// it runs it keeps --dir/status up to date: the number of requests
// answered with success other than GETs (writes=), of violations of the
// API description (violations=, each also in violations.log) and the
// paths of the resources it holds (resource=). Each --secret is a CMF
// secret it holds from the start, as an administrator of CMF creates the
// secrets a catalog's credentials are.
//
// Exit codes: 0 stopped by a signal, 1 failed, 3 the API description is
// not beside the checkout (the demo then skips the cmf environment).
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flinksync/flinksync/internal/cmf/cmftest"
	"github.com/flinksync/flinksync/internal/testenv"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// exitNoDescription is the exit code when the API description is absent.
const exitNoDescription = 3

func main() {
	log.SetFlags(log.LstdFlags)
	log.SetPrefix("demo-cmf-standin: ")
	var dir string
	var secrets stringList
	flag.StringVar(&dir, "dir", "", "folder for the client credentials, the ready file and the status file (required)")
	flag.Var(&secrets, "secret", "a CMF secret the stand-in holds from the start (repeatable)")
	flag.Parse()
	if dir == "" {
		log.Print("--dir is required")
		os.Exit(2)
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		log.Print(err)
		os.Exit(1)
	}
	desc := filepath.Join(root, filepath.FromSlash(cmftest.Description))
	if _, err := os.Stat(desc); err != nil {
		log.Printf("CMF's API description is not at %s, so the stand-in cannot check requests: %v", desc, err)
		os.Exit(exitNoDescription)
	}
	t := &process{}
	code := 0
	func() {
		defer t.cleanup()
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(failed); !ok {
					panic(r)
				}
				code = 1
			}
		}()
		serve(t, dir, secrets)
	}()
	os.Exit(code)
}

// serve starts the stand-in, writes the files and waits for a signal.
func serve(t *process, dir string, secrets []string) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ready := filepath.Join(dir, "ready")
	_ = os.Remove(ready)
	s := cmftest.New(t, cmftest.Options{Auth: cmftest.MTLS})
	for _, name := range secrets {
		s.AddSecret(name)
	}
	s.Files(t, dir)
	// The ready file comes last: once it is there, everything else is.
	if err := writeFile(ready, fmt.Sprintf("url=%s\npid=%d\n", s.URL, os.Getpid())); err != nil {
		t.Fatal(err)
	}
	log.Printf("the CMF stand-in (not CMF) serves %s over mTLS; credentials in %s", s.URL, dir)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		status, violations := statusOf(s)
		if status != last {
			if err := writeFile(filepath.Join(dir, "violations.log"), violations); err != nil {
				t.Fatal(err)
			}
			if err := writeFile(filepath.Join(dir, "status"), status); err != nil {
				t.Fatal(err)
			}
			last = status
		}
		select {
		case got := <-sig:
			log.Printf("%s: stopping (violations of the API description: %d)", got, len(s.Violations()))
			return
		case <-tick.C:
		}
	}
}

// statusOf is the status file's text and the violations' log.
func statusOf(s *cmftest.Server) (status, violations string) {
	v := s.Violations()
	var b strings.Builder
	fmt.Fprintf(&b, "writes=%d\nviolations=%d\n", s.Writes(), len(v))
	for _, p := range s.Paths("/") {
		fmt.Fprintf(&b, "resource=%s\n", p)
	}
	if len(v) > 0 {
		violations = strings.Join(v, "\n") + "\n"
	}
	return b.String(), violations
}

// writeFile replaces name's content at once (a reader never sees half).
func writeFile(name, text string) error {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// process is the testing.TB cmftest asks for, outside a test: the
// stand-in is the tests' own, so that the demo shows exactly what they
// check against. Fatal ends serve (through a panic main recovers);
// cleanups run when serve returns. Embedding testing.TB supplies the
// interface's unexported method; a method cmftest starts calling that is
// not defined here panics on the nil interface, loudly.
type process struct {
	testing.TB
	cleanups []func()
	tmp      []string
}

// failed is the panic of Fatal.
type failed struct{}

func (p *process) Helper()          {}
func (p *process) Name() string     { return "demo-cmf-standin" }
func (p *process) Cleanup(f func()) { p.cleanups = append(p.cleanups, f) }
func (p *process) Log(args ...any)  { log.Print(args...) }
func (p *process) Logf(format string, args ...any) {
	log.Printf(format, args...)
}
func (p *process) Error(args ...any) { log.Print(args...) }
func (p *process) Errorf(format string, args ...any) {
	log.Printf(format, args...)
}
func (p *process) Fatal(args ...any) {
	log.Print(args...)
	panic(failed{})
}
func (p *process) Fatalf(format string, args ...any) {
	log.Printf(format, args...)
	panic(failed{})
}
func (p *process) Skip(args ...any) { p.Fatal(args...) }
func (p *process) Skipf(format string, args ...any) {
	p.Fatalf(format, args...)
}
func (p *process) TempDir() string {
	d, err := os.MkdirTemp("", "demo-cmf-standin-")
	if err != nil {
		p.Fatal(err)
	}
	p.tmp = append(p.tmp, d)
	return d
}

// cleanup runs the cleanups, last registered first, and removes the
// temporary folders.
func (p *process) cleanup() {
	for i := len(p.cleanups) - 1; i >= 0; i-- {
		p.cleanups[i]()
	}
	for _, d := range p.tmp {
		_ = os.RemoveAll(d)
	}
}
