package redact

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// marker is the planted secret of the property tests.
const marker = "PLANTEDs3cr3tMARKER"

// randomObject builds an object from r: nested maps and lists of random
// keys (some secret-looking, most not) and values, with the marker planted
// in a Secret's data (base64, as the API server keeps it) and in its
// stringData under a random key.
func randomObject(r *rand.Rand) map[string]any {
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

// TestObjectNeverShowsPlantedSecret: for random objects, neither the
// marker nor its base64 survives Object, Field or Text.
func TestObjectNeverShowsPlantedSecret(t *testing.T) {
	r := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	b64 := base64.StdEncoding.EncodeToString([]byte(marker))
	for i := 0; i < 2000; i++ {
		obj := randomObject(r)
		out := string(marshal(Object(obj)))
		out += string(marshal(Field("Secret", []string{"data"}, obj["data"])))
		out += string(marshal(Field("Secret", []string{"stringData"}, obj["stringData"])))
		if strings.Contains(out, marker) || strings.Contains(out, b64) {
			t.Fatalf("the planted secret leaked from %s:\n%s", marshal(obj), out)
		}
	}
}

// FuzzText: masking free text never panics, is stable (masking twice
// changes nothing more) and never shows the value after "password=".
func FuzzText(f *testing.F) {
	for _, s := range []string{"https://u:p@h/x", "--password x", "-Dx.password=y z", "Authorization: Bearer abc", "password=\"a\\\"b\"", "-----BEGIN PRIVATE KEY-----\nx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		once := Text(s)
		if twice := Text(once); twice != once {
			t.Fatalf("Text is not stable:\n%q\n%q\n%q", s, once, twice)
		}
		planted := Text(s + " password=" + marker)
		if strings.Contains(planted, marker) {
			t.Fatalf("the planted password leaked: %q", planted)
		}
	})
}

func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(LogHandler(slog.NewJSONHandler(&buf, nil))))
	log = log.With("repo", "https://user:"+marker+"@git.example.com/r.git")
	log.Info("fetch https://"+marker+"@github.com/x failed", "password", marker, "error", errString("dial https://u:"+marker+"@h"),
		slog.Group("g", "token", marker), "count", 3)
	if strings.Contains(buf.String(), marker) {
		t.Fatalf("a secret reached the log: %s", buf.String())
	}
	for _, want := range []string{`"count":3`, "git.example.com", `"password":"<masked>"`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("the log lost %s: %s", want, buf.String())
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }
