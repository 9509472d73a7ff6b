package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/flinksync/flinksync/internal/testenv"
)

// An environment moved to another namespace leaves its objects behind: the
// daemon's status says so after the next revision, and deletes nothing.
func TestStatusReportsAnEnvironmentThatMovedNamespace(t *testing.T) {
	f := newFixture(t, options{})
	eventually(t, 30*time.Second, "the first revision applied everywhere", f.applied(f.head()))
	old, moved := f.ns("dev"), "flink-dev-moved"+f.suffix
	testenv.CreateNamespace(t, f.cfg, moved)
	rev := f.git.commit("environments/dev.yaml", "namespace: "+old, "namespace: "+moved)
	f.hook("s3cret")
	eventually(t, 30*time.Second, "the move applied", f.applied(rev))
	eventually(t, 10*time.Second, "the orphan in the status", func() bool {
		for _, o := range f.d.Snapshot().Orphans {
			if o.Namespace == old && o.Environment == "dev" && o.MovedTo == moved &&
				strings.Contains(o.Message, "moved from namespace "+old+" to "+moved) {
				return true
			}
		}
		return false
	})
	if f.replicas("dev", "orders-enrich") < 0 {
		t.Errorf("the orphan's objects must not be deleted")
	}
}
