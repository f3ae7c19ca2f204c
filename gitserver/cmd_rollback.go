package gitserver

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/slipwayhq/slipway/audit"
	"github.com/slipwayhq/slipway/internal/textclean"
	"github.com/slipwayhq/slipway/release"
)

// rollback handles `rollback APP ENV [vN] [--force]`: an earlier release
// (by default the previous live one) goes live again, as a push to
// +vN:rollback would make it.
func (c *command) rollback(ctx context.Context, stdin io.Reader, args []string) int {
	fs := flag.NewFlagSet("rollback", flag.ContinueOnError)
	force := fs.Bool("force", false, "allow a release that never went live")
	pos, ok := c.parse(fs, args, 3)
	if !ok {
		return exitUsage
	}
	if len(pos) < 2 {
		return c.usageError("rollback")
	}
	apps, ok := c.apps(pos[0])
	if !ok {
		return exitUsage
	}
	app, _ := c.s.Config().App(apps[0])
	env, ok := app.Environment(pos[1])
	if !ok {
		fmt.Fprintf(c.errw, "slipway: %s has no environment %q\n", app.Name, textclean.Line(pos[1], 80))
		return exitUsage
	}
	rels, err := c.history(app.Name)
	if err != nil {
		fmt.Fprintln(c.errw, "slipway: cannot read the release history")
		return exitFailed
	}
	var target *release.Release
	if len(pos) == 3 {
		for _, r := range rels {
			if r.Name == pos[2] {
				target = r
			}
		}
		if target == nil {
			fmt.Fprintf(c.errw, "slipway: %s has no release %q\n", app.Name, textclean.Line(pos[2], 80))
			return exitUsage
		}
	} else if target, err = release.PreviousLive(rels, env.Name); err != nil {
		fmt.Fprintf(c.errw, "slipway: %v\n", err)
		return exitFailed
	}
	if !c.mayDeploy(app, env, "rollback") {
		return exitFailed
	}
	p := &pushSession{identity: c.id, App: app.Name, Repo: c.s.repoDir(app.Name)}
	out := &sessionWriter{w: c.out}
	// Like a push, the rollback belongs to the daemon once started.
	var r RefResult
	c.s.daemonWork(func() {
		r = c.s.deploy(c.s.ctx, viaSSH, p, app, env, RefCommand{Ref: "refs/heads/" + env.Branch}, target.Commit, target.Name, *force, nil, out)
	})
	if r.Error != "" {
		c.s.audit(audit.Record{Event: audit.EventRefused, User: c.id.User, Key: c.id.Key, App: app.Name, Env: env.Name, Release: target.Name, Detail: "rollback: " + r.Error})
		fmt.Fprintf(c.errw, "slipway: %s\n", r.Error)
		return exitFailed
	}
	c.s.audit(audit.Record{Event: audit.EventCommand, User: c.id.User, Key: c.id.Key, App: app.Name, Env: env.Name, Release: target.Name, Detail: "rollback"})
	return exitOK
}
