package release

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/slipwayhq/slipway/audit"
	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/internal/durable"
	"github.com/slipwayhq/slipway/release/host"
)

// Approval refusals callers match with errors.Is.
var (
	// ErrPending means the environment has a release waiting for approval.
	ErrPending = errors.New("a release is waiting for approval")
	// ErrNoPending means there is no such release waiting.
	ErrNoPending = errors.New("no release is waiting for approval")
	// ErrNotApprover means the user may not approve this release.
	ErrNotApprover = errors.New("not allowed to approve")
	// ErrNotApproved means a release may not go live in an environment
	// with approval = true because nobody approved it there.
	ErrNotApproved = errors.New("release not approved")
	// ErrLiveRelease means a release is, or has been, live, so it is not
	// waiting for an approval and cannot be rejected.
	ErrLiveRelease = errors.New("release has been live")
)

// NotApprovedError refuses to make a release live in an environment with
// approval = true without an approval. Its message is the one sentence a
// user reads; Short fits in git's `! [remote rejected]` line.
type NotApprovedError struct {
	App, Env, Release string
	Pusher            string // who pushed the release
	// State is "waiting" (staged, an approver must act), "rejected"
	// (rejected or expired) or "never" (it never got as far as an approval).
	State  string
	Detail string // for "rejected": the note's reason
}

func (e *NotApprovedError) Error() string {
	switch e.State {
	case "waiting":
		return fmt.Sprintf("%s is waiting for approval in %s and a rollback cannot make it live", e.Release, e.Env)
	case "rejected":
		return fmt.Sprintf("%s was not approved for %s (%s)", e.Release, e.Env, e.Detail)
	default:
		return fmt.Sprintf("%s was never approved for %s", e.Release, e.Env)
	}
}

// Short is the reason in a push's `! [remote rejected]` line.
func (e *NotApprovedError) Short() string {
	if e.State == "waiting" {
		return e.Release + " waits for approval in " + e.Env
	}
	return e.Release + " was never approved for " + e.Env
}

func (e *NotApprovedError) Is(target error) bool { return target == ErrNotApproved }

// PendingError refuses a deploy while another release of the environment
// waits for approval: it must not slip past it, nor replace it.
type PendingError struct {
	Pending Pending
}

func (e *PendingError) Error() string {
	p := e.Pending
	return fmt.Sprintf("%s by %s since %s waits for approval in %s", p.Release, p.User, p.StagedAt.UTC().Format("2006-01-02 15:04 MST"), p.Env)
}

func (e *PendingError) Is(target error) bool { return target == ErrPending }

// LiveReleaseError refuses to reject a release that is, or has been, live:
// only a release waiting for approval can be rejected.
type LiveReleaseError struct {
	App, Env, Release string
	Live              bool   // it is the live release now
	Host              string // a host found running it, if that is how
}

func (e *LiveReleaseError) Error() string {
	switch {
	case e.Host != "":
		return fmt.Sprintf("%s runs on %s, so it cannot be rejected", e.Release, e.Host)
	case e.Live:
		return fmt.Sprintf("%s is live in %s, so it cannot be rejected", e.Release, e.Env)
	}
	return fmt.Sprintf("%s has been live in %s already, so it cannot be rejected; only a release waiting for approval can", e.Release, e.Env)
}

func (e *LiveReleaseError) Is(target error) bool { return target == ErrLiveRelease }

// checkApproved is the rule every way of making an existing release live
// again goes through (a rollback by push or over SSH, with or without
// force, by any user, admins included): in an environment with
// approval = true, only a release that has been live there, or that an
// approver approved there (and whose deploy then failed or was cut short),
// may go live without a new approval. So a staged release goes live only
// through Approve, and one an approver rejected stays rejected. A new
// release always stages there (see deploy.run). Environments without
// approval allow everything.
func checkApproved(app string, env *config.Environment, target *Release) error {
	if !env.Approval || target.WentLive() || target.ApprovedBy != "" {
		return nil
	}
	ne := &NotApprovedError{App: app, Env: env.Name, Release: target.Name, Pusher: target.User, State: "never"}
	if n := len(target.Events); n > 0 {
		last := target.Events[n-1]
		switch {
		case last.Outcome == OutcomePending:
			ne.State = "waiting"
		case last.Outcome == OutcomeFailed && strings.HasPrefix(last.Detail, "not approved: "):
			ne.State, ne.Detail = "rejected", strings.TrimPrefix(last.Detail, "not approved: ")
		}
	}
	return ne
}

