package redact

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/flinksync/flinksync/internal/redact/redacttest"
)

// marker is the planted secret of the property tests.
const marker = "PLANTEDs3cr3tMARKER"

// TestObjectNeverShowsPlantedSecret: for random objects, neither the
// marker nor its base64 survives Object, Field or Text.
func TestObjectNeverShowsPlantedSecret(t *testing.T) {
	r := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	b64 := base64.StdEncoding.EncodeToString([]byte(marker))
	for i := 0; i < 2000; i++ {
		obj := redacttest.RandomObject(r, marker)
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
