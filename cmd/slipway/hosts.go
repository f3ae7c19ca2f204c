package main

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/release"
)

// sshOptions is how every command reaches remote hosts: Slipway's own key
// and pinned host keys from the data directory.
func sshOptions(cfg *config.Config) (release.SSHOptions, error) {
	key, _, err := release.ClientKey(cfg.DataDir)
	if err != nil {
		return release.SSHOptions{}, err
	}
	// ControlMaster socket paths are limited to about 100 bytes and ssh
	// adds 40 for %C.
	ctl := filepath.Join(cfg.DataDir, "run", "ssh")
	if len(ctl) > 50 {
		sum := sha256.Sum256([]byte(cfg.DataDir))
		ctl = filepath.Join(os.TempDir(), "slipway-ssh-"+hex.EncodeToString(sum[:4]))
	}
	if err := os.MkdirAll(ctl, 0o700); err != nil {
		return release.SSHOptions{}, err
	}
	return release.SSHOptions{
		KeyFile:    key,
		KnownHosts: filepath.Join(cfg.DataDir, "known_hosts"),
		ControlDir: ctl,
	}, nil
}

// remoteHosts lists every non-local host the configuration deploys to,
// each once, with the path of the first environment that uses it.
func remoteHosts(cfg *config.Config) []hostUse {
	seen := map[string]bool{}
	var out []hostUse
	for _, appName := range sortedKeys(cfg.Apps) {
		if appName == "*" {
			continue // its paths depend on the app name
		}
		app := cfg.Apps[appName]
		for _, envName := range sortedKeys(app.Environments) {
			env := app.Environments[envName]
			for _, name := range env.Hosts {
				h := cfg.Host(name)
				if seen[name] {
					continue
				}
				seen[name] = true
				out = append(out, hostUse{Host: h, Env: env, Path: env.PathOn(h)})
			}
		}
	}
	return out
}

type hostUse struct {
	Host *config.Host
	Env  *config.Environment
	Path string
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmp.Compare[string])
	return keys
}
