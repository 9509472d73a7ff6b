#!/usr/bin/env bash
# hack/demo.sh: run flinksync against a local Kubernetes control plane.
#
# Starts etcd + kube-apiserver (from bin/, built by `make controlplane`) with
# flinksync's test CRDs in the background, creates the example's namespaces,
# turns examples/repo-layout into a Git repository under .demo/repo and runs
# main_job() against it. Everything it writes is under the git-ignored .demo/:
#
#   .demo/kubeconfig            admin kubeconfig of the demo API server
#   .demo/controlplane.pid      pid of bin/demo-controlplane
#   .demo/ready                 written once the control plane is ready
#   .demo/demo-controlplane.log the starter's log
#   .demo/controlplane.log      etcd and kube-apiserver output
#   .demo/tmp/                  etcd data and API server certificates
#   .demo/repo/                 the example Git repository
#
# A demo that is already running is stopped first. Stop with `make demo-stop`
# (hack/demo-stop.sh). Environment:
#   DEMO_START_TIMEOUT     seconds to wait for the control plane (default 120)
#   DEMO_EXTRA_NAMESPACES  more namespaces to create, space-separated
#                          (default "confluent", CFK's namespace in the example)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BIN:-$ROOT/bin}"
DEMO="$ROOT/.demo"
KUBECONFIG_FILE="$DEMO/kubeconfig"
PID_FILE="$DEMO/controlplane.pid"
READY_FILE="$DEMO/ready"
STARTER_LOG="$DEMO/demo-controlplane.log"
CP_LOG="$DEMO/controlplane.log"
EXAMPLE="$ROOT/examples/repo-layout"
REPO="$DEMO/repo"
RENDERED="$DEMO/rendered"
START_TIMEOUT="${DEMO_START_TIMEOUT:-120}"
EXTRA_NAMESPACES="${DEMO_EXTRA_NAMESPACES-confluent}"
DEFAULT_NAMESPACES="flink-dev flink-staging flink-prod flink-prod-eu"

say() { printf 'demo: %s\n' "$*"; }
note() { printf 'demo: NOTE: %s\n' "$*"; }
die() { printf 'demo: ERROR: %s\n' "$*" >&2; exit 1; }

show_logs() {
	local f
	for f in "$STARTER_LOG" "$CP_LOG"; do
		[ -s "$f" ] || continue
		printf -- '--- last lines of %s:\n' "${f#"$ROOT"/}" >&2
		tail -n 25 "$f" >&2
	done
}

