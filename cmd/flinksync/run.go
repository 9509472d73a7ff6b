package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/flinksync/flinksync/internal/clusters"
	"github.com/flinksync/flinksync/internal/daemon"
	"github.com/flinksync/flinksync/internal/redact"
	"github.com/flinksync/flinksync/internal/report"
	"github.com/flinksync/flinksync/internal/source"
)

func newRunCommand() *cobra.Command {
	var limits clientLimits
	var (
		repoURL, branch, listen, secretFile, kubeconfigPath, policyFile, alertFormat, cacheDir string
		userFile, passFile, sshKeyFile, knownHostsFile, keyringFile, clustersDir               string
		leaseNamespace, leaseName                                                              string
		shardPrefix                                                                            string
		sharding                                                                               bool
		interval, driftInterval, gitTimeout, passTimeout                                       time.Duration
		alertURLs, clusterFlags, cmfEndpointFlags                                              []string
		leaderElect                                                                            bool
		read                                                                                   readFlags
		page                                                                                   statusPageFlags
	)
	cmd := &cobra.Command{
		Use:   "run --repo-url URL",
		Short: "The daemon: follow a Git branch, sync every environment, watch drift, report",
		Long: `run follows a Git branch or tag. It asks the remote for the head every
--interval (with jitter) and fetches only when the head moved; a push webhook
triggers a pass at once. Each new revision is validated, sized, rendered and
synced per environment; every environment is re-checked for drift every
--drift-interval. A failing environment backs off on its own and never slows
the others. With the remote or the cluster unreachable, the last applied
state stays. An environment naming a cluster (spec.cluster) syncs there,
with the kubeconfig of --clusters-dir/<cluster>/kubeconfig (or of --cluster
NAME=KUBECONFIG); each cluster is probed before a round, and one that does
not answer fails only its own environments, backing off on its own.
A target: cmf environment syncs with the CMF of its spec.cmf.endpoint, or
of --cmf-endpoint ENV=URL; an environment of a revision that --cmf-endpoint
names but whose target is not cmf fails.
Every pass has a deadline (--pass-timeout): a render or a sync that runs
into it is cut off, and /readyz answers 503 while passes are cut off
(/healthz only says the process answers). SIGTERM lets the apply in flight
finish, within its deadline.

Every flag can also be set from the environment: FLINKSYNC_ and the flag name
in upper case with _ for - (FLINKSYNC_REPO_URL, FLINKSYNC_DRIFT_INTERVAL).

HTTP (--listen): /metrics, /healthz, /readyz, /api/v1/status,
POST /hooks/github (X-Hub-Signature-256), /hooks/gitlab (X-Gitlab-Token),
/hooks/generic (X-Signature: sha256=<HMAC of the body>), and the read-only
status page: / (every environment), /environments/NAME, /events
(--status-page, --status-page-token-file; see docs/status-page.md).`,
		Args: cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			return flagsFromEnv(cmd.Flags())
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if repoURL == "" {
				return cantRun(errors.New("--repo-url (or FLINKSYNC_REPO_URL) is required"))
			}
			logger := slog.New(redact.LogHandler(slog.NewJSONHandler(cmd.ErrOrStderr(), nil))) // --repo-url may hold a token
			cfg, err := kubeConfig(kubeconfigPath)
			if err != nil {
				return cantRun(err)
			}
			policy, err := daemonPolicy(policyFile)
			if err != nil {
				return cantRun(err)
			}
			var secret []byte
			if secretFile != "" {
				b, err := os.ReadFile(secretFile)
				if err != nil {
					return cantRun(fmt.Errorf("--webhook-secret-file: %w", err))
				}
				secret = []byte(strings.TrimSpace(string(b)))
			}
			var keyring string
			if keyringFile != "" {
				b, err := os.ReadFile(keyringFile)
				if err != nil {
					return cantRun(fmt.Errorf("--verify-keyring-file: %w", err))
				}
				keyring = string(b)
			}
			var alerts []report.AlertTarget
			for _, u := range alertURLs {
				alerts = append(alerts, report.AlertTarget{URL: u, Format: alertFormat})
			}
			if _, err := report.Encode(alertFormat, report.Alert{}); err != nil {
				return cantRun(err)
			}
			remote := &source.Remote{URL: repoURL, Ref: branch, CacheDir: cacheDir, Timeout: gitTimeout, Keyring: keyring,
				Auth:   source.Auth{UsernameFile: userFile, PasswordFile: passFile, SSHKeyFile: sshKeyFile, KnownHostsFile: knownHostsFile},
				Limits: read.limits()}
			dc := daemon.Config{Remote: remote, Interval: interval, DriftInterval: driftInterval, RestConfig: cfg,
				Policy: policy, WebhookSecret: secret, Alerts: alerts, Logger: logger, PassTimeout: passTimeout, ClustersDir: clustersDir,
				QPS: limits.qps, Burst: limits.burst}
			if dc.StatusPage, err = page.config(); err != nil {
				return cantRun(err)
			}
			if len(clusterFlags) > 0 && clustersDir != "" {
				return cantRun(errors.New("--cluster and --clusters-dir: give the named clusters one way, not both"))
			}
			for _, v := range clusterFlags {
				name, path, err := clusters.ParseFlag(v)
				if err != nil {
					return cantRun(err)
				}
				if dc.Clusters == nil {
					dc.Clusters = map[string]string{}
				}
				if _, dup := dc.Clusters[name]; dup {
					return cantRun(fmt.Errorf("--cluster %s given twice", name))
				}
				dc.Clusters[name] = path
			}
			// Only the syntax: the environments are those of each revision
			// (the daemon fails one whose target is not cmf).
			if dc.CMFEndpoints, err = parseCMFEndpoints(cmfEndpointFlags); err != nil {
				return cantRun(err)
			}
			if clustersDir != "" {
				if st, err := os.Stat(clustersDir); err != nil || !st.IsDir() {
					return cantRun(fmt.Errorf("--clusters-dir %s: not a readable folder", clustersDir))
				}
			}
			if leaderElect {
				host, _ := os.Hostname()
				ns := leaseNamespace
				if ns == "" {
					ns = podNamespace()
				}
				dc.LeaderElection = &daemon.LeaderElection{Namespace: ns, Name: leaseName, Identity: host + "_" + fmt.Sprint(os.Getpid())}
			}
			if sharding {
				if leaderElect {
					return cantRun(errors.New("--sharding and --leader-elect: choose one (with sharding every replica syncs its share of the environments)"))
				}
				host, _ := os.Hostname() // the pod's name: unique among the replicas
				ns := leaseNamespace
				if ns == "" {
					ns = podNamespace()
				}
				dc.Sharding = &daemon.Sharding{Namespace: ns, Prefix: shardPrefix, Identity: host}
			}
			d, err := daemon.New(dc)
			if err != nil {
				return cantRun(err)
			}
			ctx, cancel := signalContext()
			defer cancel()
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return cantRun(fmt.Errorf("--listen %s: %w", listen, err))
			}
			srv := d.Server()
			go func() { _ = srv.Serve(ln) }()
			logger.Info("flinksync started", "version", version, "listen", ln.Addr().String(), "repo", repoURL, "ref", branch)
			err = d.Run(ctx)
			shut, done := context.WithTimeout(context.Background(), 5*time.Second)
			defer done()
			_ = srv.Shutdown(shut)
			logger.Info("flinksync stopped")
			if err != nil {
				return cantRun(err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&repoURL, "repo-url", "", "Git repository to follow (https://, ssh:// or git@host:path, file:// for tests)")
	f.StringVar(&branch, "branch", "main", "branch to follow, or refs/tags/<tag>")
	f.DurationVar(&interval, "interval", daemon.DefaultInterval, "how often to ask the remote for its head (plus up to 5% jitter)")
	f.DurationVar(&driftInterval, "drift-interval", daemon.DefaultDriftInterval, "how often each environment is re-checked for drift without a new commit")
	f.StringVar(&listen, "listen", ":8080", "address of the HTTP server (metrics, health, status, webhooks)")
	f.StringVar(&secretFile, "webhook-secret-file", "", "file holding the webhook secret; without it webhooks are off")
	f.StringArrayVar(&alertURLs, "alert-webhook", nil, "URL to send alerts to (repeatable)")
	f.StringVar(&alertFormat, "alert-format", report.FormatJSON, "alert format: alertmanager, slack or json")
	f.StringVar(&kubeconfigPath, "kubeconfig", "", "kubeconfig file of the default cluster, which also holds the Lease and the Events (default: $KUBECONFIG, ~/.kube/config, then in-cluster)")
	f.StringVar(&clustersDir, "clusters-dir", "", "folder of the clusters environments name in spec.cluster: <dir>/<cluster>/kubeconfig (a Secret per cluster, mounted); read again before every round, so clusters come and go without a restart")
	registerClusterFlag(cmd, &clusterFlags)
	registerCMFEndpointFlag(cmd, &cmfEndpointFlags) // cmf.go
	f.StringVar(&policyFile, "policy", "", "the daemon's own policy (a Policy document); the repository can only tighten it")
	f.BoolVar(&leaderElect, "leader-elect", false, "hold a Lease so only one replica syncs")
	f.StringVar(&leaseNamespace, "leader-election-namespace", "", "namespace of the Lease (default: the pod's namespace)")
	f.StringVar(&leaseName, "leader-election-name", "flinksync", "name of the Lease")
	f.BoolVar(&sharding, "sharding", false, "spread the environments over the live replicas, each syncing its share (Leases <prefix>-member-<pod> and <prefix>-env-<environment> in --leader-election-namespace); not with --leader-elect")
	f.StringVar(&shardPrefix, "sharding-lease-prefix", "flinksync", "prefix of the sharding Leases; replicas with one prefix share the environments")
	f.StringVar(&cacheDir, "cache-dir", "/var/cache/flinksync", "folder of the cached shallow clone")
	f.DurationVar(&gitTimeout, "git-timeout", source.DefaultTimeout, "timeout of each Git request")
	limits.register(cmd)
	f.DurationVar(&passTimeout, "pass-timeout", daemon.DefaultPassTimeout,
		"deadline of one pass (head check, fetch, render and sync of every environment, or a drift pass); /readyz fails while passes are cut off")
	f.StringVar(&userFile, "git-username-file", "", "HTTPS username file")
	f.StringVar(&passFile, "git-password-file", "", "HTTPS password or token file")
	f.StringVar(&sshKeyFile, "git-ssh-key-file", "", "SSH private key file")
	f.StringVar(&knownHostsFile, "git-known-hosts-file", "", "SSH known_hosts file (required with an SSH key)")
	f.StringVar(&keyringFile, "verify-keyring-file", "", "armored OpenPGP key ring: only commits signed by one of its keys are applied")
	read.register(f)
	page.register(f)
	return cmd
}

// flagsFromEnv sets every flag not given on the command line from
// FLINKSYNC_<NAME>, so the container can be configured with env vars.
func flagsFromEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || err != nil {
			return
		}
		name := "FLINKSYNC_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v, ok := os.LookupEnv(name)
		if !ok {
			return
		}
		if f.Value.Type() == "stringArray" {
			// Several URLs in one variable are separated by spaces (a URL
			// may hold commas).
			for _, part := range strings.Fields(v) {
				if e := fs.Set(f.Name, strings.TrimSpace(part)); e != nil {
					err = fmt.Errorf("%s: %w", name, e)
				}
			}
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("%s=%q: %w", name, v, e)
		}
	})
	if err != nil {
		return cantRun(err)
	}
	return nil
}

// podNamespace is the namespace the pod runs in, from its service account.
func podNamespace() string {
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
		return strings.TrimSpace(string(b))
	}
	return "default"
}
