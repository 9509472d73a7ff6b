package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/flinksync/flinksync/internal/daemon"
	"github.com/flinksync/flinksync/internal/statuspage"
)

// statusPageFlags are run's flags of the web status page.
type statusPageFlags struct {
	on        bool
	tokenFile string
	refresh   time.Duration
}

func (s *statusPageFlags) register(f *pflag.FlagSet) {
	f.BoolVar(&s.on, "status-page", true, "serve the read-only status page at / on --listen (/environments/NAME, /events); false turns it off")
	f.StringVar(&s.tokenFile, "status-page-token-file", "", "file holding a bearer token the status page asks for (Authorization: Bearer <token>); without it the page is open to whoever reaches --listen")
	f.DurationVar(&s.refresh, "status-page-refresh", statuspage.DefaultRefresh, "how often the status page reloads itself in the browser (0 turns the reload off)")
}

// config is the daemon's StatusPage from the flags.
func (s *statusPageFlags) config() (daemon.StatusPage, error) {
	c := daemon.StatusPage{Disabled: !s.on, Refresh: s.refresh}
	if s.refresh <= 0 {
		c.Refresh = -1
	}
	if s.tokenFile == "" {
		return c, nil
	}
	b, err := os.ReadFile(s.tokenFile)
	if err != nil {
		return c, fmt.Errorf("--status-page-token-file: %w", err)
	}
	if c.Token = []byte(strings.TrimSpace(string(b))); len(c.Token) == 0 {
		return c, fmt.Errorf("--status-page-token-file %s: the file is empty", s.tokenFile)
	}
	return c, nil
}
