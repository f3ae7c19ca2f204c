package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackage builds the Debian package from a real slipway binary,
// unpacks it with dpkg, and checks what an installation would get: a
// binary that runs, the configuration from `slipway init` with the system
// data directory, a unit systemd accepts, and the maintainer scripts.
func TestPackage(t *testing.T) {
	for _, prog := range []string{"dpkg", "dpkg-deb"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Skipf("%s not found: the package is built and checked on Debian", prog)
		}
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "slipway")
	run(t, "..", "go", "build", "-ldflags", "-X main.version=v1.2.3-test", "-o", bin, "./cmd/slipway")
	conf := filepath.Join(tmp, "slipway.toml")
	run(t, "", bin, "init", "--config", conf, "--data-dir", "/var/lib/slipway")

	deb, err := build(options{Binary: bin, Config: conf, Version: "v1.2.3-test", Arch: "amd64", Out: filepath.Join(tmp, "dist")})
	if err != nil {
		t.Fatal(err)
	}
	if got := filepath.Base(deb); got != "slipway_1.2.3-test_amd64.deb" {
		t.Errorf("package file = %s, want slipway_1.2.3-test_amd64.deb", got)
	}

	info := run(t, "", "dpkg-deb", "--info", deb)
	for _, want := range []string{"Package: slipway", "Version: 1.2.3-test", "Architecture: amd64", "Depends: git (>= 1:2.29), rsync, openssh-client", "preinst", "postinst", "prerm", "postrm"} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
		}
	}
	list := run(t, "", "dpkg-deb", "--contents", deb)
	for _, want := range []string{"-rwxr-xr-x root/root", "./usr/bin/slipway", "drwx------", "./var/lib/slipway/", "-rw-r----- root/root", "./etc/slipway/slipway.toml", "./lib/systemd/system/slipway.service"} {
		if !strings.Contains(list, want) {
			t.Errorf("dpkg-deb --contents lacks %q:\n%s", want, list)
		}
	}
	if conffiles := run(t, "", "dpkg-deb", "--info", deb, "conffiles"); strings.TrimSpace(conffiles) != "/etc/slipway/slipway.toml" {
		t.Errorf("conffiles = %q, want /etc/slipway/slipway.toml: an upgrade must keep the operator's configuration", conffiles)
	}

	root := filepath.Join(tmp, "root")
	run(t, "", "dpkg", "-x", deb, root)
	if out := run(t, "", filepath.Join(root, "usr/bin/slipway"), "version"); strings.TrimSpace(out) != "slipway v1.2.3-test" {
		t.Errorf("slipway version = %q, want slipway v1.2.3-test", out)
	}
	installed := filepath.Join(root, "etc/slipway/slipway.toml")
	text, err := os.ReadFile(installed)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), "\ndata_dir = \"/var/lib/slipway\"\n") {
		t.Errorf("installed configuration does not keep its data in /var/lib/slipway")
	}
	run(t, "", filepath.Join(root, "usr/bin/slipway"), "check", "--offline", "--config", installed)

	unit, err := os.ReadFile(filepath.Join(root, "lib/systemd/system/slipway.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"User=slipway", "ExecStart=/usr/bin/slipway serve --config /etc/slipway/slipway.toml", "KillMode=mixed", "ProtectSystem=strict", "ReadWritePaths=/var/lib/slipway", "NoNewPrivileges=yes"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("systemd-analyze not found; the unit is not verified")
		return
	}
	// systemd-analyze verify checks that the binary exists, so it reads a
	// copy of the unit whose commands point into the unpacked tree.
	dir := filepath.Join(tmp, "unit")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	local := strings.ReplaceAll(string(unit), "/usr/bin/slipway", filepath.Join(root, "usr/bin/slipway"))
	if err := os.WriteFile(filepath.Join(dir, "slipway.service"), []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "", "systemd-analyze", "verify", filepath.Join(dir, "slipway.service"))
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
