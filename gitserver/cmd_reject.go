package gitserver

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/slipwayhq/slipway/audit"
	"github.com/slipwayhq/slipway/internal/textclean"
	"github.com/slipwayhq/slipway/release"
)

// reject handles `reject APP ENV vN [--reason TEXT]`: a staged release is
// dropped from the hosts and recorded as not approved.
func (c *command) reject(ctx context.Context, stdin io.Reader, args []string) int {
	fs := flag.NewFlagSet("reject", flag.ContinueOnError)
	reason := fs.String("reason", "no reason given", "why the release is dropped")
	pos, ok := c.parse(fs, args, 3)
	if !ok || len(pos) != 3 {
		return c.usageError("reject")
	}
	app, env, ok := c.target(pos)
	if !ok {
		return exitUsage
	}
	if msg := deployRefusal(c.s.Config(), c.id.User, env); msg != "" && !c.s.Config().CanApprove(c.id.User, "", env) {
		fmt.Fprintf(c.errw, "slipway: %s\n", msg)
		return exitFailed
	}
	err := c.s.Engine.Reject(c.s.ctx, release.ApprovalRequest{
		Config: c.s.Config(), App: app, Env: env, Repo: c.s.repoDir(app.Name), Release: pos[2], User: c.id.User, Key: c.id.Key,
		Reason: textclean.Line(*reason, 200),
	})
	if err != nil {
		r := explain(err, viaSSH, explainTarget{App: app.Name, Env: env.Name, Branch: env.Branch})
		if errors.Is(err, release.ErrLiveRelease) {
			c.s.audit(audit.Record{Event: audit.EventRefused, User: c.id.User, Key: c.id.Key, App: app.Name, Env: env.Name, Release: pos[2], Detail: "reject: " + err.Error()})
		}
		c.refuse(err, r)
		return exitFailed
	}
	fmt.Fprintf(c.out, "%s of %s/%s rejected and removed from the hosts\n", pos[2], app.Name, env.Name)
	return exitOK
}
