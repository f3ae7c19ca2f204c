package gitserver

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/slipwayhq/slipway/audit"
	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/internal/textclean"
	"github.com/slipwayhq/slipway/release"
)

// pushSession is an authenticated receive-pack waiting for its hook.
type pushSession struct {
	identity
	App  string
	Repo string
}

type hookListener struct {
	s    *Server
	ln   net.Listener
	path string
	wg   sync.WaitGroup
}

func (s *Server) listenHooks(path string) (*hookListener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	os.Remove(path) // a socket left by a previous run
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on hook socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return &hookListener{s: s, ln: ln, path: path}, nil
}

func (hl *hookListener) serve() {
	for {
		conn, err := hl.ln.Accept()
		if err != nil {
			return
		}
		hl.wg.Add(1)
		go func() {
			defer hl.wg.Done()
			defer conn.Close()
			hl.s.handleHook(conn)
		}()
	}
}

func (hl *hookListener) close() {
	hl.ln.Close()
	hl.wg.Wait()
}

// lineWriter sends output to the hook as JSON lines. Once the hook is gone
// (the pusher disconnected) writes are dropped, so the deploy goes on.
type lineWriter struct {
	mu   sync.Mutex
	conn net.Conn
	enc  *json.Encoder
	dead bool
}

// sendTimeout bounds one write to the hook: a pusher whose terminal is
// stalled (a suspended git push) must not stall the deploy.
const sendTimeout = 10 * time.Second

func (w *lineWriter) Write(p []byte) (int, error) {
	w.send(hookMessage{Out: string(p)})
	return len(p), nil
}

func (w *lineWriter) send(m hookMessage) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dead {
		return
	}
	w.conn.SetWriteDeadline(time.Now().Add(sendTimeout))
	if err := w.enc.Encode(m); err != nil {
		w.dead = true
	}
}

func (s *Server) handleHook(conn net.Conn) {
	var req hookRequest
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	err := json.NewDecoder(bufio.NewReader(conn)).Decode(&req)
	conn.SetReadDeadline(time.Time{})
	if err != nil {
		s.Log.Warn().Err(err).Msg("bad request on hook socket")
		return
	}
	// A hook belongs to a running receive-pack session, so a stop that
	// waits for sessions lets it in.
	if !s.sessions.enter(true) {
		s.Log.Warn().Msg("hook request refused: the server is stopping")
		return
	}
	defer s.sessions.leave()
	v, ok := s.pushes.Load(req.Token)
	if !ok {
		s.Log.Warn().Msg("hook request with an unknown token refused")
		return
	}
	p := v.(*pushSession)
	out := &lineWriter{conn: conn, enc: json.NewEncoder(conn)}
	if !s.authorized(p.identity) {
		s.Log.Info().Str("user", p.User).Str("key", p.Key).Str("app", p.App).Msg("push refused: the key is no longer authorized for this user")
		fmt.Fprintln(out, keyRefusal(p.identity))
		out.send(hookMessage{Report: rejectAll(req.Commands, "key no longer authorized"), Done: true})
		return
	}

	s.runPush(p, req, out)
}

// runPush handles the push under the daemon's context and sends the
// verdict. The deploy belongs to the daemon: it runs to the end (or rolls
// back) even if the pusher goes away.
func (s *Server) runPush(p *pushSession, req hookRequest, out *lineWriter) {
	var report []RefResult
	s.daemonWork(func() { report = s.handlePush(s.ctx, p, req.Commands, req.Options, out) })
	out.send(hookMessage{Report: report, Done: true})
}

// daemonWork runs a deploy, a rollback or an approval as work of the
// daemon: a graceful stop waits for it to end before it closes sessions.
// It runs under the daemon's context, never the session's.
func (s *Server) daemonWork(f func()) {
	s.deploys.Add(1)
	defer s.deploys.Done()
	f()
}

