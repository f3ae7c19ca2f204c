package release

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slipwayhq/slipway/internal/textclean"
	"github.com/slipwayhq/slipway/release/host"
	"golang.org/x/sync/errgroup"

	"github.com/rs/zerolog"

	"github.com/slipwayhq/slipway/audit"
	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/lifecycle"
)

// Timeouts for steps that have no configured timeout.
const (
	exportTimeout = 10 * time.Minute
	uploadTimeout = 30 * time.Minute
	switchTimeout = 30 * time.Second
	pruneTimeout  = 5 * time.Minute
)

// Request is one deploy: a pushed commit for an environment.
type Request struct {
	App    *config.App
	Env    *config.Environment
	Repo   string // bare repository path
	Commit string // full commit id
	// Old is the branch's value the pusher's push was based on ("" for a
	// new branch). The deploy is refused if the branch moved since.
	Old  string
	User string
	Key  string // SHA256 fingerprint of the key the pusher signed with
	// Rollback names an earlier release of Env to make live again instead
	// of a new release of Commit (which must then be that release's commit).
	Rollback string
	// Force allows a rollback to a release that never went live and,
	// with Admin, a deploy of an environment that is locked (freeze.go).
	Force bool
	// Promote marks a deploy of a commit that is already a release (a
	// release tag pushed to a deploy branch); hooks see SLIPWAY_ACTION=promote.
	Promote bool
	// From names the release a promotion deploys (the tag pushed); a
	// release shipped from an artifact is promoted with the same artifact.
	From string
	// Artifact, when set, is the tree of the new release instead of
	// Commit's (ssh … artifact; see Engine.ReceiveArtifact). The deploy
	// keeps it as the release's artifact once the release is tagged.
	Artifact *Artifact
	// MaxReleaseSize bounds the export of Commit in bytes
	// (max_release_size); 0 means no limit.
	MaxReleaseSize int64
	Admin          bool // the pusher is an admin
}

// Action says why a deploy runs. Hooks see it as SLIPWAY_ACTION.
type Action string

// The actions.
const (
	ActionDeploy   Action = "deploy"   // a push of a new commit
	ActionRollback Action = "rollback" // an earlier release, again
	ActionPromote  Action = "promote"  // a release tag pushed to another deploy branch
	ActionApprove  Action = "approve"  // a staged release taken live by an approver
	ActionCheck    Action = "check"    // a health check asked for by status --live; nothing changes
	ActionLogs     Action = "logs"     // the logs command of ssh … logs; nothing changes
)

// action is what req asks for, before any approval.
func (req Request) action() Action {
	switch {
	case req.Rollback != "":
		return ActionRollback
	case req.Promote:
		return ActionPromote
	}
	return ActionDeploy
}

// Result is a successful deploy.
type Result struct {
	Release  string
	Duration time.Duration
	// Pending means the release is staged on every host and waits for
	// an approval (see Engine.Approve); nothing is live yet.
	Pending bool
	// Unchanged means the push changed nothing under the environment's
	// subdir: no release was made, Release is the live one.
	Unchanged bool
}

// DeployError is a failed deploy: which release, which step on which
// host, why, and what every host runs now.
type DeployError struct {
	Release string   // "" when the deploy failed before a number was given
	Step    string   // "export", "upload", "switch", "health", ...
	Host    string   // "" for steps that run on the server
	Err     error    // the cause
	Live    []string // "local: v2" for each host, after rollback
}

func (e *DeployError) Error() string { return e.Reason() }
func (e *DeployError) Unwrap() error { return e.Err }

// Reason is the one-line cause shown in `! [remote rejected] ... (deploy failed: <reason>)`.
func (e *DeployError) Reason() string {
	var what string
	switch e.Step {
	case "health":
		what = "health check failed"
	case "watch":
		what = "health check failed while watching"
	default:
		what = e.Step + " failed"
	}
	var tl *TooLargeError
	if errors.As(e.Err, &tl) {
		return "release over max_release_size (" + exactBytes(tl.Limit) + ")"
	}
	if e.Host != "" {
		what += " on " + e.Host
	}
	return what
}

