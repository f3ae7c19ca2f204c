//go:build unix

package release

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/internal/sshrig"
	"github.com/slipwayhq/slipway/release/transport"
	"github.com/slipwayhq/slipway/release/transport/openssh"
)

// sshFleet is an engine deploying shop/production to the hosts of a real
// sshd rig through transport.Connector, with a repository to push to.
type sshFleet struct {
	rig    *sshrig.Rig
	e      *Engine
	cfg    *config.Config
	bare   string
	commit func(files map[string]string, msg string) string
	head   string // the branch as the last deploy left it
}

func newSSHFleet(t *testing.T, n int, extra string) *sshFleet {
	t.Helper()
	needRsync(t)
	r := sshrig.StartT(t, n)
	bare, commit := gitRepo(t)
	dir := t.TempDir()
	var toml strings.Builder
	var names []string
	for _, h := range r.Hosts {
		fmt.Fprintf(&toml, "[hosts.%s]\naddress = %q\nuser = %q\npath = %q\n\n", h.Name, h.Addr(), h.User, filepath.Join(h.Root, "srv"))
		names = append(names, fmt.Sprintf("%q", h.Name))
	}
	fmt.Fprintf(&toml, "[apps.shop]\nkeep_releases = 2\n[apps.shop.environments.production]\nbranch = \"production\"\nhosts = [%s]\npath = \"/srv/shop\"\n%s\n", strings.Join(names, ", "), extra)
	cfg, err := config.Parse([]byte(toml.String()), filepath.Join(dir, "slipway.toml"))
	if err != nil {
		t.Fatalf("%v\n%s", err, toml.String())
	}
	ctl := sshrig.ControlDir(t)
	e := &Engine{Connect: localHosts, DataDir: filepath.Join(dir, "data"), Log: zerolog.Nop()}
	pool := openssh.NewPool(64, 10*time.Minute)
	t.Cleanup(pool.Close)
	e.Connect = transport.Connector(func() *config.Config { return cfg }, transport.Options{SSH: openssh.Options{KeyFile: r.ClientKey, KnownHosts: r.KnownHosts, ControlDir: ctl, Pool: pool}})
	return &sshFleet{rig: r, e: e, cfg: cfg, bare: bare, commit: commit}
}

// deploy pushes files as a new commit, or rolls back to rollback.
func (f *sshFleet) deploy(t *testing.T, files map[string]string, rollback string) *Result {
	t.Helper()
	app, _ := f.cfg.App("shop")
	env, _ := app.Environment("production")
	req := Request{App: app, Env: env, Repo: f.bare, Old: f.head, User: "alice"}
	if rollback != "" {
		tag, err := ReadTag(f.bare, rollback)
		if err != nil {
			t.Fatal(err)
		}
		req.Commit, req.Rollback = tag.Commit, rollback
	} else {
		req.Commit = f.commit(files, "change")
	}
	var out bytes.Buffer
	res, err := f.e.Deploy(context.Background(), req, &out)
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
	// What the pusher does not wait for: notes, the state file.
	f.e.Wait("shop", "production")
	f.head = req.Commit
	return res
}

// TestRoundTripsPerHost counts the remote sessions each sshd host starts:
// three for a deploy without hooks (Open, the upload, the switch that also
// prunes) and one for a rollback, which needs no new login: the
// connection stays warm (Pool).
func TestRoundTripsPerHost(t *testing.T) {
	f := newSSHFleet(t, 3, "")
	sessions := func() []int {
		var n []int
		for _, h := range f.rig.Hosts {
			n = append(n, h.Sessions())
		}
		return n
	}
	logins := func() []int {
		var n []int
		for _, h := range f.rig.Hosts {
			n = append(n, h.Logins())
		}
		return n
	}
	check := func(what string, before []int, want int) {
		t.Helper()
		for i, n := range sessions() {
			if got := n - before[i]; got != want {
				t.Errorf("%s: %s started %d remote sessions, want %d\n%s", what, f.rig.Hosts[i].Name, got, want, f.rig.Hosts[i].Log())
			}
		}
	}

	before := sessions()
	f.deploy(t, map[string]string{"index.html": "one"}, "")
	check("first deploy", before, 3)

	before = sessions()
	f.deploy(t, map[string]string{"index.html": "two"}, "")
	check("second deploy", before, 3)

	before = sessions()
	f.deploy(t, map[string]string{"index.html": "three"}, "")
	check("third deploy, which prunes v1", before, 3)
	for _, h := range f.rig.Hosts {
		if _, err := os.Stat(filepath.Join(h.Root, "srv/releases/v1")); !os.IsNotExist(err) {
			t.Errorf("%s still holds v1 with keep_releases = 2: %v", h.Name, err)
		}
	}

	before, warm := sessions(), logins()
	f.deploy(t, nil, "v2")
	check("rollback to v2", before, 1)
	for i, n := range logins() {
		if n != warm[i] {
			t.Errorf("rollback: %s accepted %d new logins, want none on a warm connection", f.rig.Hosts[i].Name, n-warm[i])
		}
	}
	for _, h := range f.rig.Hosts {
		if target, _ := os.Readlink(filepath.Join(h.Root, "srv/current")); target != "releases/v2" {
			t.Errorf("%s: current → %q after the rollback, want releases/v2", h.Name, target)
		}
	}
	st, err := f.e.State("shop", "production")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range f.rig.Hosts {
		if hs := st.Hosts[h.Name]; hs.Current != "v2" || strings.Join(hs.Releases, " ") != "v2 v3" {
			t.Errorf("state of %s = %+v, want current v2, releases v2 v3", h.Name, hs)
		}
	}
}
