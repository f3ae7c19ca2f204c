package release

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/slipwayhq/slipway/audit"
	"github.com/slipwayhq/slipway/internal/durable"
)

// Freeze refusals callers match with errors.Is.
var (
	// ErrFrozen means the environment is locked against deploys (ssh … lock).
	ErrFrozen = errors.New("environment is locked against deploys")
	// ErrNotFrozen means there is no lock to lift.
	ErrNotFrozen = errors.New("environment is not locked")
)

// Freeze is an environment locked against deploys and promotions by a
// user, until someone unlocks it. Rollbacks still run: they are how an
// incident ends. It is kept in DATA/locks/APP/ENV.json so that it
// survives a restart.
type Freeze struct {
	App    string    `json:"app"`
	Env    string    `json:"env"`
	User   string    `json:"user"`
	Key    string    `json:"key,omitempty"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
}

// Summary says who locked the environment, since when and why:
// "shop/production is locked by alice since 2026-12-02 06:40 UTC: incident 512".
func (f *Freeze) Summary() string {
	return fmt.Sprintf("%s/%s is locked by %s since %s: %s", f.App, f.Env, f.User, f.Since.UTC().Format("2006-01-02 15:04 MST"), f.Reason)
}

// FrozenError is a deploy refused because its environment is locked.
type FrozenError struct {
	Freeze Freeze
	// Forceable is true when the pusher may force the deploy (an admin
	// who did not ask to).
	Forceable bool
}

func (e *FrozenError) Error() string { return e.Freeze.Summary() }

func (e *FrozenError) Is(target error) bool { return target == ErrFrozen }

func (e *Engine) freezeFile(app, env string) string {
	return filepath.Join(e.DataDir, "locks", app, env+".json")
}

// FreezeOf returns the lock on app/env, nil if there is none.
func (e *Engine) FreezeOf(app, env string) (*Freeze, error) {
	var f Freeze
	found, err := readJSON(e.freezeFile(app, env), KindFreeze, &f)
	if !found || err != nil {
		return nil, err
	}
	return &f, nil
}

// Lock freezes app/env with reason. If it is locked already, the lock in
// force is returned with an error matching ErrFrozen and nothing changes.
// A deploy running now is not stopped.
func (e *Engine) Lock(app, env, user, key, reason string) (*Freeze, error) {
	e.freezeMu.Lock()
	defer e.freezeMu.Unlock()
	held, err := e.FreezeOf(app, env)
	if err != nil {
		return nil, fmt.Errorf("read lock of %s/%s: %w", app, env, err)
	}
	if held != nil {
		return held, &FrozenError{Freeze: *held}
	}
	f := &Freeze{App: app, Env: env, User: user, Key: key, Reason: reason, Since: time.Now().UTC()}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(e.freezeFile(app, env)), 0o700); err != nil {
		return nil, fmt.Errorf("lock %s/%s: %w", app, env, err)
	}
	if err := durable.WriteFile(e.freezeFile(app, env), append(data, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("lock %s/%s: %w", app, env, err)
	}
	e.auditAppend(audit.Record{Event: audit.EventLocked, User: user, Key: key, App: app, Env: env, Detail: reason})
	e.Log.Info().Str("app", app).Str("env", env).Str("user", user).Str("reason", reason).Msg("environment locked")
	return f, nil
}

// Unlock lifts the lock on app/env and returns it; with no lock the error
// matches ErrNotFrozen.
func (e *Engine) Unlock(app, env, user, key string) (*Freeze, error) {
	e.freezeMu.Lock()
	defer e.freezeMu.Unlock()
	held, err := e.FreezeOf(app, env)
	if err != nil {
		return nil, fmt.Errorf("read lock of %s/%s: %w", app, env, err)
	}
	if held == nil {
		return nil, fmt.Errorf("%w: %s/%s", ErrNotFrozen, app, env)
	}
	if err := os.Remove(e.freezeFile(app, env)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("unlock %s/%s: %w", app, env, err)
	}
	e.auditAppend(audit.Record{Event: audit.EventUnlocked, User: user, Key: key, App: app, Env: env,
		Detail: fmt.Sprintf("locked by %s since %s: %s", held.User, held.Since.UTC().Format(time.RFC3339), held.Reason)})
	e.Log.Info().Str("app", app).Str("env", env).Str("user", user).Str("locked_by", held.User).Msg("environment unlocked")
	return held, nil
}

// checkFreeze refuses a deploy (not a rollback) of a locked environment,
// unless an admin forces it; a forced deploy is recorded and announced
// on out.
func (e *Engine) checkFreeze(req Request, out io.Writer) error {
	if req.Rollback != "" {
		return nil
	}
	f, err := e.FreezeOf(req.App.Name, req.Env.Name)
	if err != nil {
		return err
	}
	if f == nil {
		return nil
	}
	if !req.Force || !req.Admin {
		return &FrozenError{Freeze: *f, Forceable: req.Admin}
	}
	e.auditAppend(audit.Record{Event: audit.EventForced, User: req.User, Key: req.Key, App: req.App.Name, Env: req.Env.Name,
		Detail: fmt.Sprintf("deploy past the lock of %s since %s: %s", f.User, f.Since.UTC().Format(time.RFC3339), f.Reason)})
	e.Log.Warn().Str("app", req.App.Name).Str("env", req.Env.Name).Str("user", req.User).Str("locked_by", f.User).Msg("deploy forced past a lock")
	fmt.Fprintf(out, "warning: %s; deploying anyway, forced by %s\n", f.Summary(), req.User)
	return nil
}

// auditAppend records r; a failure is logged, never fatal.
func (e *Engine) auditAppend(r audit.Record) {
	if err := e.Audit.Append(r); err != nil {
		e.Log.Error().Err(err).Msg("cannot write the audit log")
	}
}
