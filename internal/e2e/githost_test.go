//go:build unix

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/slipwayhq/slipway/internal/sshrig"
)

// Commands for Slipway behind another git server on the same machine.
//
//	git-host             start an OpenSSH git server (one sshd as the
//	                     current user) where alice, bob and mallory log in
//	                     with their keys, each forced into git-shell with
//	                     GL_USER set to their name, as gitolite does; sets
//	                     GIT_HOST (ssh://USER@127.0.0.1:PORT) and
//	                     GIT_HOST_USER (the OS account the hooks run as)
//	serve-external SOCK  start slipway serve --config $WORK/slipway.toml,
//	                     which listens on no TCP port, and wait until the
//	                     unix socket SOCK exists
func init() {
	scriptCommands["git-host"] = cmdGitHost
	scriptCommands["serve-external"] = cmdServeExternal
}

func cmdGitHost(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: git-host")
	}
	shell, err := exec.LookPath("git-shell")
	if err != nil {
		ts.Fatalf("git-host needs git-shell, which comes with git (guard the script with [!exec:git-shell] skip)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rig, err := sshrig.Start(ctx, ts.MkAbs("githost"), 1, "git")
	if err != nil {
		ts.Fatalf("git-host: %v", err)
	}
	ts.Defer(func() { rig.Close() })
	h := rig.Hosts[0]
	var lines []string
	for _, owner := range keyOwners {
		pub := ts.Getenv(strings.ToUpper(owner) + "_PUB")
		// The login shell runs the forced command; git-shell then runs
		// only git-receive-pack, git-upload-pack and git-upload-archive.
		lines = append(lines, fmt.Sprintf(`command="GL_USER=%s exec %s -c \"$SSH_ORIGINAL_COMMAND\"",no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-pty %s`, owner, shell, pub))
	}
	ts.Check(h.AddAuthorizedKeys(lines...))
	u, err := user.Current()
	ts.Check(err)
	ts.Setenv("GIT_HOST", fmt.Sprintf("ssh://%s@127.0.0.1:%d", h.User, h.Port))
	ts.Setenv("GIT_HOST_USER", u.Username)
}

func cmdServeExternal(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: serve-external SOCKET")
	}
	st := stateOf(ts)
	if st.server != nil && !st.server.exited() {
		ts.Fatalf("serve-external: slipway serve is already running (pid %d)", st.server.cmd.Process.Pid)
	}
	sock := ts.MkAbs(args[0])
	os.Remove(sock)
	logFile, err := os.OpenFile(filepath.Join(st.work, "serve.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o666)
	ts.Check(err)
	defer logFile.Close()
	cmd := exec.Command(slipwayBin, "serve", "--config", filepath.Join(st.work, "slipway.toml"))
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = scriptEnv(ts)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	p, err := startProcess(st, cmd)
	ts.Check(err)
	st.server = p
	giveUp := time.Now().Add(serveReadyTimeout)
	for {
		if fi, err := os.Stat(sock); err == nil && fi.Mode()&os.ModeSocket != 0 {
			break
		}
		if p.exited() {
			ts.Fatalf("serve-external: slipway exited (%s) before opening %s", p.status(), sock)
		}
		if time.Now().After(giveUp) {
			ts.Fatalf("serve-external: %s did not appear within %v", sock, serveReadyTimeout)
		}
		p.waitFor(pollInterval)
	}
	ts.Logf("slipway serve running as pid %d, external socket %s", cmd.Process.Pid, sock)
}