// Deploy ships req.Commit to every host of req.Env and makes it live, wave
// by wave, or leaves every host on the release it ran before. Progress goes
// to out, one line per step; the returned error is a *LockedError, a
// *FrozenError, a *SubdirError, or a *DeployError, or (for an unexpected
// failure) any other error.
//
// ctx should belong to the daemon, not to the pusher's connection: a
// pusher who disconnects must not leave hosts half switched.
func (e *Engine) Deploy(ctx context.Context, req Request, out io.Writer) (*Result, error) {
	app, env := req.App.Name, req.Env.Name
	unlock, err := e.lock(app, env, req.User)
	if err != nil {
		return nil, err
	}
	defer unlock()

	if err := e.settle(ctx, req.Env); err != nil {
		return nil, err
	}
	if err := e.checkFreeze(req, out); err != nil {
		return nil, err
	}
	p, err := e.pendingFor(ctx, req.App, req.Env, req.Repo, "")
	var damaged *FileError
	if errors.As(err, &damaged) && req.Rollback == "" {
		// A release may be waiting for approval: a deploy must not slip
		// past it, nor overwrite it.
		return nil, err
	}
	if err == nil && req.Rollback == "" {
		return nil, &PendingError{Pending: *p}
	}
	head, err := BranchHead(req.Repo, req.Env.Branch)
	if err != nil {
		return nil, err
	}
	if head != req.Old {
		return nil, fmt.Errorf("%w: %s is at %s now, not at %s", ErrBranchMoved, req.Env.Branch, short(head), short(req.Old))
	}
	// An artifact is the whole tree of its release: the subdir of the
	// commit has no say in what it holds.
	if req.Env.Subdir != "" && req.Artifact == nil && !isArtifactRelease(req.Repo, cmp.Or(req.Rollback, req.From)) {
		if res, err := e.checkSubdir(ctx, req, out); res != nil || err != nil {
			return res, err
		}
	}
	var from string // the live release a rollback replaces
	if req.Rollback != "" {
		if from, err = e.checkRollback(ctx, req); err != nil {
			return nil, err
		}
	}
	// A rollback or a promotion of a release shipped from an artifact
	// ships that artifact again, or is refused if it is gone.
	art, kept := req.Artifact, false
	if src := cmp.Or(req.Rollback, req.From); src != "" && art == nil {
		tag, err := ReadTag(req.Repo, src)
		if err != nil {
			return nil, err
		}
		if tag.Artifact != "" {
			if art, err = e.keptArtifact(req.App.Name, src, tag.Artifact); err != nil {
				return nil, err
			}
			kept = true
		}
	}

	d, done, err := e.newDeploy(req, out)
	if err != nil {
		return nil, err
	}
	defer done()
	d.from = from
	d.art, d.artKept = art, kept
	if p != nil {
		d.staged = p.Release
	}
	d.log = d.log.With().Str("commit", short(req.Commit)).Logger()
	return d.run(ctx)
}

// newDeploy prepares the state of a deploy of req whose output goes to
// out with every secret value of the environment replaced by ***. done
// flushes the output.
func (e *Engine) newDeploy(req Request, out io.Writer) (d *deploy, done func(), err error) {
	var secretValues map[string]string
	if e.Secrets != nil {
		if secretValues, err = e.Secrets.Get(req.App.Name, req.Env.Name); err != nil {
			return nil, nil, err
		}
	}
	values := secretForms(secretValues)
	if out == nil {
		out = io.Discard
	}
	var tap io.WriteCloser
	if e.Tap != nil {
		if tap = e.Tap(req.App.Name, req.Env.Name); tap != nil {
			out = tee{out: out, tap: tap}
		}
	}
	masked := lifecycle.NewMasker(out, values)
	d = &deploy{e: e, req: req, p: newPrinter(masked), start: time.Now(), secrets: secretValues, action: req.action(), actor: req.User}
	d.p.secrets = values
	d.obs = &observer{e: e, app: req.App.Name, env: req.Env.Name, rollback: req.Rollback != ""}
	d.log = e.Log.With().Str("app", req.App.Name).Str("env", req.Env.Name).Str("user", req.User).Logger()
	return d, func() {
		// A deploy that ended without an outcome failed before its
		// first step could say so.
		d.obs.end(d.rel, OutcomeFailed, time.Since(d.start))
		masked.Close()
		if tap != nil {
			tap.Close()
		}
	}, nil
}

// deploy is the state of one running deploy.
type deploy struct {
	e     *Engine
	req   Request
	p     *printer
	obs   *observer
	log   zerolog.Logger
	start time.Time

	rel      string
	action   Action
	actor    string    // who makes it happen: the pusher, or the approver
	from     string    // rollback only: the live release being replaced
	art      *Artifact // the tree comes from this archive, not from git
	artKept  bool      // art is another release's kept archive (a promotion or the rollback target's)
	secrets  map[string]string
	j        *journal
	hosts    []host.Host
	prev     map[string]string // host → release current pointed to before
	switched []host.Host       // hosts whose current now points to rel

	mu           sync.Mutex
	healthResult map[string]string    // host → "ok" or "failed: ..."
	seen         map[string]HostState // host → what it runs, learned after the switch
	pruned       map[string]bool      // releases a switch removed from some host
	staged       string               // a release waiting for approval in the environment, which pruning spares
}

func (d *deploy) phase(p Phase) {
	d.e.setPhase(d.req.App.Name, d.req.Env.Name, p)
	d.obs.enter(p, d.rel)
}

func (d *deploy) setHealth(host, result string) {
	d.obs.health(d.rel, host, result == "ok")
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.healthResult == nil {
		d.healthResult = map[string]string{}
	}
	d.healthResult[host] = result
}

