package gitserver

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/slipwayhq/slipway/config"
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
	enc  *json.Encoder
	dead bool
}

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
	if err := w.enc.Encode(m); err != nil {
		w.dead = true
	}
}

func (s *Server) handleHook(conn net.Conn) {
	var req hookRequest
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&req); err != nil {
		s.Log.Warn().Err(err).Msg("bad request on hook socket")
		return
	}
	v, ok := s.pushes.Load(req.Token)
	if !ok {
		s.Log.Warn().Msg("hook request with an unknown token refused")
		return
	}
	p := v.(*pushSession)
	out := &lineWriter{enc: json.NewEncoder(conn)}

	// The deploy belongs to the daemon: it runs to the end (or rolls back)
	// even if the pusher goes away.
	s.deploys.Add(1)
	done := make(chan []RefResult, 1)
	go func() {
		defer s.deploys.Done()
		done <- s.handlePush(s.ctx, p, req.Commands, req.Options, out)
	}()
	out.send(hookMessage{Report: <-done, Done: true})
}

// handlePush decides, for each pushed ref, whether it deploys, is stored
// as an ordinary git ref, or is refused.
func (s *Server) handlePush(ctx context.Context, p *pushSession, cmds []RefCommand, opts []string, out *lineWriter) []RefResult {
	cfg := s.Config()
	app, ok := cfg.App(p.App)
	if !ok {
		return rejectAll(cmds, "app "+p.App+" is no longer configured")
	}
	log := s.Log.With().Str("app", p.App).Str("user", p.User).Str("key", p.Key).Logger()
	results := make([]RefResult, 0, len(cmds))
	for _, c := range cmds {
		log.Info().Str("ref", printable(c.Ref)).Str("old", c.Old).Str("new", c.New).Msg("push received")
		r := RefResult{Ref: c.Ref}
		if reason := s.handleRef(ctx, p, app, c, out); reason != "" {
			r.Error = reason
			log.Info().Str("ref", printable(c.Ref)).Str("reason", reason).Msg("push refused")
		}
		results = append(results, r)
	}
	return results
}

// handleRef carries out one ref update and returns "" or the reason it
// was refused, for `! [remote rejected] <ref> (<reason>)`.
func (s *Server) handleRef(ctx context.Context, p *pushSession, app *config.App, c RefCommand, out *lineWriter) string {
	deleting := c.New == zeroOID
	switch {
	case strings.HasPrefix(c.Ref, "refs/heads/"):
		branch := strings.TrimPrefix(c.Ref, "refs/heads/")
		if !config.ValidBranch(branch) {
			return "invalid branch name"
		}
		env, deploys := app.EnvironmentForBranch(branch)
		if !deploys {
			if err := updateRef(ctx, p.Repo, c); err != nil {
				s.Log.Error().Err(err).Str("ref", c.Ref).Msg("update ref")
				return "could not update the branch; see the server log"
			}
			if !deleting {
				fmt.Fprintf(out, "branch %s stored; no environment deploys it (%s)\n", branch, branchMap(app))
			}
			return ""
		}
		if deleting {
			fmt.Fprintf(out, "branch %s feeds environment %s and cannot be deleted\n", branch, env.Name)
			return "deploy branches cannot be deleted"
		}
		return s.deploy(ctx, p, app, env, c, out)
	case strings.HasPrefix(c.Ref, "refs/tags/"):
		tag := strings.TrimPrefix(c.Ref, "refs/tags/")
		if strings.HasPrefix(tag, "v") {
			fmt.Fprintf(out, "tags v* are release numbers that Slipway gives; push a branch to deploy\n")
			return "v* tags are reserved for releases"
		}
		if !config.ValidBranch(tag) {
			return "invalid tag name"
		}
		if err := updateRef(ctx, p.Repo, c); err != nil {
			s.Log.Error().Err(err).Str("ref", c.Ref).Msg("update ref")
			return "could not update the tag; see the server log"
		}
		return ""
	default:
		return "only branches and tags can be pushed"
	}
}

func (s *Server) deploy(ctx context.Context, p *pushSession, app *config.App, env *config.Environment, c RefCommand, out *lineWriter) string {
	old := c.Old
	if old == zeroOID {
		old = ""
	}
	_, err := s.Engine.Deploy(ctx, release.Request{
		App: app, Env: env, Repo: p.Repo, Commit: c.New, Old: old, User: p.User, Key: p.Key,
	}, out)
	if err == nil {
		return ""
	}
	var locked *release.LockedError
	var failed *release.DeployError
	switch {
	case errors.As(err, &locked):
		fmt.Fprintf(out, "%s is being deployed by %s since %s (%s); push again when it has finished\n",
			env.Name, locked.Holder.User, locked.Holder.Since.Format("15:04:05 MST"), locked.Holder.Release)
		return fmt.Sprintf("%s is locked by %s's deploy", env.Name, locked.Holder.User)
	case errors.Is(err, release.ErrBranchMoved):
		fmt.Fprintf(out, "branch %s moved while you pushed; fetch, then push again\n", env.Branch)
		return "branch moved; fetch and push again"
	case errors.As(err, &failed):
		return "deploy failed: " + failed.Reason()
	default:
		s.Log.Error().Err(err).Str("app", app.Name).Str("env", env.Name).Msg("deploy could not start")
		fmt.Fprintf(out, "deploy of %s could not start: %v\n", env.Name, err)
		return "deploy failed: internal error; see the server log"
	}
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
