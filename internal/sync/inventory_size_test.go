package sync

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/testenv"
)

// An inventory of 12,000 objects is over a ConfigMap's 1 MiB as plain
// JSON: it is written gzipped to binaryData, on the real API server, and
// reads back entry for entry; a small one stays plain text.
func TestLargeInventoryIsGzipped(t *testing.T) {
	cfg := testenv.Config(t)
	ns := fmt.Sprintf("inv-size-%d", nsCounter.Add(1))
	testenv.CreateNamespace(t, cfg, ns)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	inv := Inventory{}
	for i := 0; i < 12000; i++ {
		e := Entry{ObjectID: ObjectID{Group: "flink.apache.org", Kind: "FlinkDeployment", Namespace: ns, Name: fmt.Sprintf("app-%05d", i)},
			Hash: strings.Repeat(fmt.Sprintf("%x", i%16), 64), Upgrade: UpgradeMark{Generation: 1, Started: "2026-11-30T15:00:00Z", FirstDeploy: true}}
		inv[e.Key()] = e
	}
	if err := s.writeInventory(ctx, "bench", ns, inv); err != nil {
		t.Fatalf("writing 12,000 entries: %v", err)
	}
	u, err := s.getInventory(ctx, ns)
	if err != nil || u == nil {
		t.Fatal(err)
	}
	if _, plain, _ := unstructured.NestedString(u.Object, "data", inventoryKey); plain {
		t.Error("a large inventory must not be stored as plain text")
	}
	back, err := decodeInventory(u)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(inv) {
		t.Fatalf("read back %d entries, want %d", len(back), len(inv))
	}
	for k, e := range inv {
		if back[k] != e {
			t.Fatalf("entry %s read back as %+v, want %+v", k, back[k], e)
		}
	}

	small := Inventory{}
	for k, e := range inv {
		small[k] = e
		break
	}
	if err := s.writeInventory(ctx, "bench", ns, small); err != nil {
		t.Fatal(err)
	}
	u, _ = s.getInventory(ctx, ns)
	if _, gz, _ := unstructured.NestedString(u.Object, "binaryData", inventoryGzipKey); gz {
		t.Error("a small inventory is plain text again, and the gzipped one is gone")
	}
	if back, err := decodeInventory(u); err != nil || len(back) != 1 {
		t.Errorf("small inventory read back: %d entries, %v", len(back), err)
	}
}

// A gzipped inventory that expands past the bound is refused, not read: the
// ConfigMap is anyone's with write access to the namespace.
func TestGzipBombInventoryIsRefused(t *testing.T) {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	zeros := make([]byte, 1<<20)
	for i := 0; i < inventoryMaxEntriesJSON>>20+1; i++ {
		_, _ = w.Write(zeros)
	}
	_ = w.Close()
	u := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": InventoryName, "namespace": "x"},
		"binaryData": map[string]any{inventoryGzipKey: base64.StdEncoding.EncodeToString(b.Bytes())}}}
	if _, err := decodeInventory(u); err == nil || !strings.Contains(err.Error(), "expands to more than") {
		t.Fatalf("want the bomb refused, got %v", err)
	}
}