func (d *deploy) run(ctx context.Context) (*Result, error) {
	req := d.req
	app, env := req.App.Name, req.Env.Name
	subject, err := CommitSubject(req.Repo, req.Commit)
	if err != nil {
		return nil, err
	}

	if req.Rollback != "" {
		d.rel = req.Rollback
	} else {
		// Number the release and tag it before anything else, so every
		// attempt, failed or not, is in the history.
		mu := d.e.appMutex(app)
		mu.Lock()
		last, err := LastRelease(req.Repo)
		if err == nil {
			d.rel = host.ReleaseName(last + 1)
			err = createTag(req.Repo, last+1, req.Commit, app, env, req.User, time.Now(), d.art)
		}
		mu.Unlock()
		if err != nil {
			return nil, err
		}
		if d.art != nil {
			if err := d.keepArtifact(); err != nil {
				return nil, d.fail(ctx, &stepError{step: "export", err: err})
			}
		}
	}
	d.e.setLockRelease(app, env, d.rel)
	d.j = &journal{App: app, Env: env, Repo: req.Repo, Release: d.rel, Commit: req.Commit, User: req.User,
		Hosts: req.Env.Hosts, Phase: journalShip, Started: d.start, Rollback: req.Rollback != ""}
	if err := d.e.writeJournal(d.j); err != nil {
		return nil, err
	}
	d.log = d.log.With().Str("release", d.rel).Logger()
	d.log.Info().Str("key", req.Key).Bool("rollback", req.Rollback != "").Msg("deploy started")
	if req.Rollback != "" {
		d.audit(audit.EventRollback, "from "+orNone(d.from))
	} else {
		d.audit(audit.EventDeploy, short(req.Commit)+d.artifactNote())
	}

	plural := ""
	if n := len(req.Env.Hosts); n > 1 {
		plural = ", " + count(n, "host")
	}
	what := ""
	if d.art != nil {
		what = fmt.Sprintf(", artifact %s sha256 %s", humanBytes(d.art.Size), d.art.short())
	}
	if req.Rollback != "" {
		d.p.line("%s → %s: rollback to %s (%s %q%s) by %s, replacing %s%s", app, env, d.rel, short(req.Commit), textclean.Line(subject, 72), what, req.User, orNone(d.from), plural)
	} else {
		d.p.line("%s → %s: release %s (%s %q%s) by %s%s", app, env, d.rel, short(req.Commit), textclean.Line(subject, 72), what, req.User, plural)
	}

	defer func() {
		// After the bookkeeping, which may still need them; readers
		// need not wait for it.
		d.e.laterHook(app, env, func() {
			for _, h := range d.hosts {
				h.Close()
			}
		})
	}()
	if err := d.connectAll(ctx); err != nil {
		return nil, d.fail(ctx, err)
	}
	if req.Rollback != "" {
		// A rollback goes straight to the switch: most hosts still hold
		// the release, and Switch says which do not (see switchWaves).
		d.presumePrev()
		return d.goLive(ctx)
	}
	if err := d.open(ctx, d.hosts); err != nil {
		return nil, d.fail(ctx, err)
	}
	if err := d.ship(ctx, d.hosts); err != nil {
		return nil, d.fail(ctx, err)
	}
	if req.Env.Approval {
		return d.stage(ctx)
	}
	return d.goLive(ctx)
}

// goLive migrates, switches wave by wave, watches, and records the
// outcome. The release is on every host already.
func (d *deploy) goLive(ctx context.Context) (*Result, error) {
	req := d.req
	app, env := req.App.Name, req.Env.Name
	err := d.migrate(ctx)
	if err == nil {
		d.j.Prev, d.j.Phase = d.prev, journalSwitch
		err = d.e.writeJournal(d.j)
	}
	if err == nil {
		err = d.switchWaves(ctx)
	}
	if err == nil {
		err = d.watch(ctx)
	}
	if err != nil {
		return nil, d.fail(ctx, err)
	}
	// Every host runs the release. From here a restart completes the
	// deploy (branch and history) rather than undoing it.
	d.j.Phase, d.j.Old, d.j.From = journalFinishing, req.Old, d.from
	if err := d.e.writeJournal(d.j); err != nil {
		d.log.Error().Err(err).Msg("cannot update the deploy journal")
	}
	dur := time.Since(d.start)
	d.moveBranch(ctx)
	// A staged release made live by a rollback (possible only while the
	// environment has no approval) no longer waits for one.
	d.e.clearPending(app, env, d.rel)
	if req.Rollback != "" {
		d.p.line("%s rolled back to %s in %s", env, d.rel, seconds(dur))
	} else {
		d.p.line("deployed %s to %s in %s", d.rel, env, seconds(dur))
	}
	d.log.Info().Dur("duration", dur).Bool("rollback", req.Rollback != "").Msg("deploy finished")
	d.obs.end(d.rel, OutcomeLive, dur)
	// The verdict goes to the pusher now; the rest is the daemon's.
	d.later(ctx, func(ctx context.Context) {
		d.record(ctx, dur)
		d.e.clearJournal(app, env)
		d.pruneArtifacts()
		d.saveState(ctx)
		if req.Rollback != "" {
			d.audit(audit.EventRolledBack, "live again in "+seconds(dur))
		} else {
			d.audit(audit.EventDeployed, "live in "+seconds(dur))
		}
	})
	d.laterHook(ctx, d.afterDeploy)
	return &Result{Release: d.rel, Duration: dur}, nil
}

// pruneArtifacts removes the kept artifacts of releases that the switches
// pruned from every host. A host whose holdings are unknown may keep any.
func (d *deploy) pruneArtifacts() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.seen) < len(d.hosts) {
		return
	}
	for r := range d.pruned {
		held := false
		for _, hs := range d.seen {
			held = held || slices.Contains(hs.Releases, r)
		}
		if !held {
			d.e.removeArtifact(d.req.App.Name, r)
		}
	}
}

// later queues what is left of the deploy once its verdict is known (see
// Engine.later). Its lines go to the daemon log: the pusher has gone.
func (d *deploy) later(ctx context.Context, fn func(context.Context)) {
	d.p = &printer{w: logLines{d.log}, secrets: d.p.secrets}
	ctx = context.WithoutCancel(ctx)
	d.e.later(d.req.App.Name, d.req.Env.Name, func() { fn(ctx) })
}

// laterHook is later for after_deploy, which readers do not wait for (see
// Engine.laterHook).
func (d *deploy) laterHook(ctx context.Context, fn func(context.Context)) {
	d.p = &printer{w: logLines{d.log}, secrets: d.p.secrets}
	ctx = context.WithoutCancel(ctx)
	d.e.laterHook(d.req.App.Name, d.req.Env.Name, func() { fn(ctx) })
}