// handlePush decides, for each pushed ref, whether it deploys, rolls
// back, is stored as an ordinary git ref, or is refused.
func (s *Server) handlePush(ctx context.Context, p *pushSession, cmds []RefCommand, opts []string, out *lineWriter) []RefResult {
	cfg := s.Config()
	app, ok := cfg.App(p.App)
	if !ok {
		return rejectAll(cmds, "app "+p.App+" is no longer configured")
	}
	force := false
	for _, o := range opts {
		if o == "force" {
			force = true
		}
	}
	log := s.Log.With().Str("app", p.App).Str("user", p.User).Str("key", p.Key).Logger()
	if cfg.ArtifactOnly(p.User) {
		// Also behind another git server, whose hook names the pusher.
		fmt.Fprintln(out, artifactOnlyRefusal(p.User))
		s.audit(audit.Record{Event: audit.EventRefused, User: p.User, Key: p.Key, App: p.App, Detail: "push by an artifact-only user"})
		return rejectAll(cmds, "artifact_only: "+p.User+" may not push")
	}
	results := make([]RefResult, 0, len(cmds))
	for _, c := range cmds {
		log.Info().Str("ref", textclean.Line(c.Ref, 80)).Str("old", c.Old).Str("new", c.New).Msg("push received")
		s.audit(audit.Record{Event: audit.EventPush, User: p.User, Key: p.Key, App: p.App, Ref: textclean.Line(c.Ref, 80), Detail: shortID(c.Old) + ".." + shortID(c.New)})
		r := s.handleRef(ctx, p, app, c, force, out)
		r.Ref = c.Ref
		if r.Error != "" {
			log.Info().Str("ref", textclean.Line(c.Ref, 80)).Str("reason", r.Error).Msg("push refused")
			s.audit(audit.Record{Event: audit.EventRefused, User: p.User, Key: p.Key, App: p.App, Ref: textclean.Line(c.Ref, 80), Detail: r.Error})
		}
		results = append(results, r)
	}
	return results
}

// refused is a RefResult that shows as `! [remote rejected] <ref> (<reason>)`.
func refused(reason string) RefResult { return RefResult{Error: reason} }

// handleRef carries out one ref update.
func (s *Server) handleRef(ctx context.Context, p *pushSession, app *config.App, c RefCommand, force bool, out *lineWriter) RefResult {
	deleting := c.New == zeroOID
	if env, ok := rollbackRef(c.Ref); ok {
		if deleting {
			return refused("nothing named rollback is stored; push a release tag to it: git push deploy +v41:rollback")
		}
		return s.rollbackByPush(ctx, p, app, env, c, force, out)
	}
	switch {
	case strings.HasPrefix(c.Ref, "refs/heads/"):
		branch := strings.TrimPrefix(c.Ref, "refs/heads/")
		if !config.ValidBranch(branch) {
			return refused("invalid branch name")
		}
		env, deploys := app.EnvironmentForBranch(branch)
		if !deploys {
			if err := updateRef(ctx, p.Repo, c); err != nil {
				s.Log.Error().Err(err).Str("ref", c.Ref).Msg("update ref")
				return refused("could not update the branch; see the server log")
			}
			if !deleting {
				fmt.Fprintf(out, "branch %s stored; no environment deploys it (%s)\n", branch, branchMap(app))
			}
			return RefResult{}
		}
		if deleting {
			fmt.Fprintf(out, "branch %s feeds environment %s and cannot be deleted\n", branch, env.Name)
			return refused("deploy branches cannot be deleted")
		}
		if msg := deployRefusal(s.Config(), p.User, env); msg != "" {
			fmt.Fprintln(out, msg)
			return refused("permission denied: deploy " + env.Name)
		}
		// A release tag pushed to a branch (git push deploy v41:production)
		// promotes that release's commit.
		commit, err := peelCommit(ctx, p.Repo, c.New)
		if err != nil {
			return refused("only commits can be deployed")
		}
		r := s.deploy(ctx, viaPush, p, app, env, c, commit, "", force, nil, out)
		if r.Error == "" && commit != c.New {
			r.NewOID = commit
		}
		return r
	case strings.HasPrefix(c.Ref, "refs/tags/"):
		tag := strings.TrimPrefix(c.Ref, "refs/tags/")
		if releaseTag.MatchString(tag) {
			fmt.Fprintf(out, "tag %s looks like a release number, and those are given by Slipway; push a branch to deploy (tags like v1.4.2 are stored as they are)\n", tag)
			return refused("tags v and a number are reserved for releases")
		}
		if !config.ValidBranch(tag) {
			return refused("invalid tag name")
		}
		if env, ok := app.EnvironmentForBranch(tag); ok {
			// git push deploy v5:production makes a tag when the branch
			// does not exist on the server yet; that is never what is meant.
			fmt.Fprintf(out, "%s is the branch of %s; to deploy there, push to refs/heads/%s (git push deploy %s:refs/heads/%s the first time)\n", tag, env.Name, tag, "<release>", tag)
			return refused("a tag may not be named like a deploy branch")
		}
		if err := updateRef(ctx, p.Repo, c); err != nil {
			s.Log.Error().Err(err).Str("ref", c.Ref).Msg("update ref")
			return refused("could not update the tag; see the server log")
		}
		return RefResult{}
	default:
		return refused("only branches and tags can be pushed")
	}
}

