package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipwayhq/slipway/audit"
	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/internal/durable"
	"github.com/slipwayhq/slipway/notify"
	"github.com/slipwayhq/slipway/release/host"
	"github.com/slipwayhq/slipway/secrets"
)

// Engine runs deploys. One Engine serves the whole daemon: it holds the
// per-environment locks, so it must not be copied.
type Engine struct {
	// DataDir holds staging trees and manifests (under DataDir/staging and
	// DataDir/manifests).
	DataDir string
	Log     zerolog.Logger
	// Connect returns the host name for env, reached by the transport its
	// configuration chooses: transport.Connector. The engine knows hosts
	// only through it.
	Connect func(ctx context.Context, env *config.Environment, name string) (host.Host, error)
	// Audit receives one record per deploy event; nil keeps none.
	Audit *audit.Log
	// Secrets holds the secret values hooks get; nil means none.
	Secrets *secrets.Store
	// Notify sends deploy events to the configured webhooks; nil sends none.
	Notify *notify.Dispatcher
	// Tap, if set, returns a writer that gets the progress lines of a
	// deploy of app/env starting now, as the pusher reads them (secrets
	// masked); it is closed when the deploy ends. Observe, if set, is told
	// each step, health check and outcome. Both are called from the
	// deploy's goroutines, must be safe for concurrent use and must not
	// block: they are for dashboards and metrics, and change nothing.
	Tap     func(app, env string) io.WriteCloser
	Observe func(Observation)

	mu    sync.Mutex
	locks map[string]*Lock
	apps  map[string]*sync.Mutex

	freezeMu sync.Mutex // serializes lock and unlock (freeze.go)

	books   map[string]chan struct{} // "app/env" → closed when its last queued bookkeeping is done
	records map[string]chan struct{} // the same, but for what readers wait on: not after_deploy
}

// Lock describes the deploy that holds an environment.
type Lock struct {
	User    string
	Release string
	Since   time.Time
	Phase   Phase
}

// Phase is what a running deploy is doing, as status and the dashboard
// show it.
type Phase string

// The phases of a deploy, in the order they run. Switching in waves is
// WavePhase.
const (
	PhaseBuild    Phase = "build"
	PhaseExport   Phase = "export"
	PhaseUpload   Phase = "upload"
	PhaseMigrate  Phase = "migrate"
	PhaseSwitch   Phase = "switch"
	PhaseWatch    Phase = "watch"
	PhaseRollback Phase = "rollback"
)

// WavePhase is the phase of switching wave i of n, counted from 1:
// "wave 2/3".
func WavePhase(i, n int) Phase { return Phase(fmt.Sprintf("wave %d/%d", i, n)) }

// Step is the step a phase belongs to: PhaseSwitch for every wave.
func (p Phase) Step() Phase {
	if strings.HasPrefix(string(p), "wave ") {
		return PhaseSwitch
	}
	return p
}

// Sentinel errors callers match with errors.Is.
var (
	// ErrLocked means another deploy of the same environment is running.
	ErrLocked = errors.New("environment is locked by another deploy")
	// ErrBranchMoved means the branch changed between the push and the deploy.
	ErrBranchMoved = errors.New("branch moved")
)

// LockedError says who holds an environment.
type LockedError struct {
	App, Env string
	Holder   Lock
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("%s/%s is being deployed by %s since %s (%s)", e.App, e.Env,
		e.Holder.User, e.Holder.Since.UTC().Format("15:04:05 MST"), e.Holder.Release)
}

func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// lock takes the environment lock or says who has it.
func (e *Engine) lock(app, env, user string) (func(), error) {
	key := app + "/" + env
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.locks == nil {
		e.locks = make(map[string]*Lock)
	}
	if held, ok := e.locks[key]; ok {
		return nil, &LockedError{App: app, Env: env, Holder: *held}
	}
	l := &Lock{User: user, Release: "release pending", Since: time.Now()}
	e.locks[key] = l
	unlock := func() {
		e.mu.Lock()
		delete(e.locks, key)
		e.mu.Unlock()
	}
	// What the last deploy left to do after its verdict comes first.
	tail := e.books[key]
	if tail != nil {
		e.mu.Unlock()
		<-tail
		e.mu.Lock()
	}
	return unlock, nil
}

// later queues fn, bookkeeping of app/env that the pusher need not wait
// for (history notes, the host state file, the audit record), behind what
// is queued for app/env already. Taking the environment's lock and Wait
// wait for it, so the next deploy, status, releases, log and fetches see
// what it wrote.
func (e *Engine) later(app, env string, fn func()) { e.queue(app, env, true, fn) }