// logLines logs each line written to it, for output nobody reads live.
type logLines struct{ log zerolog.Logger }

func (l logLines) Write(b []byte) (int, error) {
	for line := range strings.SplitSeq(strings.TrimSuffix(string(b), "\n"), "\n") {
		l.log.Info().Str("line", line).Msg("after the verdict")
	}
	return len(b), nil
}

// bookkeepingFailed records a failure of the work done after the verdict
// in the daemon log and the audit log: nobody is there to read it live.
func (d *deploy) bookkeepingFailed(what string, err error) {
	d.log.Error().Err(err).Msg(what)
	if aerr := d.e.Audit.Append(audit.Record{Event: audit.EventBookkeeping, User: d.req.User, App: d.req.App.Name,
		Env: d.req.Env.Name, Release: d.rel, Detail: textclean.Line(lifecycle.Mask(what+": "+err.Error(), d.p.secrets), 300)}); aerr != nil {
		d.log.Error().Err(aerr).Msg("cannot write the audit log")
	}
}

// finish moves the branch and records the outcome of a release that is
// live on every host. A restart runs it again for a journal left in phase
// "finishing" (see completeJournal), so each step tolerates having run.
func (d *deploy) finish(ctx context.Context, dur time.Duration) {
	d.moveBranch(ctx)
	d.e.clearPending(d.req.App.Name, d.req.Env.Name, d.rel)
	d.record(ctx, dur)
}

// moveBranch moves the deploy branch to the live commit, before the
// verdict: the pusher's ok says the ref moved.
func (d *deploy) moveBranch(ctx context.Context) {
	req := d.req
	if head, _ := BranchHead(req.Repo, req.Env.Branch); head != req.Commit {
		if err := UpdateBranch(ctx, req.Repo, req.Env.Branch, req.Commit, req.Old); err != nil {
			// Every host runs the new release already; say so rather than
			// roll back a healthy deploy over a ref race.
			d.log.Error().Err(err).Msg("hosts switched but the branch could not be moved")
			d.p.line("warning: %s is live but branch %s was not moved: %v", d.rel, req.Env.Branch, err)
		}
	}
}

// record writes the outcome of a live release to the history.
func (d *deploy) record(ctx context.Context, dur time.Duration) {
	req := d.req
	if req.Rollback != "" {
		d.event(ctx, req.Commit, OutcomeLive, "rolled back from "+orNone(d.from))
		if d.from != "" {
			if tag, err := ReadTag(req.Repo, d.from); err == nil {
				d.eventFor(ctx, tag.Commit, d.from, OutcomeRolledBack, "replaced by "+d.rel)
			}
		}
	} else {
		d.event(ctx, req.Commit, OutcomeLive, "deployed in "+seconds(dur))
	}
}

// connectAll makes a Host for every host of the environment. It starts no
// remote session: the first one is Open, or for a rollback the switch.
func (d *deploy) connectAll(ctx context.Context) error {
	d.prev = make(map[string]string)
	for _, name := range d.req.Env.Hosts {
		h, err := d.e.connect(ctx, d.req.Env, name)
		if err != nil {
			d.p.step("connect", name, "FAILED: %v", err)
			return &HostError{Host: name, Step: "connect", Err: err}
		}
		d.hosts = append(d.hosts, h)
	}
	return nil
}

// open learns, in one session per host and in parallel, what each of
// hosts runs now and holds.
func (d *deploy) open(ctx context.Context, hosts []host.Host) error {
	return d.forEachHost(ctx, hosts, func(ctx context.Context, h host.Host) error {
		cctx, cancel := context.WithTimeout(ctx, switchTimeout)
		defer cancel()
		info, err := h.Open(cctx)
		if err != nil {
			d.p.step("connect", h.Name(), "FAILED: %v", err)
			return &HostError{Host: h.Name(), Step: "connect", Err: err}
		}
		d.mu.Lock()
		d.prev[h.Name()] = info.Current
		d.mu.Unlock()
		return nil
	})
}

// presumePrev fills prev, before a rollback's switch tells the truth, with
// what each host ran when last seen, or the live release.
func (d *deploy) presumePrev() {
	st, err := d.e.State(d.req.App.Name, d.req.Env.Name)
	for _, h := range d.hosts {
		rel := d.from
		if err == nil {
			if hs, ok := st.Hosts[h.Name()]; ok && hs.Current != "unknown" {
				rel = hs.Current
			}
		}
		d.prev[h.Name()] = rel
	}
}

