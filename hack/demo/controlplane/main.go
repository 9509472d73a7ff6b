// Command demo-controlplane runs a local Kubernetes control plane (etcd and
// kube-apiserver from the repository's bin/, no controllers) with flinksync's
// test CRDs installed, for `make demo`. It is a development tool, not part of
// the flinksync product.
//
// It runs in the foreground until SIGTERM or SIGINT, then stops etcd and
// kube-apiserver and removes their files. hack/demo.sh starts it in the
// background and hack/demo-stop.sh stops it.
//
// Usage:
//
//	demo-controlplane --kubeconfig .demo/kubeconfig --ready-file .demo/ready \
//	    [--controlplane-log .demo/controlplane.log] [--namespace NAME]...
//
// Once the API server serves the CRDs, it writes an admin (system:masters)
// kubeconfig, creates the namespaces and writes the ready file (the API
// server's URL and this process's id), in that order.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/flinksync/flinksync/internal/testenv"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*s = append(*s, part)
		}
	}
	return nil
}

func main() {
	log.SetFlags(log.LstdFlags)
	log.SetPrefix("demo-controlplane: ")
	if err := run(); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

func run() error {
	// A flag set of its own: controller-runtime registers --kubeconfig on the
	// global one.
	fs := flag.NewFlagSet("demo-controlplane", flag.ExitOnError)
	var namespaces stringList
	kubeconfig := fs.String("kubeconfig", "", "write an admin kubeconfig to this file (required)")
	readyFile := fs.String("ready-file", "", "write this file once the control plane is ready; removed on stop")
	cpLog := fs.String("controlplane-log", "", "append etcd and kube-apiserver output to this file (default: discard)")
	binDir := fs.String("bin-dir", "", "folder with etcd and kube-apiserver (default: $KUBEBUILDER_ASSETS or <repo>/bin)")
	fs.Var(&namespaces, "namespace", "create this namespace (repeatable, or comma-separated)")
	_ = fs.Parse(os.Args[1:]) // ExitOnError
	if *kubeconfig == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("--kubeconfig is required and no arguments are taken")
	}

	// Handle signals from the start: a SIGTERM during startup must still stop
	// the children cleanly (after Start returns).
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var out io.Writer
	if *cpLog != "" {
		f, err := os.OpenFile(*cpLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("opening --controlplane-log: %w", err)
		}
		defer f.Close()
		out = f
	}

	began := time.Now()
	env, err := testenv.Start(testenv.Options{BinDir: *binDir, Output: out})
	if err != nil {
		return err
	}
	defer func() {
		log.Print("stopping etcd and kube-apiserver")
		if *readyFile != "" {
			_ = os.Remove(*readyFile)
		}
		if err := env.Stop(); err != nil {
			log.Print(err)
		}
		log.Print("stopped")
	}()
	if ctx.Err() != nil {
		return nil // signalled during startup
	}
	log.Printf("kube-apiserver ready at %s with the CRDs installed in %s", env.Config.Host, time.Since(began).Round(time.Millisecond))

	_, kc, err := env.AddUser("admin", "system:masters")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(*kubeconfig, kc, 0o600); err != nil {
		return fmt.Errorf("writing --kubeconfig: %w", err)
	}
	for _, ns := range namespaces {
		if err := testenv.EnsureNamespace(ctx, env.Config, ns); err != nil {
			return err
		}
		log.Printf("namespace %s created", ns)
	}
	if *readyFile != "" {
		content := fmt.Sprintf("server=%s\npid=%d\n", env.Config.Host, os.Getpid())
		if err := writeFileAtomic(*readyFile, []byte(content), 0o644); err != nil {
			return fmt.Errorf("writing --ready-file: %w", err)
		}
	}
	log.Printf("ready in %s; kubeconfig %s", time.Since(began).Round(time.Millisecond), *kubeconfig)

	<-ctx.Done()
	log.Print("signal received")
	return nil
}

// writeFileAtomic writes data to a temporary file beside name and renames it,
// so that readers never see a partial file.
func writeFileAtomic(name string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
