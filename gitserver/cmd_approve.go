package gitserver

import (
	"context"
	"errors"
	"flag"
	"io"

	"github.com/slipwayhq/slipway/audit"
	"github.com/slipwayhq/slipway/release"
)

// approve handles `approve APP ENV vN`: an approver other than its pusher
// makes a staged release live, with the waves and checks of a deploy.
func (c *command) approve(ctx context.Context, stdin io.Reader, args []string) int {
	fs := flag.NewFlagSet("approve", flag.ContinueOnError)
	pos, ok := c.parse(fs, args, 3)
	if !ok || len(pos) != 3 {
		return c.usageError("approve")
	}
	app, env, ok := c.target(pos)
	if !ok {
		return exitUsage
	}
	out := &sessionWriter{w: c.out}
	// Like a push, the deploy belongs to the daemon once approved.
	var err error
	c.s.daemonWork(func() {
		_, err = c.s.Engine.Approve(c.s.ctx, release.ApprovalRequest{
			Config: c.s.Config(), App: app, Env: env, Repo: c.s.repoDir(app.Name), Release: pos[2], User: c.id.User, Key: c.id.Key,
		}, out)
	})
	if err == nil {
		return exitOK
	}
	r := explain(err, viaSSH, explainTarget{App: app.Name, Env: env.Name, Branch: env.Branch})
	if errors.Is(err, release.ErrNotApprover) || errors.Is(err, release.ErrNoPending) {
		c.s.audit(audit.Record{Event: audit.EventRefused, User: c.id.User, Key: c.id.Key, App: app.Name, Env: env.Name, Release: pos[2], Detail: "approve: " + err.Error()})
	}
	c.refuse(err, r)
	return exitFailed
}