// ship exports the tree and uploads it to targets, which open has
// reached. Nothing is live yet.
func (d *deploy) ship(ctx context.Context, targets []host.Host) error {
	req := d.req
	app, env := req.App.Name, req.Env.Name
	d.e.cleanStaging(app, env)
	defer d.e.cleanStaging(app, env)
	var err error

	// The manifest of the release most hosts run decides mtimes (see Manifest).
	base := majority(d.prev)
	var prevManifest *Manifest
	if base != "" {
		m, err := ReadManifest(d.e.manifestFile(app, base))
		if err != nil {
			d.log.Warn().Err(err).Msg("previous manifest unreadable; uploading everything")
		}
		prevManifest = m
	}

	d.phase(PhaseExport)
	t := time.Now()
	xctx, cancel := context.WithTimeout(ctx, exportTimeout)
	defer cancel()
	staging := d.e.stagingDir(app, env, d.rel)
	stamp, err := d.e.nextStamp(app)
	if err != nil {
		return &stepError{step: "export", err: err}
	}
	var m *Manifest
	var st ExportStats
	if d.art != nil {
		m, st, err = ExtractArtifact(xctx, d.art, staging, prevManifest, stamp, req.MaxReleaseSize)
		if m != nil {
			m.Commit = req.Commit
		}
	} else {
		staging, m, st, err = d.export(xctx, staging, base, prevManifest, stamp)
	}
	if err != nil {
		d.p.step("export", "", "FAILED: %v", err)
		return &stepError{step: "export", err: err}
	}
	// The hosts get exactly this tree unless a build changes it; then the
	// next upload compares the whole tree.
	if d.art == nil && req.Env.Hooks.Build == "" {
		if m.Dirs, err = treeDirs(staging); err != nil {
			return &stepError{step: "export", err: err}
		}
		m.Exact = true
	}
	if req.Rollback == "" {
		if err := WriteManifest(d.e.manifestFile(app, d.rel), m); err != nil {
			return &stepError{step: "export", err: err}
		}
	} else if !m.Exact {
		// Shipped again through a build: some hosts no longer hold the
		// exact tree the manifest describes.
		file := d.e.manifestFile(app, d.rel)
		if km, err := ReadManifest(file); err == nil && km != nil && km.Exact {
			km.Exact, km.Dirs = false, nil
			if err := WriteManifest(file, km); err != nil {
				return &stepError{step: "export", err: err}
			}
		}
	}
	if d.art != nil {
		d.p.step("export", "", "ok   %s, %s from the artifact  %s", count(st.Files, "file"), humanBytes(st.Bytes), seconds(time.Since(t)))
	} else {
		d.p.step("export", "", "%s", st.summary(time.Since(t)))
	}
	for _, s := range st.Skipped {
		d.p.step("export", "", "note: submodule %s is not part of the release", textclean.Line(s, 100))
	}
	d.log.Info().Str("step", "export").Int("files", st.Files).Int64("bytes", st.Bytes).Dur("duration", time.Since(t)).Msg("exported")
	if d.art != nil {
		if d.req.Env.Hooks.Build != "" {
			d.p.step("build", "", "skipped: an artifact is built before it is sent")
		}
	} else if err := d.build(ctx, staging); err != nil {
		return err
	}

	// A host running a release whose exact tree is known is sent only
	// what differs from it.
	changes := map[string][]string{}
	if m.Exact {
		for _, h := range targets {
			rel := d.prev[h.Name()]
			if _, done := changes[rel]; done || rel == "" {
				continue
			}
			changes[rel] = nil
			bm := prevManifest
			if rel != base {
				bm, _ = ReadManifest(d.e.manifestFile(app, rel))
			}
			if paths, ok := Changes(bm, m); ok {
				changes[rel] = paths
			}
		}
	}

	d.phase(PhaseUpload)
	err = d.forEachHost(ctx, targets, func(ctx context.Context, h host.Host) error {
		t := time.Now()
		uctx, cancel := context.WithTimeout(ctx, uploadTimeout)
		defer cancel()
		us, err := h.Upload(uctx, staging, d.rel, d.prev[h.Name()], changes[d.prev[h.Name()]])
		if err != nil {
			if errors.Is(err, host.ErrNoSpace) {
				err = fmt.Errorf("the disk of %s is full: %w; free space there (slipway check shows it), then push again", h.Name(), err)
			}
			d.p.step("upload", h.Name(), "FAILED: %v", err)
			return &HostError{Host: h.Name(), Step: "upload", Err: err}
		}
		from := ""
		if us.From != "" {
			from = " (from " + us.From + ")"
		}
		d.p.step("upload", h.Name(), "ok   %s changed, %s sent  %s%s", count(us.Files, "file"), humanBytes(us.BytesSent), seconds(time.Since(t)), from)
		d.log.Info().Str("step", "upload").Str("host", h.Name()).Int("files", us.Files).Int64("bytes", us.BytesSent).Str("from", us.From).Dur("duration", time.Since(t)).Msg("uploaded")
		return nil
	})
	if err != nil {
		return err
	}
	return d.prepare(ctx, targets)
}

// switchWaves switches the hosts wave by wave, checking health after each.
// A rollback switches every host at once instead (see rollbackSwitch).
func (d *deploy) switchWaves(ctx context.Context) error {
	if d.req.Rollback != "" {
		return d.rollbackSwitch(ctx)
	}
	names := make([]string, len(d.hosts))
	byName := make(map[string]host.Host, len(d.hosts))
	for i, h := range d.hosts {
		names[i] = h.Name()
		byName[h.Name()] = h
	}
	plan, err := Plan(names, d.req.Env.Waves)
	if err != nil {
		return &stepError{step: "plan", err: err}
	}
	for i, wave := range plan {
		label := PhaseSwitch
		if len(plan) > 1 {
			label = WavePhase(i+1, len(plan))
		}
		d.phase(label)
		hosts := make([]host.Host, len(wave))
		for j, n := range wave {
			hosts[j] = byName[n]
		}
		if err := d.switchHosts(ctx, label, hosts); err != nil {
			return err
		}
	}
	return nil
}

