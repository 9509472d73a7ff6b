package cmfsync_test

import (
	"os"
	"testing"

	"github.com/flinksync/flinksync/internal/testenv"
)

// The tests that read CMF credentials from Kubernetes Secrets run against
// the real API server; the others need only the CMF stand-in.
func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