// Pending is a release staged on every host (uploaded, linked, prepared)
// that goes live only when another user approves it. It is kept on disk
// so that it survives a restart.
type Pending struct {
	App      string            `json:"app"`
	Env      string            `json:"env"`
	Release  string            `json:"release"`
	Commit   string            `json:"commit"`
	Old      string            `json:"old"` // the branch when it was pushed
	User     string            `json:"user"`
	Key      string            `json:"key"`
	Hosts    []string          `json:"hosts"`
	Prev     map[string]string `json:"prev"`
	StagedAt time.Time         `json:"staged_at"`
	Expires  time.Time         `json:"expires"`
}

func (e *Engine) pendingFile(app, env string) string {
	return filepath.Join(e.DataDir, "pending", app, env+".json")
}

// PendingRelease returns the release of app/env waiting for approval, nil
// if there is none. A pending file that cannot be read is a *FileError,
// never "none": a release may be waiting for approval.
func (e *Engine) PendingRelease(app, env string) (*Pending, error) {
	var p Pending
	file := e.pendingFile(app, env)
	if found, err := readJSON(file, KindPending, &p); !found || err != nil {
		return nil, err
	}
	if _, ok := host.ParseRelease(p.Release); !ok || p.App != app || p.Env != env || p.Commit == "" {
		return nil, newFileError(file, KindPending, fmt.Errorf("it does not describe a release of %s/%s", app, env))
	}
	return &p, nil
}

// stage ends a deploy that needs approval: the release is on every host,
// nothing is live, and the push succeeds saying who must approve.
func (d *deploy) stage(ctx context.Context) (*Result, error) {
	req := d.req
	p := &Pending{App: req.App.Name, Env: req.Env.Name, Release: d.rel, Commit: req.Commit, Old: req.Old,
		User: req.User, Key: req.Key, Hosts: req.Env.Hosts, Prev: d.prev, StagedAt: time.Now().UTC(),
		Expires: time.Now().UTC().Add(req.Env.ApprovalTimeout.Std())}
	data, err := json.MarshalIndent(p, "", "  ")
	if err == nil {
		err = durable.WriteFile(d.e.pendingFile(p.App, p.Env), data, 0o600)
	}
	if err != nil {
		return nil, d.fail(ctx, &stepError{step: "stage", err: err})
	}
	// Staged releases change no host's current: nothing to undo on a crash.
	d.e.clearJournal(p.App, p.Env)
	d.event(ctx, req.Commit, OutcomePending, "staged on "+count(len(d.hosts), "host")+", waiting for approval")
	d.audit(audit.EventStaged, "waiting for approval until "+p.Expires.Format(time.RFC3339))
	d.p.line("%s is staged on %s, waiting for approval (until %s):", d.rel, count(len(d.hosts), "host"), p.Expires.Format("2006-01-02 15:04 MST"))
	d.p.line("  ssh <server> approve %s %s %s", p.App, p.Env, d.rel)
	d.obs.end(d.rel, OutcomePending, time.Since(d.start))
	return &Result{Release: d.rel, Duration: time.Since(d.start), Pending: true}, nil
}

// ApprovalRequest is an approver's answer to a staged release: approve
// it (Engine.Approve) or reject it (Engine.Reject).
type ApprovalRequest struct {
	Config  *config.Config // the configuration in force: who may approve
	App     *config.App
	Env     *config.Environment
	Repo    string // the app's bare repository
	Release string // "v7"
	User    string // who approves or rejects
	Key     string // the fingerprint of the key they signed with
	Reason  string // Reject: why, already cleaned for display
}

