package gitserver

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"

	"github.com/slipwayhq/slipway/audit"
	"github.com/slipwayhq/slipway/internal/textclean"
	"github.com/slipwayhq/slipway/release"
)

// commitArg is what --commit accepts: a full or abbreviated commit id,
// never a ref name or an expression git would evaluate.
var commitArg = regexp.MustCompile(`^[0-9a-f]{4,64}$`)

// artifactOnlyRefusal is what an artifact-only user reads when pushing.
func artifactOnlyRefusal(user string) string {
	return fmt.Sprintf("%s may deploy artifacts only (artifact_only = true); git pushes need another user's key. Ship a build with: ssh <server> artifact APP ENV --commit COMMIT < build.tar.gz", user)
}

// artifact handles `artifact APP ENV --commit C`: a tree built elsewhere
// arrives on stdin (tar or tar.gz) and goes live as a new release tagged
// on C, which must already be on the server, through the same engine as
// a push. Permission is a push's: who may deploy ENV. Progress is written
// as a push shows it, `remote: ` lines on stderr, so that CI logs read
// the same for both; the exit status is 0 when the release went live or
// was staged for approval, 1 when it was refused or failed, 2 for usage.
func (c *command) artifact(ctx context.Context, stdin io.Reader, args []string) int {
	fs := flag.NewFlagSet("artifact", flag.ContinueOnError)
	commit := fs.String("commit", "", "the commit the artifact was built from")
	pos, ok := c.parse(fs, args, 2)
	if !ok {
		return exitUsage
	}
	if len(pos) != 2 || *commit == "" {
		return c.usageError("artifact")
	}
	if !commitArg.MatchString(*commit) {
		fmt.Fprintf(c.errw, "slipway: --commit %q is not a commit id; give the hex id the artifact was built from (git rev-parse HEAD)\n", textclean.Line(*commit, 80))
		return exitUsage
	}
	app, env, ok := c.target(pos)
	if !ok {
		return exitUsage
	}
	if !c.mayDeploy(app, env, "artifact") {
		return exitFailed
	}
	if app.Repository != "" {
		fmt.Fprintf(c.errw, "slipway: %s is hosted by another git server (%s); artifacts are deployed only for apps whose repository Slipway serves\n", app.Name, app.Repository)
		return exitFailed
	}
	cfg := c.s.Config()
	repo := c.s.repoDir(app.Name)
	full, err := resolveCommit(repo, *commit)
	if err != nil {
		c.s.audit(audit.Record{Event: audit.EventRefused, User: c.id.User, Key: c.id.Key, App: app.Name, Env: env.Name, Detail: "artifact: unknown commit " + *commit})
		fmt.Fprintf(c.errw, "slipway: %v\n", err)
		return exitFailed
	}
	art, err := c.s.Engine.ReceiveArtifact(app.Name, stdin, int64(cfg.MaxPushSize), int64(cfg.MaxReleaseSize))
	if err != nil {
		var refusedArchive *release.ArchiveError
		if errors.As(err, &refusedArchive) {
			c.s.audit(audit.Record{Event: audit.EventRefused, User: c.id.User, Key: c.id.Key, App: app.Name, Env: env.Name, Detail: "artifact: " + refusedArchive.Error()})
			fmt.Fprintf(c.errw, "slipway: %v; nothing was deployed\n", refusedArchive)
			return exitFailed
		}
		c.s.Log.Error().Err(err).Str("app", app.Name).Msg("receive artifact")
		fmt.Fprintln(c.errw, "slipway: the artifact could not be stored; the server log has details")
		return exitFailed
	}
	defer art.Discard()
	c.s.audit(audit.Record{Event: audit.EventPush, User: c.id.User, Key: c.id.Key, App: app.Name, Env: env.Name,
		Detail: fmt.Sprintf("artifact sha256:%s for %s", art.SHA256[:12], full[:7])})

	p := &pushSession{identity: c.id, App: app.Name, Repo: repo}
	out := &remoteWriter{w: &sessionWriter{w: c.errw}}
	// Like a push, the deploy belongs to the daemon once started.
	var r RefResult
	c.s.daemonWork(func() {
		r = c.s.deploy(c.s.ctx, viaSSH, p, app, env, RefCommand{Ref: "refs/heads/" + env.Branch}, full, "", false, art, out)
	})
	out.Flush()
	if r.Error != "" {
		c.s.audit(audit.Record{Event: audit.EventRefused, User: c.id.User, Key: c.id.Key, App: app.Name, Env: env.Name, Detail: "artifact: " + r.Error})
		fmt.Fprintf(c.errw, "slipway: %s\n", r.Error)
		return exitFailed
	}
	return exitOK
}

// resolveCommit returns the full id of the commit id names in repo, or
// says that it must be pushed first.
func resolveCommit(repo, id string) (string, error) {
	cmd := exec.Command("git", "-C", repo, "rev-parse", "--verify", "-q", "--end-of-options", id+"^{commit}")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("commit %s is not on the server; push it first (git push deploy <branch>), then send its artifact", id)
	}
	return strings.TrimSpace(stdout.String()), nil
}

// remoteWriter prefixes every line with "remote: ", as git shows a push's
// output.
type remoteWriter struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

func (w *remoteWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.w.Write(append([]byte("remote: "), w.buf[:i+1]...))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// Flush writes a last line that has no newline.
func (w *remoteWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.w.Write(append(append([]byte("remote: "), w.buf...), '\n'))
		w.buf = nil
	}
}