// rollbackSwitch switches every host at once, whatever waves and
// parallelism say: the target ran there before, and a switch is a rename
// (one session per host). Their lines follow in the configured order once
// every switch has answered, so that they read the same on every run;
// after_switch and the health check then run on each switched host,
// parallelism at a time. Hosts that no longer hold the target (retention
// removed it) changed nothing: it is shipped to them again from its tag,
// then they switch like a wave.
func (d *deploy) rollbackSwitch(ctx context.Context) error {
	d.phase(PhaseSwitch)
	type result struct {
		res     host.SwitchResult
		missing bool
		err     error
	}
	// Every host at once: a rollback is how an incident ends.
	results, _ := each(ctx, d.hosts, len(d.hosts), func(ctx context.Context, h host.Host) (result, error) {
		var r result
		r.res, r.missing, r.err = d.switchOne(ctx, h)
		return r, nil
	})
	var missing, switched []host.Host
	var first error
	for i, h := range d.hosts {
		r := results[i]
		switch {
		case r.missing:
			missing = append(missing, h)
		case d.reportSwitch(PhaseSwitch, h, r.res, r.err) != nil:
			if first == nil {
				first = &HostError{Host: h.Name(), Step: "switch", Err: r.err}
			}
		default:
			switched = append(switched, h)
		}
	}
	if first != nil {
		return first
	}
	// The switches told what each host ran before (d.j.Prev is d.prev).
	if err := d.e.writeJournal(d.j); err != nil {
		return err
	}
	if len(missing) == 0 {
		d.p.step("upload", "", "skipped: releases/%s is still on every host", d.rel)
	}
	err := d.forEachHost(ctx, switched, func(ctx context.Context, h host.Host) error {
		if err := d.afterSwitch(ctx, h, d.rel); err != nil {
			return err
		}
		return d.health(ctx, h)
	})
	if err != nil || len(missing) == 0 {
		return err
	}
	if err := d.open(ctx, missing); err != nil {
		return err
	}
	if err := d.ship(ctx, missing); err != nil {
		return err
	}
	if err := d.e.writeJournal(d.j); err != nil {
		return err
	}
	return d.switchHosts(ctx, PhaseSwitch, missing)
}

// switchHosts switches hosts to the release, parallelism at a time,
// pruning beyond keep_releases in the same session, then runs
// after_switch and the health check on each.
func (d *deploy) switchHosts(ctx context.Context, label Phase, hosts []host.Host) error {
	return d.forEachHost(ctx, hosts, func(ctx context.Context, h host.Host) error {
		res, missing, err := d.switchOne(ctx, h)
		if missing {
			err = fmt.Errorf("releases/%s: %w", d.rel, host.ErrNotOnHost)
		}
		if err := d.reportSwitch(label, h, res, err); err != nil {
			return &HostError{Host: h.Name(), Step: "switch", Err: err}
		}
		if err := d.afterSwitch(ctx, h, d.rel); err != nil {
			return err
		}
		return d.health(ctx, h)
	})
}

// switchOne switches h to the release, pruning beyond keep_releases, and
// records what the switch told. A host that lacks the release reports
// missing (a rollback only) and is not counted as switched.
func (d *deploy) switchOne(ctx context.Context, h host.Host) (res host.SwitchResult, missing bool, err error) {
	sctx, cancel := context.WithTimeout(ctx, switchTimeout)
	defer cancel()
	// Counted as switched before the attempt: a switch that fails may
	// still have happened (the rename done, its answer lost), and
	// switching back an unswitched host is harmless.
	d.mu.Lock()
	d.switched = append(d.switched, h)
	d.mu.Unlock()
	res, err = h.Switch(sctx, d.rel, d.keep())
	d.mu.Lock()
	defer d.mu.Unlock()
	if errors.Is(err, host.ErrNotOnHost) && d.req.Rollback != "" {
		d.switched = slices.DeleteFunc(d.switched, func(s host.Host) bool { return s == h })
		return res, true, nil
	}
	if err != nil {
		return res, false, err
	}
	d.prev[h.Name()] = res.Previous
	if d.seen == nil {
		d.seen = map[string]HostState{}
	}
	// What the host holds now, so saveState need not ask again.
	d.seen[h.Name()] = HostState{Current: d.rel, Releases: res.Releases}
	if d.pruned == nil {
		d.pruned = map[string]bool{}
	}
	for _, r := range res.Removed {
		d.pruned[r] = true
	}
	return res, false, nil
}

// reportSwitch prints the lines of h's switch and returns its error.
func (d *deploy) reportSwitch(label Phase, h host.Host, res host.SwitchResult, err error) error {
	if err != nil {
		d.p.step(string(label), h.Name(), "FAILED to switch: %v", err)
		return err
	}
	d.p.step(string(label), h.Name(), "current → releases/%s", d.rel)
	if len(res.Removed) > 0 {
		d.p.step("prune", h.Name(), "removed %s (keeping %d)", strings.Join(res.Removed, " "), d.keep())
	}
	d.log.Info().Str("step", "switch").Str("host", h.Name()).Strs("pruned", res.Removed).Msg("switched")
	return nil
}

// keep is how many releases a switch leaves on a host.
func (d *deploy) keep() int {
	if d.staged != "" {
		// A rollback while a release waits for approval: pruning could
		// take the staged release off the hosts before it is approved.
		// The next deploy prunes.
		return 0
	}
	return max(d.req.App.KeepReleases, 2)
}

