package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/internal/shell"
)

// installHookCommand makes a repository that another git server serves
// deploy through slipway serve: it writes a proc-receive hook there and
// routes the app's deploy refs to it.
type installHookCommand struct{}

// hookMarker is in every hook install-hook writes, so that it can tell its
// own hook (which it replaces) from another program's (which it keeps).
const hookMarker = "# Written by slipway install-hook"

// minProcReceiveGit is the oldest git with proc-receive hooks.
var minProcReceiveGit = [2]int{2, 29}

func (c *installHookCommand) Usage() {
	fmt.Fprintln(os.Stderr, `Usage: slipway install-hook --config FILE [--app NAME] [--slipway PATH] [--force] REPOSITORY

Makes a bare repository served by another git server on this machine (a
plain repository over OpenSSH, gitolite, Gitea, GitLab) deploy through
slipway serve. The configuration must have an [external] table and name
the repository as [apps.NAME] repository; --app is needed only to check
which app it is.

It writes REPOSITORY's proc-receive hook (where core.hooksPath points, if
set), which runs slipway hook proc-receive with the external socket and
the app, and sets receive.procReceiveRefs to the app's deploy branches
(refs/heads/BRANCH of each environment), refs/heads/rollback (and
rollback/ENV) and refs/tags (tags v and a number are Slipway's releases;
slipway serve stores the other tags). Other branches are stored by the
git server as before. Run it again after changing an environment's branch.

Needs git 2.29 or later (proc-receive). A pre-receive hook cannot deploy
this way: it runs while the pushed objects are still in quarantine, where
git refuses the release tag and the branch update, and a rejection throws
the objects away; --pre-receive is therefore refused.

It refuses to replace a proc-receive hook that another program wrote
(Gitea's AGit flow, for example) unless --force is given.

Example:
  slipway install-hook --config /etc/slipway/slipway.toml /srv/git/shop.git`)
}

func (c *installHookCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("slipway install-hook", flag.ContinueOnError)
	fs.Usage = c.Usage
	path := fs.String("config", "", "configuration file of slipway serve (required)")
	appName := fs.String("app", "", "the app the repository deploys (default: the app whose repository it is)")
	exe := fs.String("slipway", "", "the slipway binary the hook runs (default: this one)")
	force := fs.Bool("force", false, "replace a proc-receive hook that another program wrote")
	pre := fs.Bool("pre-receive", false, "refused: see the usage")
	// Flags may follow the repository too.
	var rest []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if *pre {
		return usagef("a pre-receive hook cannot deploy: it runs while the pushed objects are in quarantine, where git refuses the release tag and the branch update, and a rejected push loses its objects; use git 2.29 or later, whose proc-receive hook this command installs")
	}
	if len(rest) != 1 {
		return usagef("give one repository, like /srv/git/shop.git")
	}
	if *path == "" {
		return usagef("--config is required: the configuration slipway serve runs with")
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	if cfg.External == nil {
		return fmt.Errorf("%s has no [external] table, so slipway serve takes no pushes from another git server\nTry: add [external] with identity and os_users (see slipway init), then run this again", *path)
	}
	if err := checkGitVersion(ctx); err != nil {
		return err
	}
	repo, err := filepath.Abs(rest[0])
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(repo, "objects")); err != nil {
		return fmt.Errorf("%s is not a bare git repository (no objects directory)\nTry: give the repository's own directory, like /srv/git/shop.git", repo)
	}
	app, err := appForRepository(cfg, repo, *appName)
	if err != nil {
		return err
	}
	if *exe == "" {
		if *exe, err = os.Executable(); err != nil {
			return fmt.Errorf("find the slipway binary: %w", err)
		}
	}

	hooks, err := gitOutput(ctx, repo, "rev-parse", "--git-path", "hooks")
	if err != nil {
		return err
	}
	if !filepath.IsAbs(hooks) {
		hooks = filepath.Join(repo, hooks)
	}
	hookPath := filepath.Join(hooks, "proc-receive")
	if old, err := os.ReadFile(hookPath); err == nil && !strings.Contains(string(old), hookMarker) && !*force {
		return fmt.Errorf("%s exists and was not written by slipway; replacing it would turn off what it does\nTry: merge it by hand, or run again with --force", hookPath)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read the existing hook: %w", err)
	}

	refs := procReceiveRefs(app)
	if _, err := gitOutput(ctx, repo, "config", "--unset-all", "receive.procReceiveRefs"); err != nil && !isConfigMissing(err) {
		return err
	}
	for _, r := range refs {
		if _, err := gitOutput(ctx, repo, "config", "--add", "receive.procReceiveRefs", r); err != nil {
			return err
		}
	}
	if _, err := gitOutput(ctx, repo, "config", "receive.advertisePushOptions", "true"); err != nil {
		return err
	}
	script := "#!/bin/sh\n" + hookMarker + ": pushes to the deploy refs of " + app.Name + " deploy through slipway serve.\n" +
		"exec " + shell.Quote(*exe) + " hook proc-receive --socket " + shell.Quote(cfg.External.Socket) + " --app " + shell.Quote(app.Name) + "\n"
	if err := os.MkdirAll(hooks, 0o755); err != nil {
		return err
	}
	tmp := hookPath + ".slipway-tmp"
	if err := os.WriteFile(tmp, []byte(script), 0o755); err != nil {
		return fmt.Errorf("write the hook: %w", err)
	}
	if err := os.Rename(tmp, hookPath); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write the hook: %w", err)
	}
	fmt.Printf("Installed %s: pushes to %s deploy %s through slipway serve (socket %s).\n", hookPath, strings.Join(refs, ", "), app.Name, cfg.External.Socket)
	fmt.Printf("slipway serve writes release tags, refs/notes/slipway and the deploy branches into %s itself: the account it runs as needs write access there.\n", repo)
	return nil
}