// Approve makes a pending release live: migrate, waves, health checks and
// rollback on failure, streamed to out (the approver's terminal).
func (e *Engine) Approve(ctx context.Context, req ApprovalRequest, out io.Writer) (*Result, error) {
	cfg, app, env, repo, rel, approver, key := req.Config, req.App, req.Env, req.Repo, req.Release, req.User, req.Key
	unlock, err := e.lock(app.Name, env.Name, approver)
	if err != nil {
		return nil, err
	}
	defer unlock()
	p, err := e.pendingFor(ctx, app, env, repo, rel)
	if err != nil {
		return nil, err
	}
	if !cfg.CanApprove(approver, p.User, env) {
		if approver == p.User {
			return nil, fmt.Errorf("%w: %s pushed %s and cannot approve it; another approver must", ErrNotApprover, approver, rel)
		}
		return nil, fmt.Errorf("%w: %s may not approve %s/%s", ErrNotApprover, approver, app.Name, env.Name)
	}
	// Approving makes a release live: a lock refuses it like a deploy.
	if err := e.checkFreeze(Request{App: app, Env: env, User: approver, Key: key}, out); err != nil {
		return nil, err
	}
	if err := os.Remove(e.pendingFile(app.Name, env.Name)); err != nil {
		return nil, err
	}
	e.Audit.Append(audit.Record{Event: audit.EventApproved, User: approver, Key: key, App: app.Name, Env: env.Name, Release: rel, Detail: "pushed by " + p.User})
	// The history keeps the approval too: if this deploy fails, the
	// release may still be rolled back to later (see checkApproved).
	mu := e.appMutex(app.Name)
	mu.Lock()
	err = recordEvent(ctx, repo, p.Commit, Event{Release: rel, Env: env.Name, Outcome: EventApproved, Time: time.Now(), User: approver, Detail: "pushed by " + p.User})
	mu.Unlock()
	if err != nil {
		e.Log.Error().Err(err).Str("app", app.Name).Str("env", env.Name).Str("release", rel).Msg("cannot record the approval")
	}

	dreq := Request{App: app, Env: env, Repo: repo, Commit: p.Commit, Old: p.Old, User: p.User, Key: p.Key}
	d, done, err := e.newDeploy(dreq, out)
	if err == nil {
		d.action, d.actor = ActionApprove, approver
	}
	if err != nil {
		return nil, err
	}
	defer done()
	d.rel, d.prev = rel, map[string]string{}
	d.log = d.log.With().Str("release", rel).Str("approver", approver).Logger()
	d.e.setLockRelease(app.Name, env.Name, rel)
	d.j = &journal{App: app.Name, Env: env.Name, Repo: repo, Release: rel, Commit: p.Commit, User: p.User,
		Hosts: env.Hosts, Prev: p.Prev, Phase: journalSwitch, Started: d.start}
	d.p.line("%s → %s: %s approved by %s (pushed by %s)", app.Name, env.Name, rel, approver, p.User)
	defer func() {
		for _, h := range d.hosts {
			h.Close()
		}
	}()
	// What the hosts and the branch hold now, not when it was staged: a
	// rollback may have happened in between.
	for _, name := range env.Hosts {
		h, err := e.connect(ctx, env, name)
		if err == nil {
			d.hosts = append(d.hosts, h)
			cctx, cancel := context.WithTimeout(ctx, switchTimeout)
			var info host.Info
			info, err = h.Open(cctx)
			d.prev[name] = info.Current
			cancel()
		}
		if err != nil {
			return nil, d.fail(ctx, &HostError{Host: name, Step: "connect", Err: err})
		}
	}
	if d.req.Old, err = BranchHead(repo, env.Branch); err != nil {
		return nil, err
	}
	d.j.Prev = d.prev
	if err := e.writeJournal(d.j); err != nil {
		return nil, err
	}
	return d.goLive(ctx)
}

// Reject drops a pending release: its directories are removed from the
// hosts and the history records why.
func (e *Engine) Reject(ctx context.Context, req ApprovalRequest) error {
	app, env, repo, rel, user, key, reason := req.App, req.Env, req.Repo, req.Release, req.User, req.Key, req.Reason
	unlock, err := e.lock(app.Name, env.Name, user)
	if err != nil {
		return err
	}
	defer unlock()
	// A release that is or was live is not waiting for anything: removing
	// it and writing "not approved" would leave the history without the
	// release that runs.
	rels, err := History(ctx, repo)
	if err != nil {
		return fmt.Errorf("read the history of %s: %w", app.Name, err)
	}
	for _, r := range rels {
		if r.Name != rel || r.Env != env.Name || !r.WentLive() {
			continue
		}
		// A pending entry for it was left by a release that went live
		// without Approve (while the environment had no approval).
		e.clearPending(app.Name, env.Name, rel)
		if live := LiveRelease(rels, env.Name); live != nil && live.Name == rel {
			return &LiveReleaseError{App: app.Name, Env: env.Name, Release: rel, Live: true}
		}
		return &LiveReleaseError{App: app.Name, Env: env.Name, Release: rel}
	}
	p, err := e.pendingFor(ctx, app, env, repo, rel)
	if err != nil {
		return err
	}
	return e.drop(ctx, env, p, "rejected by "+user+": "+reason, user, key)
}

