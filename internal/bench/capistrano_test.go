//go:build unix

package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/slipwayhq/slipway/internal/sshrig"
)

// capistrano is the second baseline: Capistrano 3's stock `deploy` with
// scm/git, from a bare repository of the developer's clone, to every host
// at once (Capistrano's default), deploy_to ~/cap on each (each host has
// its own HOME), nothing linked. The time of a deploy does not include the
// developer's push to the bare repository, as the shell baseline's does
// not include one either.
type capistrano struct {
	dir  string // Capfile and config/
	repo string // the bare repository Capistrano deploys from
	env  []string
	// currents is where current pointed on the hosts after each
	// Capistrano command, newest last: the release directory.
	currents []string
}

// capfile loads the stock deploy tasks with scm/git.
const capfile = `require "capistrano/setup"
require "capistrano/deploy"
require "capistrano/scm/git"
install_plugin Capistrano::SCM::Git
`

// capDeploy is config/deploy.rb; %s: the repository, the temporary
// directory, the known_hosts file, the key.
const capDeploy = `lock "~> 3.17"
set :application, "bench"
set :repo_url, %q
set :branch, "production"
set :deploy_to, "~/cap"
set :keep_releases, 5
set :linked_files, []
set :linked_dirs, []
set :tmp_dir, %q
set :log_level, :info
set :ssh_options, {
  keys: [%q],
  keys_only: true,
  auth_methods: %%w[publickey],
  user_known_hosts_file: %q,
  global_known_hosts_file: "/dev/null",
  verify_host_key: :always,
  non_interactive: true,
  config: false,
  timeout: 30,
}
`

// setupCapistrano writes the Capistrano project for the fleet, or sets
// f.capSkip and leaves f.cap nil when Capistrano cannot run here.
func (f *fleet) setupCapistrano() {
	b := f.b
	if _, err := exec.LookPath("cap"); err != nil {
		f.capSkip = "Capistrano (cap) is not installed; scripts/bench-deps.sh installs the Debian package capistrano as root"
		return
	}
	for _, lib := range []string{"ed25519", "bcrypt_pbkdf"} {
		if out, err := exec.Command("ruby", "-e", "require "+fmt.Sprintf("%q", lib)).CombinedOutput(); err != nil {
			f.capSkip = fmt.Sprintf("Capistrano cannot use the rig's ed25519 keys: ruby cannot load %s (Debian: ruby-%s): %s", lib, strings.ReplaceAll(lib, "_", "-"), strings.TrimSpace(string(out)))
			return
		}
	}
	c := &capistrano{dir: filepath.Join(f.dir, "cap"), repo: filepath.Join(f.dir, "cap.git")}
	must(b, os.MkdirAll(filepath.Join(c.dir, "config", "deploy"), 0o755))
	must(b, os.WriteFile(filepath.Join(c.dir, "Capfile"), []byte(capfile), 0o644))
	// A file:// URL makes git fetch through its pack protocol, as from a
	// git host on the network, rather than hard-linking the objects of a
	// repository on the same file system.
	deploy := fmt.Sprintf(capDeploy, "file://"+c.repo, filepath.Join(f.dir, "cap-tmp"), f.rig.ClientKey, f.knownHosts)
	must(b, os.WriteFile(filepath.Join(c.dir, "config", "deploy.rb"), []byte(deploy), 0o644))
	var servers strings.Builder
	for _, h := range f.rig.Hosts {
		fmt.Fprintf(&servers, "server \"127.0.0.1\", port: %d, user: %q, roles: %%w[app]\n", f.ports[h.Name], h.User)
	}
	must(b, os.WriteFile(filepath.Join(c.dir, "config", "deploy", "production.rb"), []byte(servers.String()), 0o644))
	f.run("git", "init", "-q", "--bare", c.repo)
	c.env = append(f.env, "LANG=C.UTF-8", "LC_ALL=C.UTF-8")
	f.cap = c
}

// capPath is where Capistrano deploys on h.
func capPath(h *sshrig.Host) string { return filepath.Join(h.Root, "cap") }

// capRun runs `cap production TASK` and returns how long it took. It
// first brings the bare repository to the developer's branch (not timed).
func (f *fleet) capRun(task string) time.Duration {
	f.b.Helper()
	c := f.cap
	f.git("push", "-q", "--force", c.repo, envName)
	dur, out := f.timeCommand("cap production "+task, c.dir, c.env, "cap", "production", task)
	// Every host must point at the same release directory: Capistrano
	// names it once per run.
	var target string
	for i, h := range f.rig.Hosts {
		t, err := os.Readlink(filepath.Join(capPath(h), "current"))
		if err != nil {
			f.b.Fatalf("cap production %s: %s: %v\n%s", task, h.Name, err, out)
		}
		rel := filepath.Base(t)
		if i == 0 {
			target = rel
		} else if rel != target {
			f.b.Fatalf("cap production %s: %s is on %s, %s on %s", task, f.rig.Hosts[0].Name, target, h.Name, rel)
		}
	}
	c.currents = append(c.currents, target)
	return dur
}

// capDeployOK deploys with Capistrano and checks that current moved to a
// new release.
func (f *fleet) capDeployOK() time.Duration {
	f.b.Helper()
	before := f.capCurrent()
	d := f.capRun("deploy")
	if now := f.capCurrent(); now == before {
		f.b.Fatalf("cap production deploy: current stayed on %s", now)
	}
	return d
}

// capRollbackOK rolls back with Capistrano and checks that every host went
// back to the newest release before the live one.
func (f *fleet) capRollbackOK() time.Duration {
	f.b.Helper()
	entries, err := os.ReadDir(filepath.Join(capPath(f.rig.Hosts[0]), "releases"))
	must(f.b, err)
	var want string
	for _, e := range entries { // sorted by name: Capistrano's timestamps
		if e.Name() < f.capCurrent() {
			want = e.Name()
		}
	}
	if want == "" {
		f.b.Fatalf("cap production deploy:rollback: no release before %s", f.capCurrent())
	}
	d := f.capRun("deploy:rollback")
	if now := f.capCurrent(); now != want {
		f.b.Fatalf("cap production deploy:rollback: current on %s, want %s", now, want)
	}
	return d
}

// capCurrent is the release Capistrano's last command left live, "" before
// the first.
func (f *fleet) capCurrent() string {
	if c := f.cap; len(c.currents) > 0 {
		return c.currents[len(c.currents)-1]
	}
	return ""
}
