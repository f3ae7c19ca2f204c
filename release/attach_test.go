//go:build linux

package release

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/internal/sshrig"
)

// Host.Attach on this machine and on a real sshd host: the variables
// arrive whole (even ones that look like Slipway's own lines), a command
// that ends reports its status, and one that waits forever is stopped,
// with what it started in the background, once the context ends.
func TestAttach(t *testing.T) {
	hosts := []struct {
		name string
		host func(t *testing.T) (Host, string)
	}{
		{"local", func(t *testing.T) (Host, string) {
			dir := t.TempDir()
			return NewLocal(dir), dir
		}},
		{"ssh", func(t *testing.T) (Host, string) {
			r := sshrig.StartT(t, 1)
			h := r.Hosts[0]
			return NewSSH(&config.Host{Name: h.Name, Address: h.Addr(), User: h.User}, h.Root,
				SSHOptions{KeyFile: r.ClientKey, KnownHosts: r.KnownHosts}), h.Root
		}},
	}
	for _, tt := range hosts {
		t.Run(tt.name, func(t *testing.T) {
			h, dir := tt.host(t)
			defer h.Close()
			value := "it's \"two\"\nlines; slipway-end-0123456789ab\n$(false)"
			var out lockedBuffer
			err := h.Attach(context.Background(), "", `printf '%s|' "$V"; exit 3`, []string{"V=" + value}, &out)
			if err == nil || !strings.Contains(err.Error(), "exit status 3") {
				t.Errorf("Attach of a failing command = %v, want exit status 3", err)
			}
			if got := out.String(); got != value+"|" {
				t.Errorf("the variable arrived as %q, want %q", got, value+"|")
			}

			ctx, cancel := context.WithCancel(context.Background())
			out = lockedBuffer{}
			done := make(chan error, 1)
			pids := filepath.Join(dir, "pids")
			go func() {
				done <- h.Attach(ctx, "", `sleep 600 & echo $! > pids; echo $$ >> pids; echo ready; exec sleep 601`, nil, &out)
			}()
			waitFor(t, func() bool { return strings.Contains(out.String(), "ready") })
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Attach stopped by its context = %v, want nil", err)
			}
			data, err := os.ReadFile(pids)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range strings.Fields(string(data)) {
				pid, _ := strconv.Atoi(f)
				waitFor(t, func() bool { return !running(pid) })
			}
		})
	}
}

// waitFor polls cond until it holds; the bound only ends a broken run.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	giveUp := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(giveUp) {
			t.Fatal("condition not met within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// running reports whether pid exists and is not a zombie.
func running(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || len(s) < i+3 || (s[i+2] != 'Z' && s[i+2] != 'X')
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A connection that drops before the end of the variables runs nothing:
// the command must not start with half its environment. (TestAttach runs
// it with the whole environment, on this machine and over ssh.)
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
