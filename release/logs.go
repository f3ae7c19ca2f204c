package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/internal/textclean"
	"github.com/slipwayhq/slipway/lifecycle"
)

// LogsRequest is one `ssh … logs` command.
type LogsRequest struct {
	App *config.App
	Env *config.Environment
	// Hosts are the hosts to read, each one of Env.Hosts; nil for all.
	Hosts []string
	// Lines is how many recent lines to ask for: the command reads it
	// from $SLIPWAY_LOG_LINES.
	Lines int
	// Follow runs Env.LogsFollow instead of Env.Logs, until ctx ends.
	Follow bool
	User   string
	// Commits maps release names to commits, for SLIPWAY_COMMIT (see
	// Commits); nil leaves it empty.
	Commits map[string]string
}

// Errors of Logs, matched with errors.Is.
var (
	// ErrNoLogsCommand means the environment has no logs (or, for
	// Follow, no logs_follow) command configured.
	ErrNoLogsCommand = errors.New("no logs command configured")
	// ErrUnknownHost means a host asked for is not one of the environment's.
	ErrUnknownHost = errors.New("not a host of the environment")
)

// LogsError names the hosts whose logs could not be read.
type LogsError struct {
	Hosts map[string]error
}

func (e *LogsError) Error() string {
	names := make([]string, 0, len(e.Hosts))
	for n := range e.Hosts {
		names = append(names, n)
	}
	sort.Strings(names)
	return "logs failed on " + strings.Join(names, ", ")
}

// LogsCommand is the command logs runs in env: logs, or logs_follow to
// follow. It is an error wrapping ErrNoLogsCommand when that is not set.
func LogsCommand(env *config.Environment, follow bool) (string, error) {
	command, key := env.Logs, "logs"
	if follow {
		command, key = env.LogsFollow, "logs_follow"
	}
	if command == "" {
		return "", fmt.Errorf("%w: %s/%s has no %s command; set %s in [apps.%s.environments.%s] of the configuration",
			ErrNoLogsCommand, env.App, env.Name, key, key, env.App, env.Name)
	}
	return command, nil
}

// Logs runs the environment's logs command (logs_follow with Follow) on
// each host of req at once, in the release current points to there, and
// writes every line it prints to out as "HOST | line" as it arrives:
// secrets masked first, then cut at lifecycle.MaxLine bytes and sanitized for
// a terminal. Lines of one host keep their order; hosts interleave by
// line.
//
// When ctx ends (the user went away) every command is stopped on its
// host, with every process it started (host.Host.Attach). A host that cannot
// be reached, runs no release, or whose command fails is reported on errw
// at once, the others go on, and the result is a *LogsError naming them.
// Logs changes nothing on the hosts and records nothing.
func (e *Engine) Logs(ctx context.Context, req LogsRequest, out, errw io.Writer) error {
	command, err := LogsCommand(req.Env, req.Follow)
	if err != nil {
		return err
	}
	hosts := req.Hosts
	if hosts == nil {
		hosts = req.Env.Hosts
	}
	for _, h := range hosts {
		if !slices.Contains(req.Env.Hosts, h) {
			return fmt.Errorf("%w: %s is not a host of %s/%s (its hosts: %s)", ErrUnknownHost,
				textclean.Line(h, 100), req.App.Name, req.Env.Name, strings.Join(req.Env.Hosts, ", "))
		}
	}
	var secretValues map[string]string
	if e.Secrets != nil {
		var err error
		if secretValues, err = e.Secrets.Get(req.App.Name, req.Env.Name); err != nil {
			return fmt.Errorf("read the secrets of %s/%s: %w", req.App.Name, req.Env.Name, err)
		}
	}
	forms := secretForms(secretValues)
	width := 0
	for _, h := range hosts {
		width = max(width, len(h))
	}
	w := &prefixWriter{w: lifecycle.QuietWriter(out), width: width}
	ew := &prefixWriter{w: lifecycle.QuietWriter(errw), width: width}
	timeout := time.Duration(0)
	if !req.Follow {
		timeout = req.Env.Hooks.Timeout.Std()
	}

	// Every host at once: a follow never ends by itself.
	errs, _ := each(ctx, hosts, len(hosts), func(ctx context.Context, name string) (error, error) {
		err := e.hostLogs(ctx, req, name, command, timeout, secretValues, forms, w)
		if err != nil && ctx.Err() == nil { // else the user has gone: nobody to tell
			ew.line(name, "! "+textclean.Line(lifecycle.Mask(err.Error(), forms), 300))
			return err, nil
		}
		return nil, nil
	})
	failed := map[string]error{}
	for i, err := range errs {
		if err != nil {
			failed[hosts[i]] = err
		}
	}
	if len(failed) > 0 {
		return &LogsError{Hosts: failed}
	}
	return nil
}

// hostLogs is Logs on one host.
func (e *Engine) hostLogs(ctx context.Context, req LogsRequest, name, command string, timeout time.Duration,
	secretValues map[string]string, forms []string, w *prefixWriter) error {
	parent := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	h, err := e.connect(ctx, req.Env, name)
	if err != nil {
		return err
	}
	defer h.Close()
	info, err := h.Open(ctx)
	cur := info.Current
	if err != nil {
		return err
	}
	if cur == "" {
		return fmt.Errorf("%s runs no release of %s/%s yet", name, req.App.Name, req.Env.Name)
	}
	d := &deploy{e: e, req: Request{App: req.App, Env: req.Env, User: req.User, Commit: req.Commits[cur]}, rel: cur,
		secrets: secretValues, action: ActionLogs, actor: req.User}
	follow := ""
	if req.Follow {
		follow = "1"
	}
	env := append(d.hookEnv(h), "SLIPWAY_LOG_LINES="+strconv.Itoa(req.Lines), "SLIPWAY_LOG_FOLLOW="+follow)
	o := lifecycle.NewOutput(writerFunc(func(p []byte) (int, error) {
		for line := range strings.SplitSeq(strings.TrimSuffix(string(p), "\n"), "\n") {
			w.line(name, textclean.Line(line, lifecycle.MaxLine))
		}
		return len(p), nil
	}), forms)
	err = h.Attach(ctx, cur, command, env, o)
	o.Close()
	if err == nil && ctx.Err() != nil && parent.Err() == nil {
		// Attach says nothing when ctx ends: here it was the hooks
		// timeout, not the user going away.
		return fmt.Errorf("the logs command did not finish within %s (the hooks timeout) and was stopped; it must print recent lines and exit (logs_follow is for -f)", timeout)
	}
	if err != nil {
		return fmt.Errorf("the logs command failed: %w", err)
	}
	return nil
}

// prefixWriter writes whole lines, each with a host name in front, one
// line at a time from any goroutine.
type prefixWriter struct {
	mu    sync.Mutex
	w     io.Writer
	width int
}

func (p *prefixWriter) line(host, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%-*s | %s\n", p.width, host, text)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