# The namespaces of the example's environments: the first-level
# `namespace:` under `spec:` of each examples/repo-layout/environments/*.yaml.
example_namespaces() {
	local files=("$EXAMPLE"/environments/*.yaml)
	[ -e "${files[0]}" ] || return 0
	awk '
		/^spec:[[:space:]]*(#.*)?$/ { inspec = 1; ind = -1; next }
		/^[^[:space:]#]/            { inspec = 0 }
		inspec && /^[[:space:]]+[^[:space:]#]/ {
			match($0, /^[[:space:]]+/)
			if (ind < 0) ind = RLENGTH
			if (RLENGTH == ind && $1 == "namespace:" && $2 != "") { v = $2; gsub(/["'\'']/, "", v); print v }
		}
	' "${files[@]}" | sort -u
}

start_controlplane() {
	# Build (or confirm) the control plane and the starter.
	make --no-print-directory -C "$ROOT" -f hack/make/controlplane.mk BIN="$BIN" controlplane
	say "building bin/demo-controlplane"
	(cd "$ROOT" && go build -o "$BIN/demo-controlplane" ./hack/demo/controlplane)

	local namespaces ns args=()
	namespaces="$(example_namespaces | tr '\n' ' ')"
	if [ -z "${namespaces// /}" ]; then
		note "no spec.namespace found in examples/repo-layout/environments/*.yaml; using $DEFAULT_NAMESPACES"
		namespaces="$DEFAULT_NAMESPACES"
	fi
	NAMESPACES="$(echo $namespaces $EXTRA_NAMESPACES | tr ' ' '\n' | awk 'NF && !seen[$0]++' | tr '\n' ' ')"
	for ns in $NAMESPACES; do args+=(--namespace "$ns"); done

	mkdir -p "$DEMO/tmp"
	rm -f "$READY_FILE" "$KUBECONFIG_FILE"
	: > "$STARTER_LOG"
	: > "$CP_LOG"
	say "starting etcd and kube-apiserver (log: .demo/demo-controlplane.log, .demo/controlplane.log)"
	local began=$SECONDS
	# TMPDIR puts the control plane's files under .demo/tmp, which is also how
	# demo-stop.sh recognises the demo's etcd and kube-apiserver. nohup and the
	# redirections detach it from this terminal and from make's output.
	TMPDIR="$DEMO/tmp" nohup "$BIN/demo-controlplane" \
		--kubeconfig "$KUBECONFIG_FILE" --ready-file "$READY_FILE" \
		--controlplane-log "$CP_LOG" "${args[@]}" \
		</dev/null >>"$STARTER_LOG" 2>&1 &
	echo $! > "$PID_FILE"
	local pid
	pid="$(cat "$PID_FILE")"

	while [ ! -f "$READY_FILE" ]; do
		if ! kill -0 "$pid" 2>/dev/null; then
			rm -f "$PID_FILE"
			show_logs
			die "the control plane exited during startup (see the logs above)"
		fi
		if [ $((SECONDS - began)) -ge "$START_TIMEOUT" ]; then
			show_logs
			bash "$ROOT/hack/demo-stop.sh" >/dev/null 2>&1 || true
			die "the control plane was not ready within ${START_TIMEOUT}s (DEMO_START_TIMEOUT)"
		fi
		sleep 0.2
	done
	SERVER="$(sed -n 's/^server=//p' "$READY_FILE")"
	say "control plane ready at $SERVER in $((SECONDS - began))s (pid $pid)"
}

make_repo() {
	if [ ! -d "$EXAMPLE" ]; then
		note "examples/repo-layout does not exist; no Git repository made"
		return 1
	fi
	rm -rf "$REPO"
	mkdir -p "$REPO"
	cp -R "$EXAMPLE"/. "$REPO"/
	# A fixed author, committer and date: the same content gives the same commit.
	(
		cd "$REPO"
		export GIT_AUTHOR_NAME="flinksync demo" GIT_AUTHOR_EMAIL="demo@flinksync.invalid"
		export GIT_COMMITTER_NAME="flinksync demo" GIT_COMMITTER_EMAIL="demo@flinksync.invalid"
		export GIT_AUTHOR_DATE="2025-01-01T00:00:00Z" GIT_COMMITTER_DATE="2025-01-01T00:00:00Z"
		git -c init.defaultBranch=main init -q
		git add -A
		git -c commit.gpgsign=false -c core.hooksPath=/dev/null commit -q -m "Example flinksync repository"
	)
	say "Git repository .demo/repo at $(git -C "$REPO" rev-parse --short HEAD) (from examples/repo-layout)"
}

# ---------------------------------------------------------------------------
# main_job: what the demo runs against the control plane: a real sync of the
# example repository, a second sync that changes nothing, a manual drift in
# two environments (dev reports drift only, staging corrects it), the drift
# report, the Flink SQL objects of prod-eu, and a changed SQL statement
# replaced by a new one. Returns non-zero when a step fails unexpectedly.
# ---------------------------------------------------------------------------
FS() { "$BIN/flinksync" "$@" --repo "$REPO" --kubeconfig "$KUBECONFIG_FILE"; }
K() { kubectl --kubeconfig "$KUBECONFIG_FILE" "$@"; }

# The CFK kinds of Flink SQL, in apply order: what a catalog needs, then
# pools, then statements.
SQL_SETUP_KINDS="flinksecrets,flinkenvironmentsecretmappings,flinkkafkacatalogs,flinkkafkadatabases,flinkcomputepools"
SQL_KINDS="$SQL_SETUP_KINDS,flinkstatements"

# commit_repo MESSAGE: commit every change in .demo/repo, with the fixed
# author and date of make_repo.
commit_repo() {
	(
		cd "$REPO"
		export GIT_AUTHOR_NAME="flinksync demo" GIT_AUTHOR_EMAIL="demo@flinksync.invalid"
		export GIT_COMMITTER_NAME="flinksync demo" GIT_COMMITTER_EMAIL="demo@flinksync.invalid"
		export GIT_AUTHOR_DATE="2025-01-02T00:00:00Z" GIT_COMMITTER_DATE="2025-01-02T00:00:00Z"
		git add -A
		git -c commit.gpgsign=false -c core.hooksPath=/dev/null commit -q -m "$1"
	)
}

main_job() {
	say "1. validate: load, size, render and policy, no cluster needed"
	"$BIN/flinksync" validate --repo "$REPO"

	say "2. size: what each application gets in prod"
	"$BIN/flinksync" size --repo "$REPO" --env prod

	say "3. apply: server-side apply of every environment (field manager flinksync)"
	FS apply

	say "4. apply again: nothing changed in Git or the cluster, so nothing is written"
	FS apply | grep '^environment'

	say "5. a manual change behind Git's back: scale orders-enrich in dev (drift: warn) and staging (drift: correct)"
	K -n flink-dev patch flinkdeployment orders-enrich --type merge -p '{"spec":{"taskManager":{"replicas":9}}}'
	K -n flink-staging patch flinkdeployment orders-enrich --type merge -p '{"spec":{"taskManager":{"replicas":9}}}'

	say "6. drift: every field that differs from Git (exit 1 = drift found)"
	local rc=0
	FS drift || rc=$?
	[ "$rc" -eq 1 ] || { say "expected drift (exit 1), got exit $rc"; return 1; }

	say "7. diff for staging: the unified diff apply would undo"
	rc=0
	FS diff --env staging || rc=$?
	[ "$rc" -eq 1 ] || { say "expected a difference (exit 1), got exit $rc"; return 1; }

	say "8. apply: staging's drift is corrected, dev's is only reported (warn mode)"
	FS apply | grep -E '^environment|drift|drifted|configured ' || true
	printf 'demo: replicas now: dev=%s staging=%s\n' \
		"$(K -n flink-dev get flinkdeployment orders-enrich -o jsonpath='{.spec.taskManager.replicas}')" \
		"$(K -n flink-staging get flinkdeployment orders-enrich -o jsonpath='{.spec.taskManager.replicas}')"
	rc=0
	FS drift || rc=$?
	[ "$rc" -eq 1 ] || { say "dev's drift must remain (warn mode), got exit $rc"; return 1; }

	say "9. Flink SQL in prod-eu (CFK), in apply order: secrets and their mappings, the catalog and its databases, the compute pool, the DDL statement, then the streaming ones"
	K -n flink-prod-eu get "$SQL_SETUP_KINDS"
	K -n flink-prod-eu get flinkstatements -L flinksync.dev/sql-kind
	local statements
	statements="$(K -n flink-prod-eu get flinkstatements -o name | wc -l)"
	[ "$statements" -eq 3 ] || { say "expected 3 FlinkStatements in prod-eu, found $statements"; return 1; }

	say "10. new SQL for checkout-pageviews in Git: CFK refuses new SQL on a running statement, so it is a new statement (a new hash in its name); plan calls it a replacement"
	sed -i "s|OR \`page_id\` = '/cart';|OR \`page_id\` IN ('/cart', '/basket');|" "$REPO/statements/checkout-pageviews.yaml"
	grep -q "'/basket'" "$REPO/statements/checkout-pageviews.yaml" || { say "the demo's SQL edit did not apply"; return 1; }
	commit_repo "checkout-pageviews: the basket page is part of the funnel"
	local old new
	old="$(K -n flink-prod-eu get flinkstatements -l app.kubernetes.io/name=checkout-pageviews -o jsonpath='{.items[*].metadata.name}')"
	rc=0
	FS plan --base HEAD~1 --head HEAD || rc=$?
	[ "$rc" -eq 1 ] || { say "expected a change (exit 1), got exit $rc"; return 1; }

	say "11. apply: the new statement is created, then the old one pruned"
	FS apply --env prod-eu | grep -E '^environment|FlinkStatement' || true
	new="$(K -n flink-prod-eu get flinkstatements -l app.kubernetes.io/name=checkout-pageviews -o jsonpath='{.items[*].metadata.name}')"
	printf 'demo: checkout-pageviews: %s -> %s\n' "$old" "$new"
	[ -n "$new" ] && [ "$new" != "$old" ] && [ "${new// /}" = "$new" ] ||
		{ say "expected one new FlinkStatement in place of $old, found: $new"; return 1; }
}

main() {
	mkdir -p "$DEMO"
	if [ -f "$PID_FILE" ]; then
		say "stopping the previous demo"
		bash "$ROOT/hack/demo-stop.sh"
	fi
	start_controlplane

	local job_rc=0
	if make_repo; then
		say "running main_job"
		main_job || job_rc=$?
	fi

	cat <<EOF

demo: control plane running at $SERVER (namespaces: ${NAMESPACES% })
demo:   kubeconfig: .demo/kubeconfig
demo:   look:       kubectl --kubeconfig .demo/kubeconfig get flinkdeployments,flinksessionjobs -A
demo:               kubectl --kubeconfig .demo/kubeconfig get flinkenvironments,flinkapplications -A
demo:               kubectl --kubeconfig .demo/kubeconfig -n flink-prod-eu get $SQL_KINDS
demo:   logs:       .demo/demo-controlplane.log, .demo/controlplane.log
demo:   stop:       make demo-stop
EOF
	if [ "$job_rc" -ne 0 ]; then
		die "main_job failed (exit $job_rc); the control plane is still running for inspection"
	fi
}

main "$@"
