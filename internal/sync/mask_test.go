package sync

import (
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flinksync/flinksync/internal/redact/redacttest"

	"github.com/flinksync/flinksync/internal/state"
)

// The markers planted in Git's and the cluster's Secret.
const (
	gitMarker  = "GITmarkerS3cret"
	liveMarker = "LIVEmarkerS3cret"
)

// FuzzMaskedOutputs: for random Secrets with a marker planted in their data
// (base64) and stringData, in Git and live, no output of the sync stage
// (MaskedYAML, UnifiedDiff, the field diffs of compare as drift and
// changes, a Result as JSON, Masked or not) holds a marker or its base64.
func FuzzMaskedOutputs(f *testing.F) {
	for i := range uint64(32) {
		f.Add(i, i*7919)
	}
	f.Fuzz(func(t *testing.T, a, b uint64) {
		r := rand.New(rand.NewPCG(a, b))
		desired := redacttest.RandomObject(r, gitMarker)
		live := redacttest.RandomObject(r, liveMarker)
		id := "Secret/n/s"
		outputs := []string{MaskedYAML(desired), MaskedYAML(live),
			UnifiedDiff(id, desired, live), UnifiedDiff(id, nil, live), UnifiedDiff(id, desired, nil)}
		diffs := compare(&unstructured.Unstructured{Object: desired}, &unstructured.Unstructured{Object: live})
		res := &Result{Changes: []Change{{ObjectID: ObjectID{Kind: "Secret"}, Action: Configured, Diffs: diffs}}}
		for _, d := range diffs {
			res.Drift = append(res.Drift, Drift{ObjectID: ObjectID{Kind: "Secret"}, Field: d.Field, Desired: d.Desired, Live: d.Live})
		}
		for _, v := range []any{res, Masked(res)} {
			j, _ := json.Marshal(v)
			outputs = append(outputs, string(j))
		}
		for _, m := range []string{gitMarker, liveMarker} {
			b64 := base64.StdEncoding.EncodeToString([]byte(m))
			for _, out := range outputs {
				if strings.Contains(out, m) || strings.Contains(out, b64) {
					t.Fatalf("%s leaked:\n%s", m, out)
				}
			}
		}
	})
}

// Masked masks what the operator writes into a savepoint's error or path
// (an exception quoting a key, a path with userinfo) and health messages.
// Savepoints, health, upgrades and state impacts quote the operator or a
// change; none may carry a secret out.
func TestMaskedSavepointsAndHealth(t *testing.T) {
	const secret = "AKIAsecretValue42"
	res := &Result{
		Savepoints: []Savepoint{{Snapshot: "s", State: SnapshotFailed, Path: "s3://user:" + secret + "@bucket/sp",
			Error: "upload failed: fs.s3a.secret.key=" + secret}},
		Health:   []AppHealth{{App: "a", Health: Degraded, Message: "job failed: --password=" + secret}},
		Upgrades: []Upgrade{{Job: "a", State: UpgradeFailed, Message: "rolled back: --password=" + secret}},
		State:    []state.Impact{{Job: "a", Effect: state.Lost, Message: "replaced (password=" + secret + ")"}},
	}
	j, _ := json.Marshal(Masked(res))
	if strings.Contains(string(j), secret) {
		t.Fatalf("a secret in a savepoint or health message leaked: %s", j)
	}
	if res.Savepoints[0].Error == "" || !strings.Contains(res.Savepoints[0].Error, secret) {
		t.Fatal("Masked must not change its input")
	}
}
