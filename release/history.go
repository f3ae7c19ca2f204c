package release

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/slipwayhq/slipway/internal/textclean"
	"github.com/slipwayhq/slipway/release/host"
)

// NotesRef holds each release's outcome, attached to the released commit.
// A clone sees it with `git fetch origin 'refs/notes/*:refs/notes/*'` and
// `git log --notes=slipway`.
const NotesRef = "refs/notes/slipway"

// Tag is a release as recorded in git.
type Tag struct {
	Name   string // "v42"
	Number int
	Commit string
	Env    string
	User   string
	Time   time.Time
	// Artifact is "sha256:HEX" for a release shipped from an artifact
	// (see Artifact), "" for one exported from git.
	Artifact string
}

// LastRelease returns the highest release number tagged in repo (0 if none).
func LastRelease(repo string) (int, error) {
	r, err := git.PlainOpen(repo)
	if err != nil {
		return 0, fmt.Errorf("open repository: %w", err)
	}
	iter, err := r.Tags()
	if err != nil {
		return 0, fmt.Errorf("list tags: %w", err)
	}
	last := 0
	err = iter.ForEach(func(ref *plumbing.Reference) error {
		if n, ok := host.ParseRelease(ref.Name().Short()); ok && n > last {
			last = n
		}
		return nil
	})
	return last, err
}

// CreateTag records release n of commit as the annotated tag vN. It fails
// if the tag exists, so a number is never given twice.
func CreateTag(repo string, n int, commit, app, env, user string, when time.Time) error {
	return createTag(repo, n, commit, app, env, user, when, nil)
}

// createTag is CreateTag; a release from an artifact records it in the
// message (an "Artifact:" line, see Artifact.tagLine).
func createTag(repo string, n int, commit, app, env, user string, when time.Time, a *Artifact) error {
	r, err := git.PlainOpen(repo)
	if err != nil {
		return fmt.Errorf("open repository: %w", err)
	}
	msg := fmt.Sprintf("Release %s of %s to %s\n\nApp: %s\nEnvironment: %s\nPushed-by: %s\nDate: %s\n",
		host.ReleaseName(n), app, env, app, env, user, when.UTC().Format(time.RFC3339))
	if a != nil {
		msg = strings.Replace(msg, "\n\n", " (artifact)\n\n", 1) + a.tagLine() + "\n"
	}
	_, err = r.CreateTag(host.ReleaseName(n), plumbing.NewHash(commit), &git.CreateTagOptions{
		Tagger:  &object.Signature{Name: user, Email: user + "@slipway", When: when},
		Message: msg,
	})
	if errors.Is(err, git.ErrTagExists) {
		return fmt.Errorf("tag %s already exists", host.ReleaseName(n))
	}
	if err != nil {
		return fmt.Errorf("create tag %s: %w", host.ReleaseName(n), err)
	}
	return nil
}

// ReadTag returns what the tag of a release says.
func ReadTag(repo, name string) (*Tag, error) {
	n, ok := host.ParseRelease(name)
	if !ok {
		return nil, fmt.Errorf("%q is not a release name", name)
	}
	r, err := git.PlainOpen(repo)
	if err != nil {
		return nil, fmt.Errorf("open repository: %w", err)
	}
	ref, err := r.Tag(name)
	if err != nil {
		return nil, fmt.Errorf("release %s: %w", name, err)
	}
	to, err := r.TagObject(ref.Hash())
	if err != nil {
		return nil, fmt.Errorf("release %s is not an annotated tag: %w", name, err)
	}
	t := &Tag{Name: name, Number: n, Commit: to.Target.String(), User: to.Tagger.Name, Time: to.Tagger.When}
	for _, line := range strings.Split(to.Message, "\n") {
		if v, ok := strings.CutPrefix(line, "Environment: "); ok {
			t.Env = v
		}
		if v, ok := strings.CutPrefix(line, "Artifact: "); ok {
			t.Artifact = parseArtifactLine(v)
		}
	}
	return t, nil
}

// CommitSubject returns the first line of a commit's message.
func CommitSubject(repo, commit string) (string, error) {
	r, err := git.PlainOpen(repo)
	if err != nil {
		return "", fmt.Errorf("open repository: %w", err)
	}
	c, err := r.CommitObject(plumbing.NewHash(commit))
	if err != nil {
		return "", fmt.Errorf("read commit %s: %w", commit, err)
	}
	subject, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
	return subject, nil
}

// AppendNote adds a line about a release to the commit's note in NotesRef.
func AppendNote(ctx context.Context, repo, commit, line string) error {
	cmd := exec.CommandContext(ctx, "git", "-C", repo,
		"-c", "user.name=Slipway", "-c", "user.email=slipway@localhost",
		"notes", "--ref="+NotesRef, "append", "-m", line, commit)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("record outcome in %s: %w: %s", NotesRef, err, textclean.LastLine(string(out)))
	}
	return nil
}

// UpdateBranch moves refs/heads/<branch> from old to new; it fails if the
// branch no longer points at old. old "" means the branch must not exist.
func UpdateBranch(ctx context.Context, repo, branch, newOID, oldOID string) error {
	if oldOID == "" {
		oldOID = plumbing.ZeroHash.String()
	}
	cmd := exec.CommandContext(ctx, "git", "-C", repo, "-c", "user.name=Slipway", "-c", "user.email=slipway@localhost",
		"update-ref", "-m", "slipway deploy", "refs/heads/"+branch, newOID, oldOID)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("move branch %s: %w: %s", branch, err, textclean.LastLine(string(out)))
	}
	return PointHead(ctx, repo, branch)
}

// BranchHead returns the commit a branch points to, "" if it does not exist.
func BranchHead(repo, branch string) (string, error) {
	r, err := git.PlainOpen(repo)
	if err != nil {
		return "", fmt.Errorf("open repository: %w", err)
	}
	ref, err := r.Reference(plumbing.NewBranchReferenceName(branch), true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read branch %s: %w", branch, err)
	}
	return ref.Hash().String(), nil
}

// PointHead makes HEAD of the bare repository name branch when HEAD names
// a branch that does not exist, so that a clone checks out something.
func PointHead(ctx context.Context, repo, branch string) error {
	if exec.CommandContext(ctx, "git", "-C", repo, "rev-parse", "--verify", "-q", "HEAD").Run() == nil {
		return nil
	}
	if out, err := exec.CommandContext(ctx, "git", "-C", repo, "symbolic-ref", "HEAD", "refs/heads/"+branch).CombinedOutput(); err != nil {
		return fmt.Errorf("point HEAD at %s: %w: %s", branch, err, textclean.LastLine(string(out)))
	}
	return nil
}
