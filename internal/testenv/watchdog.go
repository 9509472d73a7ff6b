package testenv

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// watchdogScript waits for its parent, the process $WATCH_PID, to end, then
// kills every process whose command line mentions $WATCH_DIR (etcd's
// --data-dir and kube-apiserver's --cert-dir are inside it) and removes
// $WATCH_DIR. The values come through the environment so the watchdog's own
// command line does not match. The parent is gone when the watchdog's parent
// pid changes (the kernel reparents it at once); `kill -0` would still see the
// parent as a zombie until someone reaps it.
const watchdogScript = `
while [ "$(cut -d' ' -f4 /proc/$$/stat 2>/dev/null)" = "$WATCH_PID" ]; do sleep 1; done
signal_all() {
	found=1
	for p in /proc/[0-9]*; do
		case "$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)" in
		*"$WATCH_DIR"*) kill -"$1" "${p#/proc/}" 2>/dev/null && found=0 ;;
		esac
	done
	return $found
}
# No graceful shutdown: the control plane's state is thrown away anyway.
i=0
while signal_all KILL && [ $i -lt 10 ]; do sleep 0.5; i=$((i+1)); done
rm -rf "$WATCH_DIR"
`

// watchdog is a shell process that cleans up after the control plane if this
// process dies without calling Env.Stop.
type watchdog struct{ cmd *exec.Cmd }

// startWatchdog starts a watchdog for the control plane living in dir. It
// needs a Linux-like /proc and /bin/sh; without them it does nothing.
func startWatchdog(dir string) *watchdog {
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		return nil
	}
	cmd := exec.Command("/bin/sh", "-c", watchdogScript)
	cmd.Env = append(os.Environ(), "WATCH_PID="+strconv.Itoa(os.Getpid()), "WATCH_DIR="+dir)
	// Its own process group: Ctrl-C in a terminal must not stop it with us.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Stdin, Stdout and Stderr stay nil (/dev/null): `go test` waits for every
	// holder of the test binary's output pipe to exit.
	if err := cmd.Start(); err != nil {
		return nil
	}
	return &watchdog{cmd: cmd}
}

// stop ends the watchdog after a clean Env.Stop.
func (w *watchdog) stop() {
	if w == nil {
		return
	}
	_ = w.cmd.Process.Kill()
	_ = w.cmd.Wait()
}
