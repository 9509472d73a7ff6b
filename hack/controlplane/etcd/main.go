// Command etcd is the upstream etcd server, built from go.etcd.io/etcd/server/v3
// at the version pinned in this module's go.mod.
//
// It exists only so that flinksync's tests and demo can run a real control
// plane without prebuilt binaries; see hack/make/controlplane.mk. It is not
// part of the flinksync product.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