// health runs the environment's health check on h.
func (d *deploy) health(ctx context.Context, h host.Host) error {
	hc := d.req.Env.Health
	if hc == nil || (hc.Command == "" && hc.URL == "") {
		return nil
	}
	policy := lifecycle.Policy{Attempts: hc.Retries, Timeout: hc.Timeout.Std(), Interval: hc.Interval.Std()}
	res := lifecycle.Check(ctx, policy, d.checkRunner(h), func(n int, err error) {
		d.log.Debug().Str("step", "health").Str("host", h.Name()).Int("attempt", n).AnErr("result", err).Msg("health attempt")
	})
	if res.Err != nil {
		d.p.step("health", h.Name(), "FAILED after %s: %v", count(res.Attempts, "attempt"), res.Err)
		for _, l := range res.Tail {
			d.p.step("", "", "| %s", l)
		}
		d.log.Warn().Str("step", "health").Str("host", h.Name()).Int("attempts", res.Attempts).Err(res.Err).Msg("health check failed")
		d.setHealth(h.Name(), "failed: "+res.Err.Error())
		return &HostError{Host: h.Name(), Step: "health", Err: res.Err}
	}
	d.setHealth(h.Name(), "ok")
	d.p.step("health", h.Name(), "ok (attempt %d/%d, %s)", res.Attempts, policy.Attempts, seconds(res.Duration))
	d.log.Info().Str("step", "health").Str("host", h.Name()).Int("attempts", res.Attempts).Dur("duration", res.Duration).Msg("healthy")
	return nil
}

// fail rolls back every switched host, removes the failed release from
// the hosts, records the outcome and returns the *DeployError.
func (d *deploy) fail(ctx context.Context, cause error) error {
	d.phase(PhaseRollback)
	de := &DeployError{Release: d.rel, Err: cause}
	var he *HostError
	var se *stepError
	switch {
	case errors.As(cause, &he):
		de.Step, de.Host, de.Err = he.Step, he.Host, he.Err
	case errors.As(cause, &se):
		de.Step, de.Err = se.step, se.err
	default:
		de.Step = "deploy"
	}
	d.log.Error().Str("step", de.Step).Str("host", de.Host).Err(de.Err).Msg("deploy failed; rolling back")

	// Rolling back must not be cut short by the cause of the failure.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	back, _ := each(rctx, d.switched, d.parallelism(), func(ctx context.Context, h host.Host) (bool, error) {
		prev := d.prev[h.Name()]
		sctx, cancel := context.WithTimeout(ctx, switchTimeout)
		_, err := h.Switch(sctx, prev, 0)
		cancel()
		if err != nil {
			d.p.step("rollback", h.Name(), "FAILED: %v; state unknown: `slipway check` shows it and the next deploy brings it back in line", err)
			d.log.Error().Str("step", "rollback").Str("host", h.Name()).Err(err).Msg("rollback failed; host state unknown")
			return false, nil
		}
		if prev == "" {
			d.p.step("rollback", h.Name(), "current removed (this was the first release)")
			return true, nil
		}
		d.p.step("rollback", h.Name(), "current → releases/%s", prev)
		// Restart services on the old code.
		if err := d.afterSwitch(ctx, h, prev); err != nil {
			d.log.Error().Str("host", h.Name()).Err(err).Msg("after_switch failed after switching back")
		}
		return true, nil
	})
	rolledBack := make(map[string]bool)
	for i, h := range d.switched {
		rolledBack[h.Name()] = back[i]
	}
	if d.j != nil {
		if !slices.Contains(back, false) {
			d.e.clearJournal(d.req.App.Name, d.req.Env.Name)
		} else {
			// The next deploy, or a restart, finishes the rollback.
			d.j.Phase = journalFailed
			if err := d.e.writeJournal(d.j); err != nil {
				d.log.Error().Err(err).Msg("cannot keep the deploy journal")
			}
		}
	}
	if d.req.Rollback == "" && d.art != nil && d.rel != "" {
		// Its release is removed from every host; so is its artifact.
		d.e.removeArtifact(d.req.App.Name, d.rel)
	}
	if d.req.Rollback == "" { // a rollback's target is a real release; it stays
		// Remove refuses the live release itself, so a host whose switch
		// back failed keeps it.
		d.forEachHost(rctx, d.hosts, func(ctx context.Context, h host.Host) error {
			cctx, cancel := context.WithTimeout(ctx, pruneTimeout)
			defer cancel()
			if err := h.Remove(cctx, d.rel); err != nil {
				d.log.Warn().Str("host", h.Name()).Err(err).Msg("failed release left on the host")
			}
			return nil
		})
	}

	// What runs where now.
	live := map[string][]string{}
	for _, name := range d.req.Env.Hosts {
		rel, known := d.prev[name]
		switch {
		case d.isSwitched(name) && !rolledBack[name]:
			rel = "state unknown"
		case !known:
			rel = "unknown (not reached)"
		case rel == "":
			rel = "nothing"
		}
		live[rel] = append(live[rel], name)
		de.Live = append(de.Live, name+": "+rel)
	}
	now := d.req.Env.Name + " has no live release yet"
	if rel := majority(d.prev); rel != "" {
		now = d.req.Env.Name + " still runs " + rel
	}
	if len(d.switched) == 0 {
		now = "nothing was switched; " + now
	}
	delete(live, "unknown (not reached)")
	if len(live) > 1 || live["state unknown"] != nil {
		now = "hosts now run: " + strings.Join(de.Live, ", ")
	}
	if d.rel != "" {
		detail := fmt.Sprintf("%s: %s", de.Reason(), textclean.Line(lifecycle.Mask(de.Err.Error(), d.p.secrets), 200))
		what := "release " + d.rel
		if d.req.Rollback != "" {
			detail, what = "rollback to it failed: "+detail, "rollback to "+d.rel
		}
		var tl *TooLargeError
		const shrink = "keep large files out of the release (export-ignore) or ask the operator to raise max_release_size"
		switch {
		case errors.As(de.Err, &tl) && tl.Written:
			d.p.line("%s FAILED: %v; its export is removed and nothing reached a host; %s; %s", what, tl, strings.TrimPrefix(now, "nothing was switched; "), shrink)
		case errors.As(de.Err, &tl):
			d.p.line("%s FAILED: %v; nothing was written; %s; %s", what, tl, strings.TrimPrefix(now, "nothing was switched; "), shrink)
		default:
			d.p.line("%s FAILED: %s; %s", what, de.Reason(), now)
		}
		// What the switches saw is out of date after switching back:
		// saveState asks the hosts again.
		d.mu.Lock()
		d.seen = nil
		d.mu.Unlock()
		// The verdict goes to the pusher now; the rest is the daemon's.
		d.later(ctx, func(ctx context.Context) {
			d.event(ctx, d.req.Commit, OutcomeFailed, detail)
			d.audit(audit.EventFailed, detail)
			d.saveState(ctx)
		})
	}
	d.obs.end(d.rel, OutcomeFailed, time.Since(d.start))
	return de
}

