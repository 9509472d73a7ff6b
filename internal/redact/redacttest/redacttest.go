// Package redacttest is the masking tests' shared fixture: files that add,
// to the example repository, a Secret and every form of inline secret the
// masking must catch; the changes to make in the cluster behind Git's back;
// and the check that an output shows none of the planted values. The
// integration tests of internal/sync and of the command line use it.
package redacttest

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

//go:embed repo
var repo embed.FS

// Env is the environment the fixture plants its secrets in, App the
// FlinkDeployment that carries them, Secret the Secret's name.
const (
	Env    = "dev"
	App    = "clickstream-filter"
	Secret = "db"
)

// Secrets are the planted values, by where they stand. None may reach any
// output.
var Secrets = map[string]string{
	"Git Secret data":                  "GITsecretPW1",
	"live Secret data":                 "LIVEsecretPW2",
	"fs.azure.account.key.*":           "AZUREkey111",
	"live fs.azure.account.key.*":      "LIVEazure999",
	"*.client.secret":                  "CLIENTsecret222",
	"basic.auth.user.info":             "USERinfo333",
	"-D…Password= in env.java.opts":    "JVMpass444",
	"URL userinfo":                     "URLpass555",
	"pod env[].value":                  "ENVpass666",
	"live pod env[].value":             "LIVEenv000",
	"--db-pass= argument":              "ARGpass777",
	"--password argument":              "ARGnext888",
	"live --db-pass= argument":         "LIVEarg123",
	"Authorization header in a config": "BEARERtoken0123456789",
}

// WriteFiles writes the fixture's files into a copy of the example
// repository at dir: overlays/dev (the Secret and the FlinkDeployment's
// secrets) and policy.yaml (TLS-003 waived in dev, so dev is applied).
// namespace is dev's namespace in that copy.
func WriteFiles(t testing.TB, dir, namespace string) {
	t.Helper()
	err := fs.WalkDir(repo, "repo", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := repo.ReadFile(p)
		if err != nil {
			return err
		}
		dest := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(p, "repo/")))
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dest, []byte(strings.ReplaceAll(string(data), "${NAMESPACE}", namespace)), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// livePatch is a JSON merge patch to one live object.
type livePatch struct {
	gvr   schema.GroupVersionResource
	name  string
	patch string
}

// PatchLive changes, behind Git's back (as field manager kubectl-edit), in
// the namespace of Env: the Secret's value, the Azure key, the pod's
// password and the job's argument.
func PatchLive(t testing.TB, cfg *rest.Config, namespace string) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range livePatches {
		if _, err := dyn.Resource(p.gvr).Namespace(namespace).Patch(context.Background(), p.name, types.MergePatchType,
			[]byte(p.patch), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
			t.Fatal(err)
		}
	}
}

var livePatches = []livePatch{
	{schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, Secret,
		`{"data":{"password":"` + base64.StdEncoding.EncodeToString([]byte("LIVEsecretPW2")) + `"}}`},
	{schema.GroupVersionResource{Group: "flink.apache.org", Version: "v1beta1", Resource: "flinkdeployments"}, App,
		`{"spec":{"flinkConfiguration":{"fs.azure.account.key.acct.blob.core.windows.net":"LIVEazure999"},` +
			`"podTemplate":{"spec":{"containers":[{"name":"flink-main-container","env":[{"name":"DB_PASSWORD","value":"LIVEenv000"},{"name":"LOG_LEVEL","value":"INFO"}]}]}},` +
			`"job":{"args":["--db-pass=LIVEarg123","--password","ARGnext888","--parallelism-hint","4"]}}}`},
}

// Leaks lists what out shows of the planted secrets: a value, its base64 (a
// Secret's data) or the unsalted SHA-256 prefix of either (the old mask,
// which let anyone confirm a guess).
func Leaks(out string) []string {
	var found []string
	for where, v := range Secrets {
		b64 := base64.StdEncoding.EncodeToString([]byte(v))
		for _, s := range []string{v, b64} {
			sum := sha256.Sum256([]byte(s))
			for _, form := range []string{s, hex.EncodeToString(sum[:4])} {
				if strings.Contains(out, form) {
					found = append(found, fmt.Sprintf("%s (%s)", form, where))
				}
			}
		}
	}
	sort.Strings(found)
	return found
}

// NoLeak fails the test when out shows a planted secret.
func NoLeak(t testing.TB, what, out string) {
	t.Helper()
	if l := Leaks(out); len(l) > 0 {
		t.Errorf("%s shows secrets: %s\n%s", what, strings.Join(l, ", "), out)
	}
}

// RandomObject builds a Secret from r: nested maps and lists of random keys
// (some secret-looking, most not) and values, with marker planted in its
// data (base64, as the API server keeps it) and in its stringData under a
// random key.
func RandomObject(r *rand.Rand, marker string) map[string]any {
	keys := []string{"a", "spec", "data", "name", "value", "password", "env", "args", "x.y", "numberOfTaskSlots", "kubernetes.secrets", "secretName", "kind"}
	var value func(depth int) any
	value = func(depth int) any {
		switch n := r.IntN(6); {
		case depth > 3 || n == 0:
			return keys[r.IntN(len(keys))] + "-" + string(rune('a'+r.IntN(26)))
		case n == 1:
			return int64(r.IntN(100))
		case n == 2:
			l := make([]any, r.IntN(4))
			for i := range l {
				l[i] = value(depth + 1)
			}
			return l
		default:
			m := map[string]any{}
			for range r.IntN(5) {
				m[keys[r.IntN(len(keys))]] = value(depth + 1)
			}
			return m
		}
	}
	obj, _ := value(0).(map[string]any)
	if obj == nil {
		obj = map[string]any{}
	}
	obj["kind"] = "Secret"
	obj["apiVersion"] = "v1"
	key := keys[r.IntN(len(keys))] + ".conf"
	obj["data"] = map[string]any{key: base64.StdEncoding.EncodeToString([]byte(marker)), "plain": value(2)}
	obj["stringData"] = map[string]any{key: "prefix " + marker + " suffix"}
	return obj
}
