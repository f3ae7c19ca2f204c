package gitserver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/internal/shell"
	"github.com/slipwayhq/slipway/internal/textclean"
)

// ErrBadRepoName means a repository path is not a plain app name.
var ErrBadRepoName = errors.New("bad repository name")

// AppFromPath turns the path a git client asks for ("/shop.git", "shop",
// "~/shop") into an app name. It refuses anything that is not a single
// name of [A-Za-z0-9._-], so no request can reach outside the
// repositories directory.
func AppFromPath(p string) (string, error) {
	name := strings.TrimPrefix(p, "~/")
	name = strings.TrimPrefix(name, "/")
	name = strings.TrimSuffix(name, "/")
	name = strings.TrimSuffix(name, ".git")
	if !config.ValidName(name) {
		return "", fmt.Errorf("%w %q: use the app's name, like ssh://git@host:2222/shop", ErrBadRepoName, textclean.Line(p, 80))
	}
	return name, nil
}

// repoDir is where the bare repository of app lives: the one another git
// server serves ([apps.NAME] repository), or DATA/repos/APP.git.
func (s *Server) repoDir(app string) string {
	if a, ok := s.Config().Apps[app]; ok && a.Repository != "" && app != config.TemplateApp {
		return a.Repository
	}
	return filepath.Join(s.DataDir, "repos", app+".git")
}

// ensureRepo creates the bare repository of app on first use.
func (s *Server) ensureRepo(ctx context.Context, app string) (string, error) {
	dir := s.repoDir(app)
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err == nil {
		return dir, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	s.repoMu.Lock()
	defer s.repoMu.Unlock()
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err == nil {
		return dir, nil
	}
	// Create in a temporary directory and rename, so a crash never leaves
	// a half-initialized repository behind.
	if err := os.MkdirAll(filepath.Dir(dir), 0o750); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+app+".init-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if out, err := exec.CommandContext(ctx, "git", "init", "--bare", "--quiet", tmp).CombinedOutput(); err != nil {
		return "", fmt.Errorf("git init: %w: %s", err, out)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("create repository: %w", err)
	}
	s.Log.Info().Str("app", app).Str("repo", dir).Msg("repository created")
	return dir, nil
}

// gitConfig is the configuration every receive-pack runs with. It is given
// on the command line rather than stored in the repository, so it cannot
// drift and an upgrade applies it everywhere.
func (s *Server) gitConfig() []string {
	return []string{
		"-c", "core.hooksPath=" + s.hooksDir(),
		// Every ref update goes through the proc-receive hook and thus
		// through the daemon, which deploys, stores or refuses it.
		"-c", "receive.procReceiveRefs=refs",
		"-c", "receive.advertisePushOptions=true",
		// Refs are deployed one by one, so a push cannot be atomic; the
		// client then refuses --atomic instead of half applying it.
		"-c", "receive.advertiseAtomic=false",
		"-c", "receive.fsckObjects=true",
		"-c", "receive.fsck.hasDotgit=error",
		"-c", "receive.keepAlive=5",
		// A pack larger than this is refused before it fills the disk.
		"-c", "receive.maxInputSize=" + strconv.FormatInt(int64(s.Config().MaxPushSize), 10),
	}
}

func (s *Server) hooksDir() string { return filepath.Join(s.DataDir, "hooks") }

// installHook writes the proc-receive hook that relays to this daemon.
func (s *Server) installHook(exe string) error {
	if err := os.MkdirAll(s.hooksDir(), 0o755); err != nil {
		return err
	}
	script := "#!/bin/sh\n# Written by slipway serve: relays pushes to the daemon.\nexec " + shell.Quote(exe) + " hook proc-receive\n"
	tmp := filepath.Join(s.hooksDir(), ".proc-receive.tmp")
	if err := os.WriteFile(tmp, []byte(script), 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(s.hooksDir(), "proc-receive"))
}
