//go:build linux

package e2e

import (
	"flag"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/slipwayhq/slipway/internal/proctest"
)

// waitGoneTimeout bounds wait-gone; it only ends a broken run.
const waitGoneTimeout = time.Minute

// wait-gone [-timeout DURATION] PIDFILE
//
// Reads a process id from PIDFILE (written by a command on a host, which
// is a process of this machine) and waits until that process has exited:
// it no longer exists or is a zombie nobody has reaped yet. It fails if the
// process is still running after the timeout (1m), which only ends a
// broken run.
func init() {
	scriptCommands["wait-gone"] = cmdWaitGone
}

func cmdWaitGone(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! wait-gone")
	}
	fs := flag.NewFlagSet("wait-gone", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	timeout := fs.Duration("timeout", waitGoneTimeout, "")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		ts.Fatalf("usage: wait-gone [-timeout DURATION] PIDFILE")
	}
	data, err := os.ReadFile(ts.MkAbs(fs.Arg(0)))
	ts.Check(err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		ts.Fatalf("wait-gone: %s holds %q, not a process id", fs.Arg(0), data)
	}
	giveUp := time.Now().Add(*timeout)
	for proctest.Running(pid) {
		if time.Now().After(giveUp) {
			cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
			ts.Fatalf("wait-gone: process %d (%s) still runs after %v", pid, strings.ReplaceAll(string(cmdline), "\x00", " "), *timeout)
		}
		time.Sleep(pollInterval)
	}
}
