//go:build unix

package release

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/internal/sshrig"
	"github.com/slipwayhq/slipway/release/host"
	"github.com/slipwayhq/slipway/release/transport/local"
	"github.com/slipwayhq/slipway/release/transport/openssh"
)

// The Host contract itself is tested in release/host/hosttest, which every
// transport runs; the engine's own tests of exports and uploads run
// against every transport too.

// hostTransports make a fresh host deploying under a new directory and
// return it with that directory as seen from this machine (sshrig hosts
// live on loopback, their files under the test's temporary directory).
var hostTransports = []struct {
	name string
	make func(t testing.TB, dirName string) (host.Host, string)
}{
	{"local", func(t testing.TB, dirName string) (host.Host, string) {
		dir := filepath.Join(t.TempDir(), dirName)
		return local.New(dir, nil), dir
	}},
	{"ssh", func(t testing.TB, dirName string) (host.Host, string) {
		r := sshrig.StartT(t, 1)
		return sshHost(t, r, r.Hosts[0], dirName)
	}},
}

// sshHost is an SSH host of rig r deploying under dirName in h's root.
func sshHost(t testing.TB, r *sshrig.Rig, h *sshrig.Host, dirName string) (*openssh.Host, string) {
	t.Helper()
	dir := filepath.Join(h.Root, dirName)
	ctl := sshrig.ControlDir(t)
	s := openssh.New(&config.Host{Name: h.Name, Address: h.Addr(), User: h.User}, dir,
		openssh.Options{KeyFile: r.ClientKey, KnownHosts: r.KnownHosts, ControlDir: ctl})
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func needRsync(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Skip("rsync is not installed; run scripts/deps.sh")
	}
}