func (d *deploy) isSwitched(name string) bool {
	for _, h := range d.switched {
		if h.Name() == name {
			return true
		}
	}
	return false
}

func (d *deploy) audit(event audit.Event, detail string) {
	err := d.e.Audit.Append(audit.Record{Event: event, User: d.req.User, Key: d.req.Key,
		App: d.req.App.Name, Env: d.req.Env.Name, Release: d.rel, Detail: detail})
	if err != nil {
		d.log.Error().Err(err).Msg("cannot write the audit log")
	}
	d.notify(event, detail)
}

// event records what happened to the release in git; a failure here is
// logged, never fatal.
func (d *deploy) event(ctx context.Context, commit, outcome, detail string) {
	d.eventFor(ctx, commit, d.rel, outcome, detail)
}

func (d *deploy) eventFor(ctx context.Context, commit, rel, outcome, detail string) {
	mu := d.e.appMutex(d.req.App.Name)
	mu.Lock()
	defer mu.Unlock()
	ev := Event{Release: rel, Env: d.req.Env.Name, Outcome: outcome, Time: time.Now(), User: d.req.User, Detail: detail}
	if err := recordEvent(ctx, d.req.Repo, commit, ev); err != nil {
		d.bookkeepingFailed("cannot record "+rel+" "+outcome+" in the history", err)
	}
}

// forEachHost runs fn on hosts in parallel, at most Env.Parallelism at
// once; once one fails, hosts not started yet are skipped. It returns
// the first error.
func (d *deploy) forEachHost(ctx context.Context, hosts []host.Host, fn func(context.Context, host.Host) error) error {
	_, err := each(ctx, hosts, d.parallelism(), func(ctx context.Context, h host.Host) (struct{}, error) {
		return struct{}{}, fn(ctx, h)
	})
	return err
}

// parallelism is how many hosts a step works on at once.
func (d *deploy) parallelism() int { return parallelism(d.req.Env) }

// parallelism is how many hosts of env a step works on at once.
func parallelism(env *config.Environment) int {
	if env.Parallelism < 1 {
		return 10
	}
	return env.Parallelism
}

// each runs fn on items (hosts, or host names), at most limit at once,
// and returns what each returned, in the order of items. Once one fails,
// items not started yet are skipped (their result is the zero value); it
// returns the first error.
func each[E, T any](ctx context.Context, items []E, limit int, fn func(context.Context, E) (T, error)) ([]T, error) {
	results := make([]T, len(items))
	var g errgroup.Group
	g.SetLimit(max(limit, 1))
	var failed atomic.Bool
	for i, item := range items {
		g.Go(func() error {
			if failed.Load() {
				return nil
			}
			r, err := fn(ctx, item)
			if err != nil {
				failed.Store(true)
				return err
			}
			results[i] = r
			return nil
		})
	}
	return results, g.Wait()
}

// stepError is a failure of a server-side step (export, plan).
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// majority returns the release most hosts run ("" if none runs one).
func majority(prev map[string]string) string {
	count := map[string]int{}
	best, bestN := "", 0
	for _, r := range prev {
		if r == "" {
			continue
		}
		count[r]++
		n, _ := host.ParseRelease(r)
		b, _ := host.ParseRelease(best)
		if count[r] > bestN || (count[r] == bestN && n > b) {
			best, bestN = r, count[r]
		}
	}
	return best
}

func short(oid string) string {
	if oid == "" {
		return "(none)"
	}
	if len(oid) > 7 {
		return oid[:7]
	}
	return oid
}

// keepArtifact makes the archive of the new release its kept artifact: a
// received one is moved there, another release's (a promotion) is linked.
func (d *deploy) keepArtifact() error {
	if !d.artKept {
		return d.e.keepArtifact(d.req.App.Name, d.rel, d.art)
	}
	kept := d.e.artifactFile(d.req.App.Name, d.rel)
	if err := os.Link(d.art.File, kept); err != nil {
		return fmt.Errorf("keep artifact of %s: %w", d.rel, err)
	}
	d.art = &Artifact{File: kept, SHA256: d.art.SHA256, Size: d.art.Size}
	d.artKept = false
	return nil
}

// artifactNote is what the audit log says about the tree of a new release.
func (d *deploy) artifactNote() string {
	if d.art == nil {
		return ""
	}
	return " artifact sha256:" + d.art.SHA256[:min(12, len(d.art.SHA256))]
}

// isArtifactRelease reports whether the release rel ("" for none) was
// shipped from an artifact.
func isArtifactRelease(repo, rel string) bool {
	if rel == "" {
		return false
	}
	tag, err := ReadTag(repo, rel)
	return err == nil && tag.Artifact != ""
}
