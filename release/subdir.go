package release

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/slipwayhq/slipway/audit"
	"github.com/slipwayhq/slipway/internal/textclean"
)

// SubdirError refuses a commit in which the environment's subdir is not a
// directory. Nothing is numbered, tagged or shipped.
type SubdirError struct {
	Env    string
	Subdir string
	Commit string
	Kind   string // what the path is instead ("blob", "commit" for a submodule), "" when missing
}

func (e *SubdirError) Error() string {
	what := "there is no " + e.Subdir
	switch e.Kind {
	case "":
	case "commit":
		what = e.Subdir + " is a submodule, not a directory,"
	default:
		what = e.Subdir + " is a file, not a directory,"
	}
	return fmt.Sprintf("%s in %s, and %s deploys only that directory (subdir = %q); push a commit that has it, or ask the operator to change subdir",
		what, short(e.Commit), e.Env, e.Subdir)
}

// Short is the reason shown in `! [remote rejected]`.
func (e *SubdirError) Short() string {
	return fmt.Sprintf("no directory %s in %s", e.Subdir, short(e.Commit))
}

// SubdirTree returns the object id of the tree at dir in commit, or a
// *SubdirError when dir is missing there or not a directory.
func SubdirTree(ctx context.Context, repo, commit, dir string) (string, error) {
	// cat-file reads the name on stdin: nothing of dir is parsed as an option.
	cmd := exec.CommandContext(ctx, "git", "-C", repo, "cat-file", "--batch-check=%(objectname) %(objecttype)")
	cmd.Stdin = strings.NewReader(commit + ":" + dir + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("look up %s in %s: %w: %s", dir, short(commit), err, textclean.LastLine(stderr.String()))
	}
	f := strings.Fields(string(out))
	switch {
	case len(f) == 2 && f[1] == "tree":
		return f[0], nil
	case len(f) == 2 && f[1] != "missing":
		return "", &SubdirError{Subdir: dir, Commit: commit, Kind: f[1]}
	}
	// "NAME missing", also for a submodule's commit, which this
	// repository does not hold: tell it apart through ls-tree.
	ls, err := exec.CommandContext(ctx, "git", "--literal-pathspecs", "-C", repo, "ls-tree", commit, "--", dir).Output()
	if err == nil {
		if g := strings.Fields(string(ls)); len(g) >= 2 && g[1] == "commit" {
			return "", &SubdirError{Subdir: dir, Commit: commit, Kind: "commit"}
		}
	}
	return "", &SubdirError{Subdir: dir, Commit: commit}
}

// checkSubdir runs before a deploy of an environment with a subdir takes
// a release number. It refuses a commit without the directory (a
// *SubdirError). For a push whose directory is the same tree as in the
// environment's live release it makes no release: it moves the branch,
// since the push is accepted, says so on out and returns the live
// release with Unchanged set. Otherwise it returns nil, nil and the
// deploy goes on. A rollback is never skipped: it was asked for.
func (e *Engine) checkSubdir(ctx context.Context, req Request, out io.Writer) (*Result, error) {
	dir := req.Env.Subdir
	tree, err := SubdirTree(ctx, req.Repo, req.Commit, dir)
	var se *SubdirError
	if errors.As(err, &se) {
		se.Env = req.Env.Name
	}
	if err != nil || req.Rollback != "" {
		return nil, err
	}
	rels, err := History(ctx, req.Repo)
	if err != nil {
		return nil, err
	}
	live := LiveRelease(rels, req.Env.Name)
	if live == nil {
		return nil, nil
	}
	if liveTree, err := SubdirTree(ctx, req.Repo, live.Commit, dir); err != nil || liveTree != tree {
		return nil, nil // changed, or the live release predates subdir
	}
	if req.Commit != req.Old {
		if err := UpdateBranch(ctx, req.Repo, req.Env.Branch, req.Commit, req.Old); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(out, "%s → %s: nothing changed under %s since %s; no release made\n", req.App.Name, req.Env.Name, dir, live.Name)
	e.Log.Info().Str("app", req.App.Name).Str("env", req.Env.Name).Str("user", req.User).
		Str("commit", short(req.Commit)).Str("live", live.Name).Msg("nothing changed under subdir; no release")
	if err := e.Audit.Append(audit.Record{Event: audit.EventUnchanged, User: req.User, Key: req.Key, App: req.App.Name, Env: req.Env.Name,
		Release: live.Name, Detail: "nothing changed under " + dir + " in " + short(req.Commit)}); err != nil {
		e.Log.Error().Err(err).Msg("cannot write the audit log")
	}
	return &Result{Release: live.Name, Unchanged: true}, nil
}
