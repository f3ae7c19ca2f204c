package gitserver

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/slipwayhq/slipway/audit"
	"github.com/slipwayhq/slipway/release"
)

// cache handles `cache clear APP ENV`: deployers of the environment and
// admins may empty its build cache, never while one of its deploys runs.
func (c *command) cache(ctx context.Context, stdin io.Reader, args []string) int {
	if len(args) != 3 || args[0] != "clear" {
		return c.usageError("cache")
	}
	app, env, ok := c.target(args[1:])
	if !ok {
		return exitUsage
	}
	if !c.mayDeploy(app, env, "cache clear") {
		return exitFailed
	}
	st, err := c.s.Engine.ClearCache(app.Name, env.Name, c.id.User)
	var locked *release.LockedError
	switch {
	case errors.As(err, &locked):
		c.s.audit(audit.Record{Event: audit.EventRefused, User: c.id.User, Key: c.id.Key, App: app.Name, Env: env.Name, Detail: "cache clear: " + err.Error()})
		fmt.Fprintf(c.errw, "slipway: %s/%s is being deployed by %s since %s (%s); clear the cache when it has finished\n",
			app.Name, env.Name, locked.Holder.User, locked.Holder.Since.Format("15:04:05 MST"), locked.Holder.Release)
		return exitFailed
	case err != nil:
		c.s.Log.Error().Err(err).Str("app", app.Name).Str("env", env.Name).Msg("clear build cache")
		fmt.Fprintf(c.errw, "slipway: cannot clear the cache of %s/%s; the server log has details\n", app.Name, env.Name)
		return exitFailed
	}
	c.s.audit(audit.Record{Event: audit.EventCache, User: c.id.User, Key: c.id.Key, App: app.Name, Env: env.Name, Detail: "cleared " + st.String()})
	if st.Files == 0 {
		fmt.Fprintf(c.out, "cache of %s/%s was already empty\n", app.Name, env.Name)
		return exitOK
	}
	fmt.Fprintf(c.out, "cache of %s/%s cleared (%s)\n", app.Name, env.Name, st)
	return exitOK
}