// laterHook queues work after the verdict that nobody reads (the
// after_deploy hook, closing the hosts) behind the bookkeeping of app/env. The next deploy of app/env waits for it, and so
// do WaitAll and the audit log's readers; status, releases and fetches do
// not, so a hook that asks Slipway what runs where does not wait for
// itself.
func (e *Engine) laterHook(app, env string, fn func()) { e.queue(app, env, false, fn) }

func (e *Engine) queue(app, env string, readers bool, fn func()) {
	key := app + "/" + env
	done := make(chan struct{})
	e.mu.Lock()
	if e.books == nil {
		e.books = make(map[string]chan struct{})
		e.records = make(map[string]chan struct{})
	}
	prev := e.books[key]
	e.books[key] = done
	if readers {
		e.records[key] = done
	}
	e.mu.Unlock()
	go func() {
		defer close(done)
		if prev != nil {
			<-prev
		}
		fn()
	}()
}

// Wait returns once the bookkeeping queued so far for app/env is done:
// the history notes, host state and audit records of deploys that gave
// their verdict, not their after_deploy hooks. env "" waits for every
// environment of app, app "" for every app.
func (e *Engine) Wait(app, env string) { e.WaitContext(context.Background(), app, env) }

// WaitContext is Wait that gives up when ctx ends, and then returns false.
func (e *Engine) WaitContext(ctx context.Context, app, env string) bool {
	return e.wait(ctx, app, env, false)
}

// WaitAll is WaitContext for everything queued, after_deploy hooks
// included: for the audit log, where a hook's failure is recorded, and
// for a daemon that stops.
func (e *Engine) WaitAll(ctx context.Context, app, env string) bool {
	return e.wait(ctx, app, env, true)
}

func (e *Engine) wait(ctx context.Context, app, env string, all bool) bool {
	if e == nil {
		return true
	}
	var tails []chan struct{}
	e.mu.Lock()
	queued := e.records
	if all {
		queued = e.books
	}
	for key, tail := range queued {
		a, en, _ := strings.Cut(key, "/")
		if (app == "" || a == app) && (env == "" || en == env) {
			tails = append(tails, tail)
		}
	}
	e.mu.Unlock()
	for _, t := range tails {
		select {
		case <-t:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// setPhase says what the deploy holding app/env is doing, for status.
func (e *Engine) setPhase(app, env string, phase Phase) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if l, ok := e.locks[app+"/"+env]; ok {
		l.Phase = phase
	}
}

func (e *Engine) setLockRelease(app, env, rel string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if l, ok := e.locks[app+"/"+env]; ok {
		l.Release = rel
	}
}

// Locks returns the environments being deployed now, keyed "app/env".
func (e *Engine) Locks() map[string]Lock {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]Lock, len(e.locks))
	for k, v := range e.locks {
		out[k] = *v
	}
	return out
}

// appMutex serializes release numbering and notes within one repository.
func (e *Engine) appMutex(app string) *sync.Mutex {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.apps == nil {
		e.apps = make(map[string]*sync.Mutex)
	}
	m, ok := e.apps[app]
	if !ok {
		m = new(sync.Mutex)
		e.apps[app] = m
	}
	return m
}

func (e *Engine) connect(ctx context.Context, env *config.Environment, name string) (host.Host, error) {
	if e.Connect == nil {
		return nil, fmt.Errorf("host %s: no transport (Engine.Connect is not set)", name)
	}
	return e.Connect(ctx, env, name)
}

func (e *Engine) stagingDir(app, env, rel string) string {
	return filepath.Join(e.DataDir, "staging", app, env, rel)
}

func (e *Engine) manifestFile(app, rel string) string {
	return filepath.Join(e.DataDir, "manifests", app, rel+".json")
}

// cleanStaging removes leftovers of deploys a crash interrupted.
func (e *Engine) cleanStaging(app, env string) {
	dir := filepath.Join(e.DataDir, "staging", app, env)
	if err := os.RemoveAll(dir); err != nil {
		e.Log.Warn().Err(err).Str("dir", dir).Msg("cannot remove old staging directory")
	}
}

// nextStamp returns an mtime, in Unix seconds, that no earlier export of
// app used: now, or one more than the last one given. It is kept in the
// data directory so that it holds across restarts.
func (e *Engine) nextStamp(app string) (int64, error) {
	mu := e.appMutex(app)
	mu.Lock()
	defer mu.Unlock()
	file := filepath.Join(e.DataDir, "manifests", app, "last-stamp")
	var last int64
	if data, err := os.ReadFile(file); err == nil {
		last, _ = strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	}
	stamp := max(time.Now().Unix(), last+1)
	if err := durable.WriteFile(file, []byte(strconv.FormatInt(stamp, 10)+"\n"), 0o644); err != nil {
		return 0, fmt.Errorf("record mtime stamp: %w", err)
	}
	return stamp, nil
}
