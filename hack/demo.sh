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
#   .demo/cmf-standin.pid       pid of bin/demo-cmf-standin
#   .demo/cmf-standin.log       its log
#   .demo/cmf-standin/          its client certificate, key and CA, URL
#                               (ready) and counts (status, violations.log)
#
# The example's target: cmf environment (prod-cmf) is synced with a CMF
# STAND-IN, not CMF: CMF is proprietary and not available here. The stand-in
# is the tests' (internal/cmf/cmftest), run as a local process
# (hack/demo/cmf-standin): it holds resources in memory, serves mTLS with
# certificates it makes and checks every request against CMF 2.3.1's API
# description in ../shared/reference/cmf. flinksync is pointed at it with
# --cmf-endpoint prod-cmf=URL, and reads the client certificate from the
# Secret the environment names (cmf-client-tls in flink-prod-cmf), which the
# demo creates. Without the API description the demo says so and leaves the
# cmf environment out of .demo/repo; everything else runs.
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
# The example's cmf environment, its namespace and the Secret of its client
# certificate (examples/repo-layout/environments/prod-cmf.yaml).
CMF_ENV=prod-cmf
CMF_NAMESPACE=flink-prod-cmf
CMF_CLIENT_SECRET=cmf-client-tls
CMF_DESCRIPTION="$(cd "$ROOT/.." && pwd)/shared/reference/cmf/openapi-2.3.1.yaml"
CMF_DIR="$DEMO/cmf-standin"
CMF_PID_FILE="$DEMO/cmf-standin.pid"
CMF_LOG="$DEMO/cmf-standin.log"
CMF_URL=""
CMF_FLAGS=()

say() { printf 'demo: %s\n' "$*"; }
note() { printf 'demo: NOTE: %s\n' "$*"; }
die() { printf 'demo: ERROR: %s\n' "$*" >&2; exit 1; }

