package daemon

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/flinksync/flinksync/internal/sync"
)

var statementGVR = schema.GroupVersionResource{Group: "platform.confluent.io", Version: "v1beta1", Resource: "flinkstatements"}

// The daemon syncs the example's Flink SQL pipeline in prod-eu: its status
// shows each statement's and the pool's health and each streaming
// statement's sizing, and a push that changes a statement's SQL replaces
// the statement (the new one live, the old one pruned) without an error.
func TestDaemonSyncsAndReplacesSQLStatements(t *testing.T) {
	f := newFixture(t, options{})
	eventually(t, 60*time.Second, "the first revision applied everywhere", f.applied(f.head()))

	env := f.env("prod-eu")
	kinds := map[string]string{}
	for _, h := range env.Health {
		kinds[h.App] = h.Kind
	}
	for app, kind := range map[string]string{
		"create-checkout-pageviews": sync.HealthStatement, "checkout-pageviews": sync.HealthStatement,
		"orders-attributed": sync.HealthStatement, "pool/sql": sync.HealthPool,
	} {
		if kinds[app] != kind {
			t.Errorf("prod-eu health of %s: kind %q, want %q (all: %v)", app, kinds[app], kind, kinds)
		}
	}
	sized := map[string]bool{}
	for _, r := range env.Sizing {
		if r.Statement {
			sized[r.App] = r.Parallelism > 0
		}
	}
	if !sized["checkout-pageviews"] || !sized["orders-attributed"] || len(sized) != 2 {
		t.Errorf("prod-eu sizing of streaming statements: %v", sized)
	}

	statements := func() []string {
		list, err := f.dyn.Resource(statementGVR).Namespace(f.ns("prod-eu")).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, u := range list.Items {
			names = append(names, u.GetName())
		}
		sort.Strings(names)
		return names
	}
	var old string
	for _, n := range statements() {
		if strings.HasPrefix(n, "checkout-pageviews-") {
			old = n
		}
	}
	if old == "" || len(statements()) != 3 {
		t.Fatalf("prod-eu statements: %v", statements())
	}

	rev := f.git.commit("statements/checkout-pageviews.yaml", "OR `page_id` = '/cart'", "OR `page_id` IN ('/cart', '/basket')")
	if code := f.hook("s3cret"); code != http.StatusAccepted {
		t.Fatalf("webhook: %d", code)
	}
	eventually(t, 60*time.Second, "the changed SQL applied", f.applied(rev))
	names := statements()
	var replacement string
	for _, n := range names {
		if strings.HasPrefix(n, "checkout-pageviews-") {
			replacement = n
		}
	}
	if len(names) != 3 || replacement == "" || replacement == old {
		t.Fatalf("after the SQL change, prod-eu statements are %v (the old one was %s)", names, old)
	}
	if e := f.env("prod-eu"); e.Result != "success" || len(e.Errors) > 0 {
		t.Fatalf("prod-eu after the replacement: %s %v", e.Result, e.Errors)
	}
}
