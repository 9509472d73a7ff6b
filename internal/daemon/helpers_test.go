package daemon

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/flinksync/flinksync/internal/testenv"
)

var configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

func testenvConfig(t *testing.T) *rest.Config { return testenv.Config(t) }

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func hmacHex(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

func newRequest(path, body string) *http.Request {
	return httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
}

func newGet(path string) *http.Request { return httptest.NewRequest(http.MethodGet, path, nil) }

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func itoa(n int) string { return strconv.Itoa(n) }