// releaseTag is a tag Slipway may give a release: v and digits only. Any
// other tag, v1.4.2 included, belongs to the pusher.
var releaseTag = regexp.MustCompile(`^v[0-9]+$`)

// rollbackRef recognizes the refs a rollback is pushed to: rollback and
// rollback/<env>, as a branch or (for git push deploy v41:rollback, where
// the source is a tag) as a tag. env is "" when not named.
func rollbackRef(ref string) (env string, ok bool) {
	for _, prefix := range []string{"refs/heads/", "refs/tags/"} {
		name, found := strings.CutPrefix(ref, prefix)
		if !found {
			continue
		}
		if name == "rollback" {
			return "", true
		}
		if env, found := strings.CutPrefix(name, "rollback/"); found {
			return env, true
		}
	}
	return "", false
}

// rollbackByPush handles git push deploy +v41:rollback[/env].
func (s *Server) rollbackByPush(ctx context.Context, p *pushSession, app *config.App, envName string, c RefCommand, force bool, out io.Writer) RefResult {
	s.Engine.Wait(app.Name, "") // the notes of deploys that gave their verdict
	rel, err := s.releaseForObject(ctx, p.Repo, c.New)
	if err != nil {
		fmt.Fprintf(out, "%v\n", err)
		return refused("not a release: push a release tag, like +v41:rollback")
	}
	if envName == "" {
		envName = rel.Env
	}
	env, ok := app.Environment(envName)
	if !ok {
		return refused(fmt.Sprintf("%s has no environment %s", app.Name, envName))
	}
	if msg := deployRefusal(s.Config(), p.User, env); msg != "" {
		fmt.Fprintln(out, msg)
		return refused("permission denied: roll back " + env.Name)
	}
	r := s.deploy(ctx, viaPush, p, app, env, RefCommand{Ref: "refs/heads/" + env.Branch}, rel.Commit, rel.Name, force, nil, out)
	if r.Error != "" {
		return r
	}
	// Tell git what really moved: the environment's branch, not "rollback".
	r.RefName = "refs/heads/" + env.Branch
	r.NewOID = rel.Commit
	r.Forced = true
	return r
}

