//go:build linux

package openssh

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/internal/sshrig"
	"github.com/slipwayhq/slipway/release/host"
	"github.com/slipwayhq/slipway/release/host/hosttest"
	"github.com/slipwayhq/slipway/release/transport/rsync"
)

// rigHost is the first host of r as a Host deploying under dir, with a
// private control directory as the daemon gives it.
func rigHost(t testing.TB, r *sshrig.Rig, dir string, opt Options) *Host {
	t.Helper()
	h := r.Hosts[0]
	ctl := sshrig.ControlDir(t)
	if opt.KeyFile == "" {
		opt.KeyFile = r.ClientKey
	}
	if opt.KnownHosts == "" {
		opt.KnownHosts = r.KnownHosts
	}
	opt.ControlDir = ctl
	s := New(&config.Host{Name: h.Name, Address: h.Addr(), User: h.User}, dir, opt)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	hosttest.Run(t, func(t testing.TB, dirName string) (host.Host, string) {
		r := sshrig.StartT(t, 1)
		dir := filepath.Join(r.Hosts[0].Root, dirName)
		return rigHost(t, r, dir, Options{}), dir
	})
}

// What goes wrong on the way to a host is a typed error the engine can
// tell apart, and its message says what to do.
func TestConnectionErrorsAreTyped(t *testing.T) {
	r := sshrig.StartT(t, 1)
	ctx := context.Background()
	dir := filepath.Join(r.Hosts[0].Root, "app")
	empty := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The rig's host key recorded for another key: what a reinstalled host,
	// or one in between, looks like.
	changed := filepath.Join(t.TempDir(), "known_hosts")
	other := filepath.Join(t.TempDir(), "other")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pub, err := os.ReadFile(other + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	known, err := os.ReadFile(r.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	name, _, _ := strings.Cut(string(known), " ")
	if err := os.WriteFile(changed, []byte(name+" "+strings.Join(strings.Fields(string(pub))[:2], " ")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stranger := filepath.Join(t.TempDir(), "id")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", stranger).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	for _, tc := range []struct {
		name string
		opt  Options
		addr string
		kind error
		says string
	}{
		{"host key changed", Options{KnownHosts: changed}, "", host.ErrHostKeyChanged, "slipway trust --replace"},
		{"host key unknown", Options{KnownHosts: empty}, "", host.ErrHostKeyUnknown, "slipway trust"},
		{"login refused", Options{KeyFile: stranger}, "", host.ErrLoginRefused, "slipway pubkey"},
		{"unreachable", Options{}, "127.0.0.1:" + freePort(t), host.ErrUnreachable, "cannot reach web-1: ssh: connect to host 127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := rigHost(t, r, dir, tc.opt)
			if tc.addr != "" {
				h.host, h.port, _ = strings.Cut(tc.addr, ":")
			}
			_, err := h.Open(ctx)
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("Open = %v; want %v, saying %q", err, tc.kind, tc.says)
			}
			src := t.TempDir()
			hosttest.WriteTree(t, src, map[string]string{"a": "a"})
			if _, err := h.Upload(ctx, src, "v1", "", nil); !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("Upload = %v; want %v, saying %q", err, tc.kind, tc.says)
			}
		})
	}
}

// A connection that drops before the end of the variables runs nothing:
// the command must not start with half its environment. (The conformance
// suite runs it with the whole environment.)
func TestAttachScriptNeedsTheWholeEnvironment(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("sh", "-c", attachScript, "sh", dir, "10", "echo ran", "slipway-end-0123")
	cmd.Stdin = strings.NewReader("export V=half\n")
	out, err := cmd.CombinedOutput()
	if err == nil || strings.Contains(string(out), "ran") {
		t.Errorf("attachScript without its end line = %v, %q; want a failure and nothing run", err, out)
	}
}

func TestRsyncHost(t *testing.T) {
	for in, want := range map[string]string{
		"web-1.example.com": "web-1.example.com",
		"10.0.0.7":          "10.0.0.7",
		"2001:db8::1":       "[2001:db8::1]",
		"[2001:db8::1]":     "[2001:db8::1]",
	} {
		if got := rsyncHost(in); got != want {
			t.Errorf("rsyncHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func freePort(t *testing.T) string {
	p, err := sshrig.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(p)
}

// A remote command or script that fails is not a connection failure, even
// when it exits with ssh's own 255 (a hook that runs ssh itself).
func TestCommandFailuresAreNotConnectionFailures(t *testing.T) {
	r := sshrig.StartT(t, 1)
	ctx := context.Background()
	dir := filepath.Join(r.Hosts[0].Root, "app")
	h := rigHost(t, r, dir, Options{})
	connection := []error{host.ErrUnreachable, host.ErrHostKeyChanged, host.ErrHostKeyUnknown, host.ErrLoginRefused}
	src := t.TempDir()
	hosttest.WriteTree(t, src, map[string]string{"a": "a"})
	if _, err := h.Upload(ctx, src, "v1", "", nil); err != nil {
		t.Fatal(err)
	}
	_, upload := h.Upload(ctx, src, "v1", "", nil)
	run := h.Run(ctx, "", "echo 'Permission denied (publickey).' >&2; exit 255", nil, nil)
	attach := h.Attach(ctx, "", "exit 255", nil, nil)
	for _, tc := range []struct {
		name string
		err  error
		says string
	}{
		{"upload of a release that exists", upload, "releases/v1 already exists"},
		{"run of a command that exits 255", run, "exit status 255"},
		{"attach of a command that exits 255", attach, "exit status 255"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.says) {
			t.Errorf("%s = %v, want it to say %q", tc.name, tc.err, tc.says)
		}
		for _, kind := range connection {
			if errors.Is(tc.err, kind) {
				t.Errorf("%s = %v, taken for %v", tc.name, tc.err, kind)
			}
		}
	}
}

// What rsync's standard error says decides whether an upload failed to
// connect; a remote file error is not a refused login.
func TestExplainRsync(t *testing.T) {
	h := New(&config.Host{Name: "web-1", Address: "web-1"}, "/srv/app", Options{})
	for _, tc := range []struct {
		stderr string
		kind   error // nil: not a connection failure
	}{
		{"deploy@web-1: Permission denied (publickey,password).\r\nrsync: connection unexpectedly closed (0 bytes received so far) [sender]", host.ErrLoginRefused},
		{"ssh: connect to host web-1 port 22: Connection refused\r\nrsync: connection unexpectedly closed", host.ErrUnreachable},
		{"Host key verification failed.\r\nrsync: connection unexpectedly closed", host.ErrHostKeyUnknown},
		{`rsync: [Receiver] mkdir "/srv/app/releases/.v2.partial" failed: Permission denied (13)` + "\nrsync error: error in file IO (code 11)", nil},
		{"slipway: releases/v2 already exists\nrsync: connection unexpectedly closed", nil},
	} {
		err := h.explainRsync(&rsync.Error{Err: errors.New("exit status 12"), Stderr: tc.stderr})
		for _, kind := range []error{host.ErrLoginRefused, host.ErrUnreachable, host.ErrHostKeyUnknown, host.ErrHostKeyChanged} {
			if errors.Is(err, kind) != (kind == tc.kind) {
				t.Errorf("explainRsync(%q) = %v; want kind %v", tc.stderr, err, tc.kind)
			}
		}
	}
}
