package daemon

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/flinksync/flinksync/internal/testenv"
)

// TestAWebhookWakesEveryShard: a push webhook reaches one replica (the
// Service picks one); the environments the other replica owns get the new
// commit within seconds too, through the membership Leases (AnnWebhook),
// although both replicas poll the remote only once an hour.
func TestAWebhookWakesEveryShard(t *testing.T) {
	cfg := testenv.Config(t)
	suffix := fmt.Sprintf("-d%d", fixtureN.Add(1))
	git := newGitServer(t, shardRepo(t), testenv.UniqueNamespaces(t, cfg, suffix))
	envs := []string{"dev", "prod", "prod-eu", "qa", "sandbox", "staging"}
	start := func(id string) *Daemon {
		// Leases long enough that no renewal is missed on a busy machine:
		// a member seen to come or go makes the replicas look at the head
		// too, which this test must not count on.
		sh := Sharding{Namespace: "default", LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: time.Second}
		return startShardReplica(t, cfg, git, suffix, id, sh, func(c *Config) {
			c.Interval, c.WebhookSecret = time.Hour, []byte("tok")
		})
	}
	a, b := start("a"), start("b")
	// appliedEverywhere: each environment at rev by the replica that owns
	// it, and each replica owning some.
	appliedEverywhere := func(rev string) func() bool {
		return func() bool {
			seen := 0
			for _, d := range []*Daemon{a, b} {
				s := d.Snapshot()
				if s.Shard == nil || len(s.Shard.Members) != 2 || len(s.Shard.Owned) == 0 {
					return false
				}
				for _, e := range s.Environments {
					for _, o := range s.Shard.Owned {
						if e.Name == o {
							if e.AppliedRevision != rev {
								return false
							}
							seen++
						}
					}
				}
			}
			return seen == len(envs)
		}
	}
	// The first commit: each replica looks at the head once as it starts,
	// and again when the environments are split between the two.
	first := git.git(git.work, "rev-parse", "HEAD")
	for _, d := range []*Daemon{a, b} {
		d.Trigger()
	}
	eventually(t, 60*time.Second, "the two replicas splitting the environments, each applied", func() bool {
		for _, d := range []*Daemon{a, b} {
			d.Trigger() // an hour's poll interval: look at the head now, until both agree
		}
		return appliedEverywhere(first)()
	})

	// Let the looks at the head asked for above run out: from here only
	// the webhook may make a replica look.
	time.Sleep(3 * time.Second)

	next := git.commit(auditFile, "taskManagers: 2", "taskManagers: 3")
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hooks/generic", strings.NewReader("{}"))
	req.Header.Set("X-Signature", "sha256="+hmacHex("tok", "{}"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook to replica a: %d", resp.StatusCode)
	}
	eventually(t, 15*time.Second, "the commit applied by both replicas after one webhook to a", appliedEverywhere(next))
}