show_logs() {
	local f
	for f in "$STARTER_LOG" "$CP_LOG" "$CMF_LOG"; do
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

# start_cmf_standin: start bin/demo-cmf-standin, the CMF stand-in, with
# the CMF secrets the example's catalog names (an administrator creates them
# in CMF; flinksync only maps them), and put its client certificate into the
# Secret prod-cmf names. Sets CMF_URL and CMF_FLAGS; without the API
# description it sets neither and the cmf environment is skipped.
start_cmf_standin() {
	if [ ! -f "$EXAMPLE/environments/$CMF_ENV.yaml" ]; then
		note "examples/repo-layout has no environment $CMF_ENV; no CMF stand-in started"
		return 0
	fi
	if [ ! -f "$CMF_DESCRIPTION" ]; then
		note "CMF's API description is not at $CMF_DESCRIPTION: the CMF stand-in cannot check requests without it, so it is not started and the cmf environment $CMF_ENV is SKIPPED (left out of .demo/repo)"
		return 0
	fi
	say "building bin/demo-cmf-standin (the tests' CMF stand-in, NOT CMF)"
	(cd "$ROOT" && go build -o "$BIN/demo-cmf-standin" ./hack/demo/cmf-standin)
	local args=() name
	for name in $(awk '$1 == "secret:" { print $2 }' "$EXAMPLE"/catalogs/*.yaml | sort -u); do
		args+=(--secret "$name")
	done
	rm -rf "$CMF_DIR"
	: > "$CMF_LOG"
	nohup "$BIN/demo-cmf-standin" --dir "$CMF_DIR" "${args[@]}" </dev/null >>"$CMF_LOG" 2>&1 &
	local pid=$! began=$SECONDS rc
	echo "$pid" > "$CMF_PID_FILE"
	while [ ! -f "$CMF_DIR/ready" ]; do
		if ! kill -0 "$pid" 2>/dev/null; then
			rc=0
			wait "$pid" || rc=$?
			rm -f "$CMF_PID_FILE"
			if [ "$rc" -eq 3 ]; then
				note "the CMF stand-in found no API description; the cmf environment $CMF_ENV is SKIPPED"
				return 0
			fi
			show_logs
			die "the CMF stand-in exited during startup (exit $rc; see the logs above)"
		fi
		[ $((SECONDS - began)) -lt 60 ] || die "the CMF stand-in was not ready within 60s (.demo/cmf-standin.log)"
		sleep 0.2
	done
	CMF_URL="$(sed -n 's/^url=//p' "$CMF_DIR/ready")"
	CMF_FLAGS=(--cmf-endpoint "$CMF_ENV=$CMF_URL")
	K -n "$CMF_NAMESPACE" create secret generic "$CMF_CLIENT_SECRET" --type=kubernetes.io/tls \
		--from-file=tls.crt="$CMF_DIR/tls.crt" --from-file=tls.key="$CMF_DIR/tls.key" --from-file=ca.crt="$CMF_DIR/ca.crt" >/dev/null
	say "CMF stand-in (NOT CMF: an in-memory stand-in checking every request against CMF 2.3.1's API description) at $CMF_URL (pid $pid); its client certificate is Secret $CMF_NAMESPACE/$CMF_CLIENT_SECRET; $CMF_ENV is synced with --cmf-endpoint $CMF_ENV=$CMF_URL"
}

# standin KEY: a figure of the CMF stand-in's status file (writes,
# violations), or its resource paths under the prefix KEY=resource:PREFIX.
standin() {
	local status="$CMF_DIR/status" want
	# The status file is rewritten every 0.2 s; wait for the last requests.
	sleep 0.5
	case "$1" in
	resource:*)
		want="${1#resource:}"
		sed -n 's/^resource=//p' "$status" | grep "^$want" || true
		;;
	*) sed -n "s/^$1=//p" "$status" ;;
	esac
}

make_repo() {
	if [ ! -d "$EXAMPLE" ]; then
		note "examples/repo-layout does not exist; no Git repository made"
		return 1
	fi
	rm -rf "$REPO"
	mkdir -p "$REPO"
	cp -R "$EXAMPLE"/. "$REPO"/
	if [ -z "$CMF_URL" ] && [ -f "$REPO/environments/$CMF_ENV.yaml" ]; then
		# No stand-in: the cmf environment and the references to it go.
		rm -f "$REPO/environments/$CMF_ENV.yaml"
		grep -rl --include='*.yaml' -- "$CMF_ENV" "$REPO" | xargs -r sed -i -E "s/, $CMF_ENV([],])/\1/g"
	fi
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
# report, the Flink SQL objects of prod-eu, what the cmf environment
# prod-cmf wrote to the CMF stand-in, and a changed SQL statement replaced by
# a new one (in prod-eu, then on the stand-in). Returns non-zero when a step
# fails unexpectedly.
# ---------------------------------------------------------------------------
FS() { "$BIN/flinksync" "$@" --repo "$REPO" --kubeconfig "$KUBECONFIG_FILE" ${CMF_FLAGS[@]+"${CMF_FLAGS[@]}"}; }
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

	if [ -n "$CMF_URL" ]; then
		say "3. apply: server-side apply of every environment (field manager flinksync); $CMF_ENV (target: cmf) through the REST API of the CMF stand-in (not CMF)"
	else
		say "3. apply: server-side apply of every environment (field manager flinksync)"
	fi
	FS apply

	say "4. apply again: nothing changed in Git or the cluster, so nothing is written"
	local writes=""
	[ -z "$CMF_URL" ] || writes="$(standin writes)"
	FS apply | grep '^environment'
	if [ -n "$CMF_URL" ]; then
		[ "$(standin writes)" = "$writes" ] || { say "the second apply wrote to the CMF stand-in ($writes writes before, $(standin writes) after)"; return 1; }
		say "the CMF stand-in counted no write in the second apply ($writes in all)"
	fi

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

	if [ -n "$CMF_URL" ]; then
		cmf_job || return 1
	else
		say "(the cmf environment $CMF_ENV is skipped: no CMF stand-in, see the NOTE above)"
	fi

	say "10. new SQL for checkout-pageviews in Git: CFK refuses new SQL on a running statement, so it is a new statement (a new hash in its name); plan calls it a replacement"
	sed -i "s|OR \`page_id\` = '/cart';|OR \`page_id\` IN ('/cart', '/basket');|" "$REPO/statements/checkout-pageviews.yaml"
	grep -q "'/basket'" "$REPO/statements/checkout-pageviews.yaml" || { say "the demo's SQL edit did not apply"; return 1; }
	commit_repo "checkout-pageviews: the basket page is part of the funnel"
	local old new
	old="$(K -n flink-prod-eu get flinkstatements -l app.kubernetes.io/name=checkout-pageviews -o jsonpath='{.items[*].metadata.name}')"
	local cmf_old=""
	[ -z "$CMF_URL" ] || cmf_old="$(standin "resource:/environments/$CMF_ENV/statements/checkout-pageviews-" | awk -F/ 'NF == 5')"
	rc=0
	FS plan --base HEAD~1 --head HEAD || rc=$?
	[ "$rc" -eq 1 ] || { say "expected a change (exit 1), got exit $rc"; return 1; }

	say "11. apply: the new statement is created, then the old one pruned"
	FS apply --env prod-eu | grep -E '^environment|FlinkStatement' || true
	new="$(K -n flink-prod-eu get flinkstatements -l app.kubernetes.io/name=checkout-pageviews -o jsonpath='{.items[*].metadata.name}')"
	printf 'demo: checkout-pageviews: %s -> %s\n' "$old" "$new"
	[ -n "$new" ] && [ "$new" != "$old" ] && [ "${new// /}" = "$new" ] ||
		{ say "expected one new FlinkStatement in place of $old, found: $new"; return 1; }

	[ -n "$CMF_URL" ] || return 0
	say "12. the same in $CMF_ENV, on the CMF stand-in (not CMF): the new statement is created, then the old one deleted"
	FS apply --env "$CMF_ENV" | grep -E '^environment|Statement' || true
	local cmf_new
	cmf_new="$(standin "resource:/environments/$CMF_ENV/statements/checkout-pageviews-" | awk -F/ 'NF == 5')"
	printf 'demo: checkout-pageviews on the stand-in: %s -> %s\n' "${cmf_old##*/}" "${cmf_new##*/}"
	[ -n "$cmf_new" ] && [ "$cmf_new" != "$cmf_old" ] && [ "$(printf '%s\n' "$cmf_new" | wc -l)" -eq 1 ] ||
		{ say "expected one new statement on the CMF stand-in in place of $cmf_old, found: $cmf_new"; return 1; }
	local violations
	violations="$(standin violations)"
	[ "$violations" = 0 ] || { say "the CMF stand-in counted $violations request(s) that do not pass CMF's API description (.demo/cmf-standin/violations.log)"; return 1; }
	say "the CMF stand-in counted 0 requests that do not pass CMF 2.3.1's API description ($(standin writes) writes)"
}

# cmf_job: what the first apply made of the cmf environment on the CMF
# stand-in: the CMF environment, the applications that list it, the SQL
# compute pool, the statements, the Kafka catalog with its databases and
# the secret mappings of the catalog's credentials.
cmf_job() {
	say "9b. $CMF_ENV (target: cmf) on the CMF stand-in, NOT CMF: what flinksync wrote through the REST API"
	standin "resource:/environments/$CMF_ENV"
	standin "resource:/catalogs/"
	local apps statements have
	apps="$(grep -l -- "$CMF_ENV" "$REPO"/apps/*.yaml | wc -l)"
	statements="$(grep -l -- "$CMF_ENV" "$REPO"/statements/*.yaml | wc -l)"
	# Direct children only: the stand-in keeps an application's instances under it.
	have="$(standin "resource:/environments/$CMF_ENV/applications/" | awk -F/ 'NF == 5' | wc -l)"
	[ "$have" -eq "$apps" ] || { say "expected $apps applications on the CMF stand-in, found $have"; return 1; }
	have="$(standin "resource:/environments/$CMF_ENV/statements/" | awk -F/ 'NF == 5' | wc -l)"
	[ "$have" -eq "$statements" ] || { say "expected $statements statements on the CMF stand-in, found $have"; return 1; }
	[ -n "$(standin "resource:/environments/$CMF_ENV/compute-pools/sql")" ] || { say "no compute pool sql on the CMF stand-in"; return 1; }
	[ -n "$(standin "resource:/catalogs/kafka/kafka")" ] || { say "no Kafka catalog kafka on the CMF stand-in"; return 1; }
	local violations
	violations="$(standin violations)"
	[ "$violations" = 0 ] || { say "the CMF stand-in counted $violations request(s) that do not pass CMF's API description (.demo/cmf-standin/violations.log)"; return 1; }
}

main() {
	mkdir -p "$DEMO"
	if [ -f "$PID_FILE" ] || [ -f "$CMF_PID_FILE" ]; then
		say "stopping the previous demo"
		bash "$ROOT/hack/demo-stop.sh"
	fi
	start_controlplane
	start_cmf_standin

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
	if [ -n "$CMF_URL" ]; then
		cat <<EOF
demo: the CMF stand-in (NOT CMF) of $CMF_ENV runs at $CMF_URL (mTLS; .demo/cmf-standin/ holds its client certificate)
demo:   look:       cat .demo/cmf-standin/status   (its resources, writes and violations of CMF's API description)
demo:   sync:       bin/flinksync drift --repo .demo/repo --kubeconfig .demo/kubeconfig --env $CMF_ENV --cmf-endpoint $CMF_ENV=$CMF_URL
EOF
	fi
	if [ "$job_rc" -ne 0 ]; then
		die "main_job failed (exit $job_rc); the control plane is still running for inspection"
	fi
}

main "$@"
