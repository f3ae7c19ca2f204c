package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/internal/textclean"
	"github.com/slipwayhq/slipway/lifecycle"
)

// LiveHost is what a host answers when asked now (status --live), as
// opposed to the HostState recorded after the last deploy.
type LiveHost struct {
	Name    string `json:"name"`
	Current string `json:"current"` // release current points to, "" for none
	// Health is "ok", "failed: REASON", or "not checked" when the
	// environment has no health check or the host runs no release.
	Health string `json:"health"`
	// Error says why the host could not be asked; Current and Health are
	// then unknown.
	Error string `json:"error,omitempty"`
}

// Verdicts of a live check, from LiveHost.Verdict.
const (
	VerdictOK          = "ok"
	VerdictUnreachable = "unreachable" // the host could not be asked, or did not answer in time
	VerdictDiffers     = "differs"     // it runs another release than was recorded for it
	VerdictUnhealthy   = "unhealthy"   // its health check failed now
	VerdictOutOfLine   = "out of line" // it runs what was recorded, but not the live release
)

// Verdict compares the host's answer with the release recorded for it
// (HostState.Current: "" for none or never seen) and the environment's
// live release (nil for none), and returns the first verdict that
// applies, in the order of the constants above, or VerdictOK.
func (h LiveHost) Verdict(recorded string, live *Release) string {
	switch {
	case h.Error != "":
		return VerdictUnreachable
	case h.Current != recorded:
		return VerdictDiffers
	case h.Health != "ok" && h.Health != "not checked":
		return VerdictUnhealthy
	case live != nil && h.Current != live.Name:
		return VerdictOutOfLine
	}
	return VerdictOK
}

// DefaultLiveTimeout bounds the answer of one host to CheckLive.
const DefaultLiveTimeout = 20 * time.Second

// CheckLive asks every host of env, in parallel, where current points and
// runs the environment's health check there once, in the release current
// points to. Each host has timeout (DefaultLiveTimeout if 0) to answer;
// one that does not is reported with Error set, never waited for longer.
// The result is in the order of env.Hosts.
//
// commits maps release names to their commits, for SLIPWAY_COMMIT (see
// Commits); a release not in it leaves SLIPWAY_COMMIT empty.
//
// It changes nothing: no state file, note or audit record is written, and
// the health check is the only command run on a host (with SLIPWAY_ACTION
// set to "check"). Its output never leaves the engine; secrets are masked
// in the reason of a failure.
func (e *Engine) CheckLive(ctx context.Context, app *config.App, env *config.Environment, user string, commits map[string]string, timeout time.Duration) []LiveHost {
	if timeout <= 0 {
		timeout = DefaultLiveTimeout
	}
	var secretValues map[string]string
	if e.Secrets != nil {
		var err error
		if secretValues, err = e.Secrets.Get(app.Name, env.Name); err != nil {
			// The check goes on without them; a health command that
			// needs one fails and says so.
			e.Log.Warn().Err(err).Str("app", app.Name).Str("env", env.Name).Msg("read secrets for a live check")
		}
	}
	forms := secretForms(secretValues)
	out, _ := each(ctx, env.Hosts, parallelism(env), func(ctx context.Context, name string) (LiveHost, error) {
		hctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("no answer within %s", timeout))
		defer cancel()
		return e.checkHost(hctx, app, env, name, user, commits, secretValues, forms), nil
	})
	return out
}

// checkHost is CheckLive for one host.
func (e *Engine) checkHost(ctx context.Context, app *config.App, env *config.Environment, name, user string, commits, secretValues map[string]string, forms []string) LiveHost {
	lh := LiveHost{Name: name, Health: "not checked"}
	unreachable := func(err error) LiveHost {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			err = cause
		}
		lh.Error = textclean.Line(lifecycle.Mask(err.Error(), forms), 300)
		return lh
	}
	h, err := e.connect(ctx, env, name)
	if err != nil {
		return unreachable(err)
	}
	defer h.Close()
	info, err := h.Open(ctx)
	cur := info.Current
	if err != nil {
		return unreachable(err)
	}
	lh.Current = cur
	hc := env.Health
	if cur == "" || hc == nil || (hc.Command == "" && hc.URL == "") {
		return lh
	}
	d := &deploy{e: e, req: Request{App: app, Env: env, User: user, Commit: commits[cur]}, p: newPrinter(io.Discard), rel: cur,
		secrets: secretValues, action: ActionCheck, actor: user}
	d.p.secrets = forms
	policy := lifecycle.Policy{Attempts: 1, Timeout: hc.Timeout.Std()}
	if dl, ok := ctx.Deadline(); ok && (policy.Timeout <= 0 || time.Until(dl) < policy.Timeout) {
		policy.Timeout = 0 // the host's own deadline comes first
	}
	res := lifecycle.Check(ctx, policy, d.checkRunner(h), nil)
	switch {
	case res.Err == nil:
		lh.Health = "ok"
	case ctx.Err() != nil:
		return unreachable(res.Err)
	default:
		lh.Health = "failed: " + textclean.Line(lifecycle.Mask(res.Err.Error(), forms), 300)
	}
	return lh
}

// Commits maps each release in rels to its commit, for CheckLive and
// LogsRequest.
func Commits(rels []*Release) map[string]string {
	m := make(map[string]string, len(rels))
	for _, r := range rels {
		m[r.Name] = r.Commit
	}
	return m
}