// procReceiveRefs are the refs whose updates the hook handles: each
// environment's branch, the rollback refs and every tag. git matches
// whole components (refs/heads/production also takes
// refs/heads/production/x, which Slipway stores as a plain branch, but
// not refs/heads/production-fix), so release numbers cannot be reserved
// by a prefix such as refs/tags/v: all tags go through Slipway, which
// refuses v and a number and stores the rest, as its own server does.
// Other branches (feature branches, merge requests) never wait for the
// daemon.
func procReceiveRefs(app *config.App) []string {
	var refs []string
	for _, e := range app.Environments {
		refs = append(refs, "refs/heads/"+e.Branch)
	}
	sort.Strings(refs)
	return append(refs, "refs/heads/rollback", "refs/tags")
}

// appForRepository finds the app whose [apps.NAME] repository is repo,
// checking --app against it when given.
func appForRepository(cfg *config.Config, repo, name string) (*config.App, error) {
	st, err := os.Stat(repo)
	if err != nil {
		return nil, err
	}
	var found *config.App
	for _, a := range cfg.Apps {
		if a.Repository == "" {
			continue
		}
		if ast, err := os.Stat(a.Repository); err == nil && os.SameFile(st, ast) {
			found = a
		}
	}
	switch {
	case name != "" && found != nil && found.Name != name:
		return nil, fmt.Errorf("%s is the repository of app %s, not %s", repo, found.Name, name)
	case found != nil:
		return found, nil
	case name != "":
		if a, ok := cfg.Apps[name]; ok && a.Repository != "" {
			return nil, fmt.Errorf("app %s's repository is %s, not %s\nTry: set [apps.%s] repository = %q in %s, then run this again", name, a.Repository, repo, name, repo, cfg.File)
		}
		return nil, fmt.Errorf("%s names no repository for app %s\nTry: add [apps.%s] repository = %q, then run this again", cfg.File, name, name, repo)
	default:
		return nil, fmt.Errorf("no app in %s has %s as its repository\nTry: set [apps.NAME] repository = %q, then run this again", cfg.File, repo, repo)
	}
}

func checkGitVersion(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, "git", "version").Output()
	if err != nil {
		return fmt.Errorf("run git version: %w", err)
	}
	m := regexp.MustCompile(`(\d+)\.(\d+)`).FindStringSubmatch(string(out))
	if m == nil {
		return fmt.Errorf("cannot tell the git version from %q", strings.TrimSpace(string(out)))
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	if major < minProcReceiveGit[0] || major == minProcReceiveGit[0] && minor < minProcReceiveGit[1] {
		return fmt.Errorf("%s has no proc-receive hook, which Slipway deploys from (git %d.%d or later); a pre-receive hook cannot deploy\nTry: upgrade git on this server", strings.TrimSpace(string(out)), minProcReceiveGit[0], minProcReceiveGit[1])
	}
	return nil
}

func gitOutput(ctx context.Context, repo string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"--git-dir=" + repo}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", &gitError{args: args, err: err, stderr: strings.TrimSpace(stderr.String())}
	}
	return strings.TrimSpace(string(out)), nil
}

type gitError struct {
	args   []string
	err    error
	stderr string
}

func (e *gitError) Error() string {
	return fmt.Sprintf("git %s: %v: %s", strings.Join(e.args, " "), e.err, e.stderr)
}

// isConfigMissing is git config --unset-all's exit status 5: nothing to unset.
func isConfigMissing(err error) bool {
	var ge *gitError
	var ee *exec.ExitError
	return errors.As(err, &ge) && errors.As(ge.err, &ee) && ee.ExitCode() == 5
}