// clearPending forgets the pending release of app/env if it is rel.
func (e *Engine) clearPending(app, env, rel string) {
	p, err := e.PendingRelease(app, env)
	if err != nil || p == nil || p.Release != rel {
		return
	}
	if err := os.Remove(e.pendingFile(app, env)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		e.Log.Error().Err(err).Str("app", app).Str("env", env).Msg("cannot remove a pending release that went live")
		return
	}
	e.Log.Info().Str("app", app).Str("env", env).Str("release", rel).Msg("pending release went live; no longer waiting")
}

// pendingFor returns the pending release rel of env, expiring it if its
// time is up.
func (e *Engine) pendingFor(ctx context.Context, app *config.App, env *config.Environment, repo, rel string) (*Pending, error) {
	p, err := e.PendingRelease(app.Name, env.Name)
	if err != nil {
		return nil, err
	}
	if p == nil || (rel != "" && p.Release != rel) {
		return nil, fmt.Errorf("%w: %s/%s %s", ErrNoPending, app.Name, env.Name, rel)
	}
	if time.Now().After(p.Expires) {
		e.drop(ctx, env, p, "expired at "+p.Expires.Format(time.RFC3339), "slipway", "")
		return nil, fmt.Errorf("%w: %s expired at %s", ErrNoPending, p.Release, p.Expires.Format(time.RFC3339))
	}
	return p, nil
}

// drop removes a pending release from the hosts and from disk. It changes
// nothing if a host runs the release: the history may not know it is live.
func (e *Engine) drop(ctx context.Context, env *config.Environment, p *Pending, why, user, key string) error {
	var hosts []host.Host
	defer func() {
		for _, h := range hosts {
			h.Close()
		}
	}()
	for _, name := range p.Hosts {
		h, err := e.connect(ctx, env, name)
		if err != nil {
			continue
		}
		hosts = append(hosts, h)
		cctx, cancel := context.WithTimeout(ctx, switchTimeout)
		info, err := h.Open(cctx)
		cancel()
		if err == nil && info.Current == p.Release {
			return &LiveReleaseError{App: p.App, Env: p.Env, Release: p.Release, Live: true, Host: name}
		}
	}
	for _, h := range hosts {
		rctx, cancel := context.WithTimeout(ctx, pruneTimeout)
		err := h.Remove(rctx, p.Release)
		cancel()
		if err != nil {
			e.Log.Warn().Str("host", h.Name()).Err(err).Msg("cannot remove a dropped release")
		}
	}
	if err := os.Remove(e.pendingFile(p.App, p.Env)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	e.removeArtifact(p.App, p.Release)
	repo := filepath.Join(e.DataDir, "repos", p.App+".git")
	ev := Event{Release: p.Release, Env: p.Env, Outcome: OutcomeFailed, Time: time.Now(), User: user, Detail: "not approved: " + why}
	if err := recordEvent(ctx, repo, p.Commit, ev); err != nil {
		e.Log.Error().Err(err).Msg("cannot record the outcome")
	}
	e.Audit.Append(audit.Record{Event: audit.EventRejected, User: user, Key: key, App: p.App, Env: p.Env, Release: p.Release, Detail: why})
	e.Log.Info().Str("app", p.App).Str("env", p.Env).Str("release", p.Release).Str("why", why).Msg("pending release dropped")
	return nil
}

// ExpirePending drops every pending release whose time is up.
func (e *Engine) ExpirePending(ctx context.Context, cfg *config.Config) {
	files, _ := filepath.Glob(filepath.Join(e.DataDir, "pending", "*", "*.json"))
	for _, f := range files {
		app := filepath.Base(filepath.Dir(f))
		envName := filepath.Base(f[:len(f)-len(".json")])
		a, ok := cfg.App(app)
		if !ok {
			continue
		}
		env, ok := a.Environment(envName)
		if !ok {
			continue
		}
		p, err := e.PendingRelease(app, envName)
		if err != nil {
			e.Log.Error().Str("app", app).Str("env", envName).Err(err).Msg("pending release unreadable; it is kept and not expired")
			continue
		}
		if p == nil || time.Now().Before(p.Expires) {
			continue
		}
		unlock, err := e.lock(app, envName, "slipway")
		if err != nil {
			continue // a deploy is running; try next time
		}
		if err := e.drop(ctx, env, p, "expired at "+p.Expires.Format(time.RFC3339), "slipway", ""); err != nil {
			e.Log.Warn().Str("app", app).Str("env", envName).Err(err).Msg("cannot drop an expired release")
		}
		unlock()
	}
}
