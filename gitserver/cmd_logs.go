package gitserver

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/slipwayhq/slipway/release"
)

// Bounds of logs -n.
const (
	defaultLogLines = 100
	maxLogLines     = 100000
)

// logs is `logs APP ENV [--host H] [-n N] [-f]`: anyone who may read runs
// the environment's logs command (logs_follow with -f) on its hosts and
// reads the lines as they come. The commands stop when the client goes
// away or the server stops. Nothing changes, so nothing is audited.
func (c *command) logs(ctx context.Context, stdin io.Reader, args []string) int {
	fs := flag.NewFlagSet("logs", flag.ContinueOnError)
	host := fs.String("host", "", "only this host")
	n := fs.Int("n", defaultLogLines, "how many recent lines each host prints (SLIPWAY_LOG_LINES)")
	follow := fs.Bool("f", false, "keep printing new lines until you hang up (runs logs_follow)")
	pos, ok := c.parse(fs, args, 2)
	if !ok {
		return exitUsage
	}
	if len(pos) != 2 {
		return c.usageError("logs")
	}
	if *n < 1 || *n > maxLogLines {
		fmt.Fprintf(c.errw, "slipway: logs: -n must be from 1 to %d\n", maxLogLines)
		return exitUsage
	}
	app, env, ok := c.target(pos)
	if !ok {
		return exitUsage
	}
	req := release.LogsRequest{App: app, Env: env, Lines: *n, Follow: *follow, User: c.id.User}
	if *host != "" {
		req.Hosts = []string{*host}
	}
	if _, err := release.LogsCommand(env, *follow); err != nil {
		fmt.Fprintf(c.errw, "slipway: %s\n", trimSentinel(err))
		return exitUsage
	}
	rels, err := c.history(app.Name)
	if err != nil {
		fmt.Fprintf(c.errw, "slipway: cannot read the history of %s; the server log has details\n", app.Name)
		c.s.Log.Error().Err(err).Str("app", app.Name).Msg("read history")
		return exitFailed
	}
	req.Commits = release.Commits(rels)
	if release.LiveRelease(rels, env.Name) == nil {
		fmt.Fprintf(c.errw, "slipway: %s/%s has never been deployed: no release runs there to read logs from\n", app.Name, env.Name)
		return exitFailed
	}
	// A server that stops ends a follow instead of waiting for it.
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if c.s.stopping != nil {
		defer context.AfterFunc(c.s.stopping, cancel)()
	}
	if c.keys != nil {
		// With a terminal (ssh -t), Ctrl-C or Ctrl-D is a key the user
		// types: it ends the logs as hanging up does.
		go func() {
			waitInterrupt(c.keys)
			cancel()
		}()
	}
	out, errw := c.out, c.errw
	if c.keys != nil {
		out, errw = crlf{out}, crlf{errw}
	}
	err = c.s.Engine.Logs(lctx, req, out, errw)
	var failed *release.LogsError
	switch {
	case err == nil:
		if c.s.stopping != nil && c.s.stopping.Err() != nil {
			fmt.Fprintln(errw, "slipway: the server is stopping; logs ended")
		}
		return exitOK
	case errors.Is(err, release.ErrNoLogsCommand), errors.Is(err, release.ErrUnknownHost):
		fmt.Fprintf(c.errw, "slipway: %s\n", trimSentinel(err))
		return exitUsage
	case errors.As(err, &failed):
		// Each host's reason is on stderr already.
		return exitFailed
	default:
		c.s.Log.Error().Err(err).Str("app", app.Name).Str("env", env.Name).Msg("logs")
		fmt.Fprintf(c.errw, "slipway: cannot read the logs of %s/%s; the server log has details\n", app.Name, env.Name)
		return exitFailed
	}
}

// trimSentinel drops the sentinel's own text from "sentinel: sentence".
func trimSentinel(err error) string {
	for _, s := range []error{release.ErrNoLogsCommand, release.ErrUnknownHost} {
		if rest, ok := strings.CutPrefix(err.Error(), s.Error()+": "); ok && errors.Is(err, s) {
			return rest
		}
	}
	return err.Error()
}

// waitInterrupt reads keys until Ctrl-C (0x03) or Ctrl-D (0x04), or the
// end of the input.
func waitInterrupt(keys io.Reader) {
	buf := make([]byte, 64)
	for {
		n, err := keys.Read(buf)
		if bytes.ContainsAny(buf[:n], "\x03\x04") || err != nil {
			return
		}
	}
}

// crlf ends lines with "\r\n" for a client whose terminal is raw (ssh -t):
// nothing on the server translates "\n" as a terminal would.
type crlf struct{ w io.Writer }

func (c crlf) Write(p []byte) (int, error) {
	if _, err := c.w.Write(bytes.ReplaceAll(p, []byte("\n"), []byte("\r\n"))); err != nil {
		return 0, err
	}
	return len(p), nil
}
