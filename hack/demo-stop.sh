#!/usr/bin/env bash
# hack/demo-stop.sh: stop the control plane that hack/demo.sh started.
#
# Sends SIGTERM to the pid in .demo/controlplane.pid (bin/demo-controlplane,
# which stops etcd and kube-apiserver itself), waits for it (bounded), then
# makes sure no etcd or kube-apiserver of the demo remains: a process whose
# executable is this repository's bin/etcd or bin/kube-apiserver and whose
# command line points into .demo/ is stopped (TERM, then KILL). Control planes
# of running tests (same binaries, files outside .demo/) are left alone.
# The CMF stand-in (bin/demo-cmf-standin, pid in .demo/cmf-standin.pid) is
# stopped the same way, and its folder .demo/cmf-standin removed.
# Safe to run when nothing is running.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BIN:-$ROOT/bin}"
DEMO="$ROOT/.demo"
PID_FILE="$DEMO/controlplane.pid"
CMF_PID_FILE="$DEMO/cmf-standin.pid"
STOP_TIMEOUT="${DEMO_STOP_TIMEOUT:-40}"

say() { printf 'demo-stop: %s\n' "$*"; }

# wait_gone PID SECONDS: wait until PID is gone; false on timeout.
wait_gone() {
	local pid=$1 deadline=$((SECONDS + $2))
	while kill -0 "$pid" 2>/dev/null; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

# The demo's leftover etcd and kube-apiserver processes, one pid per line.
leftovers() {
	local p exe cmd
	for p in /proc/[0-9]*; do
		exe="$(readlink "$p/exe" 2>/dev/null)" || continue
		case "$exe" in
		"$BIN/etcd" | "$BIN/etcd (deleted)" | "$BIN/kube-apiserver" | "$BIN/kube-apiserver (deleted)") ;;
		*) continue ;;
		esac
		cmd="$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" || continue
		case "$cmd" in
		*"$DEMO/"*) echo "${p#/proc/}" ;;
		esac
	done
}

stopped=0
if [ -f "$PID_FILE" ]; then
	pid="$(cat "$PID_FILE")"
	if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
		[[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == "$BIN/demo-controlplane"* ]]; then
		say "stopping bin/demo-controlplane (pid $pid)"
		kill -TERM "$pid"
		if ! wait_gone "$pid" "$STOP_TIMEOUT"; then
			say "pid $pid still running after ${STOP_TIMEOUT}s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
			wait_gone "$pid" 5 || true
		fi
		stopped=1
	else
		say "no demo control plane running under pid $pid (stale pid file)"
	fi
fi

if [ -f "$CMF_PID_FILE" ]; then
	pid="$(cat "$CMF_PID_FILE")"
	if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
		[[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == "$BIN/demo-cmf-standin"* ]]; then
		say "stopping bin/demo-cmf-standin, the CMF stand-in (pid $pid)"
		kill -TERM "$pid"
		wait_gone "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true
		stopped=1
	fi
	rm -f "$CMF_PID_FILE"
fi
rm -rf "$DEMO/cmf-standin"

pids="$(leftovers)"
if [ -n "$pids" ]; then
	say "stopping leftover demo processes: $(echo $pids)"
	kill -TERM $pids 2>/dev/null || true
	for pid in $pids; do wait_gone "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true; done
	for pid in $pids; do wait_gone "$pid" 5 || say "WARNING: pid $pid survived SIGKILL"; done
	stopped=1
fi

rm -f "$PID_FILE" "$DEMO/ready" "$DEMO/kubeconfig"
rm -rf "$DEMO/tmp"
if [ "$stopped" -eq 1 ]; then say "stopped"; else say "nothing was running"; fi