// releaseForObject finds the release a pushed object names: a release tag
// object, or a commit released exactly once.
func (s *Server) releaseForObject(ctx context.Context, repo, oid string) (*release.Release, error) {
	rels, err := release.History(ctx, repo)
	if err != nil {
		return nil, err
	}
	tagOID := func(name string) string {
		out, err := exec.CommandContext(ctx, "git", "-C", repo, "rev-parse", "--verify", "-q", "refs/tags/"+name).Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	var byCommit []*release.Release
	for _, r := range rels {
		if tagOID(r.Name) == oid {
			return r, nil
		}
		if r.Commit == oid {
			byCommit = append(byCommit, r)
		}
	}
	if len(byCommit) == 1 {
		return byCommit[0], nil
	}
	if len(byCommit) > 1 {
		return nil, fmt.Errorf("commit %s is in %d releases; push the release tag, like +%s:rollback", oid[:7], len(byCommit), byCommit[0].Name)
	}
	return nil, fmt.Errorf("%s is not a release of %s", oid[:min(7, len(oid))], "this app")
}

// peelCommit returns the commit oid names (a tag is peeled).
func peelCommit(ctx context.Context, repo, oid string) (string, error) {
	out, err := exec.CommandContext(ctx, "git", "-C", repo, "rev-parse", "--verify", "-q", oid+"^{commit}").Output()
	if err != nil {
		return "", fmt.Errorf("%s is not a commit", oid)
	}
	return strings.TrimSpace(string(out)), nil
}

// deploy runs one deploy or rollback for a push (ch viaPush) or an ssh
// command (viaSSH): a deploy of commit, with rollback a rollback to that
// release, with art a new release of the artifact. It says how it ended
// as git's ref result.
func (s *Server) deploy(ctx context.Context, ch channel, p *pushSession, app *config.App, env *config.Environment, c RefCommand, commit, rollback string, force bool, art *release.Artifact, out io.Writer) RefResult {
	old := c.Old
	if rollback != "" || old == "" {
		// A rollback moves the branch from wherever it is.
		head, err := release.BranchHead(p.Repo, env.Branch)
		if err != nil {
			return refused("could not read the branch; see the server log")
		}
		old = head
	}
	if old == zeroOID {
		old = ""
	}
	promote, from := rollback == "" && art == nil && commit != c.New, ""
	if promote {
		// The release a promotion deploys: its artifact, if it had one,
		// is shipped again.
		if rel, err := s.releaseForObject(ctx, p.Repo, c.New); err == nil && rel.Commit == commit {
			from = rel.Name
		}
	}
	_, err := s.Engine.Deploy(ctx, release.Request{
		App: app, Env: env, Repo: p.Repo, Commit: commit, Old: old, User: p.User, Key: p.Key,
		Rollback: rollback, Force: force, Promote: promote, From: from, Artifact: art,
		MaxReleaseSize: int64(s.Config().MaxReleaseSize),
		Admin:          roleOf(s.Config(), p.User) == config.RoleAdmin,
	}, out)
	if err == nil {
		res := RefResult{}
		if rollback != "" {
			res.OldOID = old
			if res.OldOID == "" {
				res.OldOID = zeroOID
			}
		}
		return res
	}
	r := explain(err, ch, explainTarget{App: app.Name, Env: env.Name, Branch: env.Branch, Rollback: rollback})
	var damaged *release.FileError
	switch {
	case errors.As(err, &damaged):
		s.Log.Error().Str("app", app.Name).Str("env", env.Name).Str("file", damaged.Path).Err(damaged.Err).Msg("deploy refused: " + damaged.Kind + " file damaged")
	case r.Internal:
		s.Log.Error().Err(err).Str("app", app.Name).Str("env", env.Name).Msg("deploy could not start")
	case rollback != "":
		s.Log.Info().Err(err).Str("app", app.Name).Str("env", env.Name).Msg("rollback refused")
	}
	if r.Detail != "" {
		fmt.Fprintln(out, r.Detail)
	}
	return refused(r.Short)
}

// updateRef stores a ref update that deploys nothing, refusing it if the
// ref moved since the push started.
func updateRef(ctx context.Context, repo string, c RefCommand) error {
	args := []string{"-C", repo, "-c", "user.name=Slipway", "-c", "user.email=slipway@localhost", "update-ref", "-m", "push"}
	if c.New == zeroOID {
		args = append(args, "-d", c.Ref, c.Old)
	} else {
		args = append(args, c.Ref, c.New, c.Old)
	}
	if out, err := exec.CommandContext(ctx, "git", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("git update-ref: %w: %s", err, strings.TrimSpace(string(out)))
	}
	if branch, ok := strings.CutPrefix(c.Ref, "refs/heads/"); ok && c.New != zeroOID {
		return release.PointHead(ctx, repo, branch)
	}
	return nil
}

func branchMap(app *config.App) string {
	var parts []string
	for _, env := range app.Environments {
		parts = append(parts, env.Branch+" → "+env.Name)
	}
	sort.Strings(parts)
	return "deploy branches: " + strings.Join(parts, ", ")
}

func rejectAll(cmds []RefCommand, reason string) []RefResult {
	var rs []RefResult
	for _, c := range cmds {
		rs = append(rs, RefResult{Ref: c.Ref, Error: reason})
	}
	return rs
}

func (s *Server) audit(r audit.Record) {
	if err := s.Engine.Audit.Append(r); err != nil {
		s.Log.Error().Err(err).Msg("cannot write the audit log")
	}
}
