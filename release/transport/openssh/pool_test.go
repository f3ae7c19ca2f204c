//go:build linux

package openssh

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/internal/sshrig"
)

// poolRig is a rig of n sshd hosts and a configuration that names them.
type poolRig struct {
	rig *sshrig.Rig
	cfg *config.Config
}

func newPoolRig(t *testing.T, n int) *poolRig {
	t.Helper()
	r := sshrig.StartT(t, n)
	var toml strings.Builder
	var names []string
	for _, h := range r.Hosts {
		fmt.Fprintf(&toml, "[hosts.%s]\naddress = %q\nuser = %q\n\n", h.Name, h.Addr(), h.User)
		names = append(names, fmt.Sprintf("%q", h.Name))
	}
	fmt.Fprintf(&toml, "[apps.shop.environments.production]\nbranch = \"production\"\nhosts = [%s]\npath = \"/srv/shop\"\n", strings.Join(names, ", "))
	cfg, err := config.Parse([]byte(toml.String()), filepath.Join(t.TempDir(), "slipway.toml"))
	if err != nil {
		t.Fatalf("%v\n%s", err, toml.String())
	}
	return &poolRig{rig: r, cfg: cfg}
}

// The pool keeps a host's connection between deploys, and stops it when
// the host's pinned key changes, when a reload drops the host, and for
// the least recently used beyond Max.
func TestPoolKeepsAndStopsConnections(t *testing.T) {
	f := newPoolRig(t, 2)
	pool := NewPool(2, 10*time.Minute)
	t.Cleanup(pool.Close)
	ctl := sshrig.ControlDir(t)
	opt := Options{KeyFile: f.rig.ClientKey, KnownHosts: f.rig.KnownHosts, ControlDir: ctl, Pool: pool}
	// open reaches host i as a deploy would and returns the new logins.
	open := func(i int) int {
		t.Helper()
		h := f.rig.Hosts[i]
		before := h.Logins()
		s := New(f.cfg.Host(h.Name), filepath.Join(h.Root, "srv"), opt)
		if _, err := s.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		s.Close()
		return h.Logins() - before
	}
	if n := open(0); n != 1 {
		t.Fatalf("first use of web-1: %d logins, want 1", n)
	}
	if n := open(0); n != 0 {
		t.Errorf("second use of web-1: %d logins, want none (warm)", n)
	}

	// slipway trust --replace rewrote web-1's line.
	kh, err := os.ReadFile(f.rig.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	line := f.rig.Hosts[0].HostKeyLine
	if err := os.WriteFile(f.rig.KnownHosts, bytes.Replace(kh, []byte(line), []byte(line+" replaced"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if n := open(0); n != 1 {
		t.Errorf("web-1 after its known_hosts line changed: %d logins, want 1 (a new connection checks the key)", n)
	}

	// A reload that drops web-2 stops its connection.
	if n := open(1); n != 1 {
		t.Fatalf("first use of web-2: %d logins, want 1", n)
	}
	h1 := f.rig.Hosts[0]
	reloaded, err := config.Parse([]byte(fmt.Sprintf("[hosts.%s]\naddress = %q\nuser = %q\n[apps.shop.environments.production]\nbranch = \"production\"\nhosts = [%q]\npath = \"/srv/shop\"\n",
		h1.Name, h1.Addr(), h1.User, h1.Name)), filepath.Join(t.TempDir(), "slipway.toml"))
	if err != nil {
		t.Fatal(err)
	}
	pool.Retain(reloaded)
	if pool.Len() != 1 {
		t.Errorf("pool keeps %d connections after the reload, want 1", pool.Len())
	}
	if n := open(0); n != 0 {
		t.Errorf("web-1 after a reload that kept it: %d logins, want none", n)
	}
	if n := open(1); n != 1 {
		t.Errorf("web-2 after a reload that dropped it: %d logins, want 1", n)
	}

	// Max 1: using web-2 stops web-1's connection.
	pool.Max = 1
	open(1)
	if n := open(0); n != 1 {
		t.Errorf("web-1 after web-2 took the only place: %d logins, want 1", n)
	}
}

// A connection the pool does not know of, such as one an earlier daemon
// left open, is not trusted with a host key changed since: the first use
// through a new pool logs in again.
func TestPoolDistrustsConnectionsItDidNotOpen(t *testing.T) {
	f := newPoolRig(t, 1)
	ctl := sshrig.ControlDir(t)
	h := f.rig.Hosts[0]
	open := func(pool *Pool) int {
		t.Helper()
		opt := Options{KeyFile: f.rig.ClientKey, KnownHosts: f.rig.KnownHosts, ControlDir: ctl, Pool: pool}
		before := h.Logins()
		s := New(f.cfg.Host(h.Name), filepath.Join(h.Root, "srv"), opt)
		if _, err := s.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		s.Close()
		return h.Logins() - before
	}
	first := NewPool(4, 10*time.Minute)
	if n := open(first); n != 1 {
		t.Fatalf("first use: %d logins, want 1", n)
	}
	// The daemon restarts without stopping the connection (a crash);
	// meanwhile slipway trust --replace rewrote the host's line.
	kh, err := os.ReadFile(f.rig.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.rig.KnownHosts, bytes.Replace(kh, []byte(h.HostKeyLine), []byte(h.HostKeyLine+" replaced"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	second := NewPool(4, 10*time.Minute)
	t.Cleanup(second.Close)
	if n := open(second); n != 1 {
		t.Errorf("first use through a new pool: %d logins, want 1 (a new connection checks the key)", n)
	}
	if n := open(second); n != 0 {
		t.Errorf("second use through the new pool: %d logins, want none (warm)", n)
	}
}

// The bound is never below the number of hosts the configuration names:
// a deploy to all of them finds every one warm the next time.
func TestPoolKeepsEveryConfiguredHost(t *testing.T) {
	f := newPoolRig(t, 3)
	pool := NewPool(1, 10*time.Minute)
	t.Cleanup(pool.Close)
	pool.Retain(f.cfg)
	opt := Options{KeyFile: f.rig.ClientKey, KnownHosts: f.rig.KnownHosts, ControlDir: sshrig.ControlDir(t), Pool: pool}
	logins := func() int {
		n := 0
		for _, h := range f.rig.Hosts {
			before := h.Logins()
			s := New(f.cfg.Host(h.Name), filepath.Join(h.Root, "srv"), opt)
			if _, err := s.Open(context.Background()); err != nil {
				t.Fatal(err)
			}
			s.Close()
			n += h.Logins() - before
		}
		return n
	}
	if n := logins(); n != 3 {
		t.Fatalf("first use of 3 hosts: %d logins, want 3", n)
	}
	if n := logins(); n != 0 {
		t.Errorf("second use of 3 hosts with Max 1: %d logins, want none (the configuration names 3)", n)
	}
}
