//go:build unix

package sshrig

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipwayhq/slipway/internal/proctest"
	"github.com/slipwayhq/slipway/internal/shell"
)

// waitFor polls cond until it holds; the deadline only keeps a broken run
// from hanging, it is not a timing goal.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// realSSH runs the ssh binary the way a user would, with the rig's config.
func realSSH(ctx context.Context, r *Rig, host, command string) (string, error) {
	out, err := exec.CommandContext(ctx, "ssh", "-F", r.SSHConfig, host, command).CombinedOutput()
	return string(out), err
}

func TestRig(t *testing.T) {
	r := StartT(t, 3)
	ctx := t.Context()

	t.Run("layout", func(t *testing.T) {
		kh, err := os.ReadFile(r.KnownHosts)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := os.ReadFile(r.SSHConfig)
		if err != nil {
			t.Fatal(err)
		}
		ports := map[int]bool{}
		for i, h := range r.Hosts {
			if want := "web-" + strconv.Itoa(i+1); h.Name != want {
				t.Errorf("host %d is named %q, want %q", i, h.Name, want)
			}
			if h.Port == 0 || ports[h.Port] {
				t.Errorf("%s: port %d is zero or shared", h.Name, h.Port)
			}
			ports[h.Port] = true
			if want := "127.0.0.1:" + strconv.Itoa(h.Port); h.Addr() != want {
				t.Errorf("%s: Addr() = %q, want %q", h.Name, h.Addr(), want)
			}
			if !strings.HasPrefix(h.HostKeyLine, "[127.0.0.1]:"+strconv.Itoa(h.Port)+" ssh-ed25519 ") {
				t.Errorf("%s: HostKeyLine = %q", h.Name, h.HostKeyLine)
			}
			if !bytes.Contains(kh, []byte(h.HostKeyLine+"\n")) {
				t.Errorf("%s: known_hosts lacks %q:\n%s", h.Name, h.HostKeyLine, kh)
			}
			if !bytes.Contains(cfg, []byte("Host "+h.Name+"\n")) {
				t.Errorf("%s: ssh_config has no Host block:\n%s", h.Name, cfg)
			}
			if st, err := os.Stat(h.Root); err != nil || !st.IsDir() {
				t.Errorf("%s: Root %s is not a directory: %v", h.Name, h.Root, err)
			}
			if r.Host(h.Name) != h {
				t.Errorf("Host(%q) does not return the host", h.Name)
			}
		}
		st, err := os.Stat(r.ClientKey)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("client key mode %v, want 0600", st.Mode().Perm())
		}
		if !strings.HasPrefix(r.ClientPub, "ssh-ed25519 ") {
			t.Errorf("ClientPub = %q", r.ClientPub)
		}
	})

	t.Run("ssh", func(t *testing.T) {
		web2 := r.Host("web-2")
		out, err := realSSH(ctx, r, "web-2", "cd "+shell.Quote(web2.Root)+" && echo hi > f && cat f")
		if err != nil {
			t.Fatalf("ssh web-2: %v\n%s\nsshd log:\n%s", err, out, web2.Log())
		}
		if out != "hi\n" {
			t.Fatalf("ssh web-2 printed %q, want %q", out, "hi\n")
		}
		if b, err := os.ReadFile(filepath.Join(web2.Root, "f")); err != nil || string(b) != "hi\n" {
			t.Fatalf("web-2 Root/f = %q, %v", b, err)
		}
		for _, name := range []string{"web-1", "web-3"} {
			if _, err := os.Stat(filepath.Join(r.Host(name).Root, "f")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s has web-2's file: %v", name, err)
			}
		}
		user, err := r.SSH(ctx, "web-2", "id -un")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(user)); got != web2.User {
			t.Errorf("logged in as %q, want %q", got, web2.User)
		}
	})

	t.Run("rsync", func(t *testing.T) {
		if _, err := exec.LookPath("rsync"); err != nil {
			t.Skip("rsync is not installed")
		}
		src := t.TempDir()
		files := map[string]string{
			"index.html":     "<h1>shop</h1>\n",
			"app/main.js":    "console.log('v1')\n",
			"app/lib/db.txt": strings.Repeat("row\n", 1000),
		}
		for name, content := range files {
			p := filepath.Join(src, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		web3 := r.Host("web-3")
		cmd := exec.CommandContext(ctx, "rsync", "-a", "-e", "ssh -F "+r.SSHConfig,
			src+"/", "web-3:"+web3.Root+"/dst/")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("rsync: %v\n%s\nsshd log:\n%s", err, out, web3.Log())
		}
		for name, content := range files {
			b, err := os.ReadFile(filepath.Join(web3.Root, "dst", name))
			if err != nil || string(b) != content {
				t.Errorf("web-3 dst/%s = %q, %v; want %q", name, b, err, content)
			}
		}
	})

	t.Run("kill cuts sessions and restart keeps the host key", func(t *testing.T) {
		web1 := r.Host("web-1")
		keyLine := web1.HostKeyLine
		knownBefore, err := os.ReadFile(r.KnownHosts)
		if err != nil {
			t.Fatal(err)
		}

		// A session in flight: the remote shell records its pid and
		// becomes a long sleep.
		pidFile := filepath.Join(web1.Root, "session.pid")
		session := exec.CommandContext(ctx, "ssh", "-F", r.SSHConfig, "web-1",
			"echo $$ > "+shell.Quote(pidFile)+" && exec sleep 600")
		if err := session.Start(); err != nil {
			t.Fatal(err)
		}
		sessionDone := make(chan error, 1)
		go func() { sessionDone <- session.Wait() }()
		var remotePID int
		waitFor(t, "the remote session to start", func() bool {
			b, err := os.ReadFile(pidFile)
			if err != nil {
				return false
			}
			remotePID, err = strconv.Atoi(strings.TrimSpace(string(b)))
			return err == nil
		})

		if err := web1.Kill(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-sessionDone:
			if err == nil {
				t.Error("the ssh session ended cleanly, want it cut")
			}
		case <-time.After(30 * time.Second):
			_ = session.Process.Kill()
			t.Fatal("the ssh session survived Kill")
		}
		waitFor(t, "the remote command to die", func() bool { return !proctest.Running(remotePID) })

		if out, err := r.SSH(ctx, "web-1", "true"); err == nil {
			t.Fatalf("ssh to a killed host succeeded: %q", out)
		}
		if err := web1.Kill(); err != nil {
			t.Errorf("second Kill: %v", err)
		}

		if err := web1.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if web1.HostKeyLine != keyLine {
			t.Errorf("host key line changed: %q -> %q", keyLine, web1.HostKeyLine)
		}
		knownAfter, err := os.ReadFile(r.KnownHosts)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(knownBefore, knownAfter) {
			t.Errorf("known_hosts changed across restart:\n%s\n---\n%s", knownBefore, knownAfter)
		}
		// StrictHostKeyChecking yes with the unchanged known_hosts.
		out, err := realSSH(ctx, r, "web-1", "echo back")
		if err != nil || out != "back\n" {
			t.Fatalf("ssh after restart: %q, %v\nsshd log:\n%s", out, err, web1.Log())
		}
		if !strings.Contains(web1.Log(), "Server listening on 127.0.0.1 port "+strconv.Itoa(web1.Port)) {
			t.Errorf("sshd log lacks the listening line:\n%s", web1.Log())
		}
	})

	t.Run("stop and start", func(t *testing.T) {
		web2 := r.Host("web-2")
		marker := filepath.Join(web2.Root, "marker")
		if err := os.WriteFile(marker, []byte("still here\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := web2.Start(ctx); err == nil {
			t.Error("Start on a running host succeeded")
		}
		if err := web2.Stop(); err != nil {
			t.Fatal(err)
		}
		if out, err := r.SSH(ctx, "web-2", "true"); err == nil {
			t.Fatalf("ssh to a stopped host succeeded: %q", out)
		}
		if err := web2.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if out, err := r.SSH(ctx, "web-2", "cat "+shell.Quote(marker)); err != nil || string(out) != "still here\n" {
			t.Fatalf("after restart: %q, %v", out, err)
		}
	})
}

func TestStartRejectsBadArguments(t *testing.T) {
	if _, err := Start(t.Context(), t.TempDir(), 0, ""); err == nil {
		t.Error("Start with 0 hosts succeeded")
	}
	if _, err := Start(t.Context(), t.TempDir(), 1, "web 1"); err == nil {
		t.Error("Start with a prefix holding a space succeeded")
	}
}

func TestStartPrefixAndClose(t *testing.T) {
	r, err := Start(t.Context(), t.TempDir(), 1, "db")
	if errors.Is(err, ErrUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	h := r.Hosts[0]
	if h.Name != "db-1" {
		t.Errorf("name %q, want db-1", h.Name)
	}
	if _, err := r.SSH(t.Context(), "db-1", "true"); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.SSH(t.Context(), "db-1", "true"); err == nil {
		t.Fatal("ssh after Close succeeded")
	}
}

// With OwnHome each host's sessions see their own HOME, and every
// session a host starts is counted in its log.
func TestOwnHomeAndSessions(t *testing.T) {
	ctx := context.Background()
	r, err := StartWith(ctx, t.TempDir(), 2, "", Options{OwnHome: true})
	if errors.Is(err, ErrUnavailable) {
		t.Skipf("skipping, needs real OpenSSH sshd and ssh: %v", err)
	}
	if err != nil {
		t.Fatalf("sshrig: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	for _, h := range r.Hosts {
		before := h.Sessions()
		out, err := r.SSH(ctx, h.Name, `printf %s "$HOME"`)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != h.Root {
			t.Errorf("%s: HOME=%q, want %q", h.Name, out, h.Root)
		}
		if _, err := r.SSH(ctx, h.Name, "true"); err != nil {
			t.Fatal(err)
		}
		// sshd writes the line before the command runs.
		if got := h.Sessions() - before; got != 2 {
			t.Errorf("%s: %d sessions counted for two commands, want 2", h.Name, got)
		}
	}
}
