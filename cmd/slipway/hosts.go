package main

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/release/transport/openssh"
)

// sshOptions is how every command reaches remote hosts: Slipway's own key
// and pinned host keys from the data directory.
func sshOptions(cfg *config.Config) (openssh.Options, error) {
	key := cfg.SSH.Key
	if key == "" {
		var err error
		if key, _, err = openssh.ClientKey(cfg.DataDir); err != nil {
			return openssh.Options{}, err
		}
	}
	known := cfg.SSH.KnownHosts
	if known == "" {
		known = filepath.Join(cfg.DataDir, "known_hosts")
	}
	// ssh does not create the directory of a known_hosts file it writes.
	if err := os.MkdirAll(filepath.Dir(known), 0o700); err != nil {
		return openssh.Options{}, err
	}
	// A ControlMaster socket path must fit in 108 bytes, and ssh adds 41
	// for %C plus 17 while it creates the socket: a deep data directory
	// gets its sockets in a short private directory under /tmp instead.
	ctl := filepath.Join(cfg.DataDir, "run", "ssh")
	if len(ctl) > 48 {
		sum := sha256.Sum256([]byte(cfg.DataDir))
		ctl = "/tmp/slipway-ssh-" + hex.EncodeToString(sum[:4])
	}
	if err := os.MkdirAll(ctl, 0o700); err != nil {
		return openssh.Options{}, err
	}
	// In /tmp the name is predictable: it must be ours and private.
	fi, err := os.Lstat(ctl)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 || !ownedByUs(fi) {
		return openssh.Options{}, fmt.Errorf("ssh control directory %s must be a private (0700) directory owned by this user", ctl)
	}
	return openssh.Options{
		KeyFile:        key,
		KnownHosts:     known,
		ConfigFile:     cfg.SSH.Config,
		ControlDir:     ctl,
		ConnectTimeout: cfg.SSH.ConnectTimeout.Std(),
		BWLimit:        cfg.SSH.BWLimit,
	}, nil
}

// remoteHosts lists every host the configuration deploys to, each once,
// with the deploy path of the first environment that uses it. Hosts that
// only the app template uses have no path: it depends on the app's name.
func remoteHosts(cfg *config.Config) []hostUse {
	seen := map[string]bool{}
	var out []hostUse
	names := sortedKeys(cfg.Apps)
	// Named apps first: they give a host a concrete path to probe.
	slices.SortStableFunc(names, func(a, b string) int {
		return cmp.Compare(boolInt(a == config.TemplateApp), boolInt(b == config.TemplateApp))
	})
	for _, appName := range names {
		app := cfg.Apps[appName]
		for _, envName := range sortedKeys(app.Environments) {
			env := app.Environments[envName]
			for _, name := range env.Hosts {
				if seen[name] {
					continue
				}
				seen[name] = true
				h := cfg.Host(name)
				u := hostUse{Host: h}
				if appName != config.TemplateApp {
					u.Path = env.PathOn(h)
				}
				out = append(out, u)
			}
		}
	}
	return out
}

type hostUse struct {
	Host *config.Host
	Path string // "" when only the app template deploys there
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmp.Compare[string])
	return keys
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func ownedByUs(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Getuid()
}
