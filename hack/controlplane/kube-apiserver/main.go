// Command kube-apiserver is the upstream Kubernetes API server, built from
// the k8s.io/kubernetes module at the version pinned in this module's go.mod.
//
// It exists only so that flinksync's tests and demo can run a real API server
// on machines without container runtimes or prebuilt binaries; see
// hack/make/controlplane.mk. It is not part of the flinksync product.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	command := app.NewAPIServerCommand()
	os.Exit(cli.Run(command))
}
