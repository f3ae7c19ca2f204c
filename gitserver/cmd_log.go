package gitserver

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/slipwayhq/slipway/audit"
)

// log handles `log [APP] [-n N] [--json]`: the audit log, newest first.
func (c *command) log(ctx context.Context, stdin io.Reader, args []string) int {
	fs := flag.NewFlagSet("log", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	n := fs.Int("n", 50, "at most this many events")
	pos, ok := c.parse(fs, args, 1)
	if !ok {
		return exitUsage
	}
	app := first(pos)
	if app != "" {
		if _, ok := c.apps(app); !ok {
			return exitUsage
		}
	}
	// The records of deploys that gave their verdict, and of their
	// after_deploy hooks, unless the user gives up first.
	c.s.Engine.WaitAll(ctx, app, "")
	recs, err := c.s.Engine.Audit.Read(*n, func(r audit.Record) bool { return app == "" || r.App == app })
	if err != nil {
		fmt.Fprintln(c.errw, "slipway: cannot read the audit log; the server log has details")
		c.s.Log.Error().Err(err).Msg("read audit log")
		return exitFailed
	}
	if recs == nil {
		recs = []audit.Record{}
	}
	if *asJSON {
		c.writeJSON(map[string]any{"events": recs})
		return exitOK
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tUSER\tEVENT\tWHERE\tRELEASE\tDETAIL")
	for _, r := range recs {
		where := r.App
		if r.Env != "" {
			where += "/" + r.Env
		} else if r.Ref != "" {
			where += " " + strings.TrimPrefix(strings.TrimPrefix(r.Ref, "refs/heads/"), "refs/tags/")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Time.UTC().Format("01-02 15:04:05"), orDash(r.User), r.Event, clip(where, 24), orDash(r.Release), clip(r.Detail, 36))
	}
	tw.Flush()
	return exitOK
}
