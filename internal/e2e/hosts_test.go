//go:build unix

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/slipwayhq/slipway/internal/sshrig"
)

// Commands that give a script real remote hosts: sshd processes on
// loopback ports, each with its own directory.
//
//	hosts N              start web-1..web-N; sets WEBi_PORT, WEBi_ROOT,
//	                     HOSTS_USER, RIG_KEY (a key every host accepts),
//	                     RIG_KNOWN_HOSTS and RIG_SSH_CONFIG
//	host-stop NAME       stop a host's sshd (it becomes unreachable)
//	host-kill NAME       SIGKILL its sshd and every session, cutting transfers
//	host-start NAME      start it again, same port and host key
func init() {
	scriptCommands["hosts"] = cmdHosts
	scriptCommands["host-stop"] = hostOp("host-stop")
	scriptCommands["host-kill"] = hostOp("host-kill")
	scriptCommands["host-start"] = hostOp("host-start")
}

var (
	rigsMu sync.Mutex
	rigs   = map[*testscript.TestScript]*sshrig.Rig{}
)

func cmdHosts(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: hosts N")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 {
		ts.Fatalf("hosts: want a host count, got %q", args[0])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rig, err := sshrig.Start(ctx, ts.MkAbs("hosts"), n, "web")
	if err != nil {
		ts.Fatalf("hosts: %v", err)
	}
	rigsMu.Lock()
	rigs[ts] = rig
	rigsMu.Unlock()
	ts.Defer(func() {
		rig.Close()
		rigsMu.Lock()
		delete(rigs, ts)
		rigsMu.Unlock()
	})
	u, err := user.Current()
	if err != nil {
		ts.Fatalf("hosts: %v", err)
	}
	ts.Setenv("HOSTS_USER", u.Username)
	ts.Setenv("RIG_KEY", rig.ClientKey)
	ts.Setenv("RIG_KNOWN_HOSTS", rig.KnownHosts)
	ts.Setenv("RIG_SSH_CONFIG", rig.SSHConfig)
	for i, h := range rig.Hosts {
		prefix := fmt.Sprintf("WEB%d_", i+1)
		ts.Setenv(prefix+"PORT", strconv.Itoa(h.Port))
		ts.Setenv(prefix+"ROOT", h.Root)
	}
}

func hostOp(op string) func(ts *testscript.TestScript, neg bool, args []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 1 || neg {
			ts.Fatalf("usage: %s NAME", op)
		}
		rigsMu.Lock()
		rig := rigs[ts]
		rigsMu.Unlock()
		if rig == nil {
			ts.Fatalf("no hosts started; use `hosts N` first")
		}
		h := rig.Host(args[0])
		if h == nil {
			ts.Fatalf("no host %q", args[0])
		}
		var err error
		switch op {
		case "host-stop":
			err = h.Stop()
		case "host-kill":
			err = h.Kill()
		case "host-start":
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err = h.Start(ctx)
		}
		if err != nil {
			ts.Fatalf("%s %s: %v\n%s", op, h.Name, err, tail(h.Log(), 20))
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// tmpfs DIR SIZE mounts a small tmpfs at DIR (root only) until the script
// ends: a host whose disk fills up.
func init() {
	scriptCommands["tmpfs"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 2 {
			ts.Fatalf("usage: tmpfs DIR SIZE")
		}
		dir := ts.MkAbs(args[0])
		ts.Check(os.MkdirAll(dir, 0o755))
		out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+args[1], "tmpfs", dir).CombinedOutput()
		if err != nil {
			ts.Fatalf("mount tmpfs: %v: %s", err, out)
		}
		ts.Defer(func() { exec.Command("umount", "-l", dir).Run() })
	}
}
