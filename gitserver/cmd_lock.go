package gitserver

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/slipwayhq/slipway/internal/textclean"
	"github.com/slipwayhq/slipway/release"
)

// maxReasonBytes bounds the reason of a lock, which every refused pusher reads.
const maxReasonBytes = 200

// lock freezes an environment: `lock APP ENV --reason TEXT`.
func (c *command) lock(ctx context.Context, stdin io.Reader, args []string) int {
	fs := flag.NewFlagSet("lock", flag.ContinueOnError)
	reason := fs.String("reason", "", "why deploys stop (required); every refused pusher reads it")
	pos, ok := c.parse(fs, args, 2)
	if !ok {
		return exitUsage
	}
	if len(pos) != 2 || *reason == "" {
		fmt.Fprintln(c.errw, `slipway: usage: lock APP ENV --reason TEXT, such as: lock shop production --reason "incident 512"`)
		return exitUsage
	}
	app, env, ok := c.target(pos)
	if !ok {
		return exitUsage
	}
	if !c.mayDeploy(app, env, "lock") {
		return exitFailed
	}
	f, err := c.s.Engine.Lock(app.Name, env.Name, c.id.User, c.id.Key, textclean.Line(*reason, maxReasonBytes))
	var frozen *release.FrozenError
	switch {
	case errors.As(err, &frozen):
		fmt.Fprintf(c.errw, "slipway: %s already; unlock it first to lock it again: ssh <server> unlock %s %s\n", f.Summary(), app.Name, env.Name)
		return exitFailed
	case err != nil:
		c.s.Log.Error().Err(err).Str("app", app.Name).Str("env", env.Name).Msg("lock")
		fmt.Fprintf(c.errw, "slipway: cannot lock %s/%s; the server log has details\n", app.Name, env.Name)
		return exitFailed
	}
	fmt.Fprintf(c.out, "%s; deploys and promotions are refused, rollbacks still run; unlock with: ssh <server> unlock %s %s\n",
		f.Summary(), app.Name, env.Name)
	if d, ok := c.s.Engine.Locks()[app.Name+"/"+env.Name]; ok {
		fmt.Fprintf(c.out, "note: %s by %s is being deployed now and goes on\n", d.Release, d.User)
	}
	return exitOK
}

// unlock lifts a lock: `unlock APP ENV`.
func (c *command) unlock(ctx context.Context, stdin io.Reader, args []string) int {
	fs := flag.NewFlagSet("unlock", flag.ContinueOnError)
	pos, ok := c.parse(fs, args, 2)
	if !ok {
		return exitUsage
	}
	if len(pos) != 2 {
		return c.usageError("unlock")
	}
	app, env, ok := c.target(pos)
	if !ok {
		return exitUsage
	}
	if !c.mayDeploy(app, env, "unlock") {
		return exitFailed
	}
	f, err := c.s.Engine.Unlock(app.Name, env.Name, c.id.User, c.id.Key)
	switch {
	case errors.Is(err, release.ErrNotFrozen):
		fmt.Fprintf(c.errw, "slipway: %s/%s is not locked\n", app.Name, env.Name)
		return exitFailed
	case err != nil:
		c.s.Log.Error().Err(err).Str("app", app.Name).Str("env", env.Name).Msg("unlock")
		fmt.Fprintf(c.errw, "slipway: cannot unlock %s/%s; the server log has details\n", app.Name, env.Name)
		return exitFailed
	}
	fmt.Fprintf(c.out, "%s/%s unlocked (locked by %s since %s: %s); deploys resume\n",
		app.Name, env.Name, f.User, f.Since.UTC().Format("2006-01-02 15:04 MST"), f.Reason)
	return exitOK
}

// lockStatus is the lock of an environment for status, nil if none.
func (c *command) lockStatus(app, env string) *release.Freeze {
	f, err := c.s.Engine.FreezeOf(app, env)
	if err != nil {
		c.s.Log.Error().Err(err).Str("app", app).Str("env", env).Msg("read lock")
	}
	return f
}
