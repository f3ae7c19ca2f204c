package release

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/slipwayhq/slipway/internal/shell"
	"github.com/slipwayhq/slipway/internal/textclean"
	"github.com/slipwayhq/slipway/lifecycle"
	"github.com/slipwayhq/slipway/release/host"
)

// The lifecycle of a release: build on the server, link shared paths and
// run before_switch on every host, migrate once, after_switch on each host
// as it switches, watch the health after the last wave, and after_deploy.
// Every hook runs with the release directory as working directory and the
// environment of hookEnv; nothing from the push is put into a command line.

// sink returns a writer that prints each line of a hook's output as
// "<step> <host> | <line>", sanitized. It is given whole lines, already
// masked and cut, by a lifecycle.Output (see output).
func (p *printer) sink(step, host string) io.Writer {
	return &lineSink{p: p, step: step, host: host}
}

type lineSink struct {
	p          *printer
	step, host string
}

func (s *lineSink) Write(b []byte) (int, error) {
	for line := range strings.SplitSeq(strings.TrimSuffix(string(b), "\n"), "\n") {
		s.p.step(s.step, s.host, "| %s", textclean.Line(line, 200))
	}
	return len(b), nil
}

// output returns where a hook's output goes: masked, cut into lines of at
// most lifecycle.MaxLine bytes and, when step is not "", printed under step and
// host. Its Tail is the end of the output, for a failure's reason.
func (d *deploy) output(step, host string) *lifecycle.Output {
	if step == "" {
		return lifecycle.NewOutput(nil, d.p.secrets)
	}
	return lifecycle.NewOutput(d.p.sink(step, host), d.p.secrets)
}

// runHook runs command on h in releases/rel, printing its output under step
// (none when step is ""), and returns the end of the output.
func (d *deploy) runHook(ctx context.Context, h host.Host, rel, command string, env []string, step string) ([]byte, error) {
	o := d.output(step, h.Name())
	err := h.Run(ctx, rel, command, env, o)
	o.Close()
	return o.Tail(), err
}

// hookTimeout is the configured per-hook timeout.
func (d *deploy) hookTimeout() time.Duration {
	if t := d.req.Env.Hooks.Timeout.Std(); t > 0 {
		return t
	}
	return 10 * time.Minute
}

// build runs the build hook on the server in the exported tree.
func (d *deploy) build(ctx context.Context, dir string) error {
	cmd := d.req.Env.Hooks.Build
	if cmd == "" {
		return nil
	}
	d.phase(PhaseBuild)
	t := time.Now()
	bctx, cancel := context.WithTimeout(ctx, d.hookTimeout())
	defer cancel()
	cache, err := d.e.ensureCache(d.req.App.Name, d.req.Env.Name)
	if err != nil {
		d.p.step("build", "", "FAILED: cannot create the build cache; the server log has details")
		return &stepError{step: "build", err: err}
	}
	o := d.output("build", "")
	err = lifecycle.Exec(bctx, cmd, dir, append(d.hookEnv(nil), "SLIPWAY_CACHE_DIR="+cache), nil, o)
	o.Close()
	if err != nil {
		d.p.step("build", "", "FAILED after %s: %v", seconds(time.Since(t)), err)
		return &stepError{step: "build", err: err}
	}
	d.p.step("build", "", "ok   %s", seconds(time.Since(t)))
	d.log.Info().Str("step", "build").Dur("duration", time.Since(t)).Msg("built")
	return nil
}

// prepare links the shared paths into the new release on hosts and runs
// before_switch there. Nothing is live yet.
func (d *deploy) prepare(ctx context.Context, hosts []host.Host) error {
	sh, before := d.req.Env.Shared, d.req.Env.Hooks.BeforeSwitch
	if len(sh.Dirs) == 0 && len(sh.Files) == 0 && sh.SecretsFile == "" && before == "" {
		return nil
	}
	files := sh.Files
	if sh.SecretsFile != "" {
		files = append(append([]string(nil), files...), sh.SecretsFile)
	}
	links := sharedLinks(sh.Dirs, files)
	return d.forEachHost(ctx, hosts, func(ctx context.Context, h host.Host) error {
		if sh.SecretsFile != "" {
			wctx, cancel := context.WithTimeout(ctx, switchTimeout)
			err := h.WriteShared(wctx, sh.SecretsFile, d.secretsFile())
			cancel()
			if err != nil {
				d.p.step("shared", h.Name(), "FAILED to write %s: %v", sh.SecretsFile, err)
				return &HostError{Host: h.Name(), Step: "shared", Err: err}
			}
		}
		if links != "" {
			lctx, cancel := context.WithTimeout(ctx, switchTimeout)
			out, err := d.runHook(lctx, h, d.rel, linkScript, append(d.hookEnv(h), "SLIPWAY_LINKS="+links), "")
			cancel()
			if err != nil {
				d.p.step("shared", h.Name(), "FAILED: %v: %s", err, textclean.LastLine(string(out)))
				return &HostError{Host: h.Name(), Step: "shared", Err: err}
			}
		}
		if before == "" {
			return nil
		}
		t := time.Now()
		hctx, cancel := context.WithTimeout(ctx, d.hookTimeout())
		defer cancel()
		if _, err := d.runHook(hctx, h, d.rel, before, d.hookEnv(h), "before"); err != nil {
			d.p.step("before", h.Name(), "FAILED: before_switch: %v", err)
			return &HostError{Host: h.Name(), Step: "before_switch", Err: err}
		}
		d.p.step("before", h.Name(), "ok   %s", seconds(time.Since(t)))
		return nil
	})
}

// sharedLinks describes the links to make, one per line: kind, path in
// the release, link target relative to the link.
func sharedLinks(dirs, files []string) string {
	var b strings.Builder
	add := func(kind, p string) {
		up := strings.Repeat("../", strings.Count(p, "/")+2)
		fmt.Fprintf(&b, "%s\t%s\t%sshared/%s\n", kind, p, up, p)
	}
	for _, p := range dirs {
		add("dir", p)
	}
	for _, p := range files {
		add("file", p)
	}
	return b.String()
}

// linkScript makes <path>/shared/<p> exist and replaces <p> in the release
// (working directory) with a relative symlink to it. Paths come from the
// operator's configuration and are validated there.
const linkScript = `set -e
tab=$(printf '\t')
printf '%s' "$SLIPWAY_LINKS" | while IFS="$tab" read -r kind p target; do
	[ -n "$p" ] || continue
	# The pushed tree must not turn a parent of the shared path into a
	# symlink that leads out of the release.
	d=$p
	while d=$(dirname "$d"); [ "$d" != . ]; do
		if [ -L "./$d" ]; then echo "shared path $p passes through the symlink $d in the release" >&2; exit 3; fi
	done
	shared="../../shared/$p"
	if [ "$kind" = dir ]; then
		mkdir -p "$shared"
	else
		mkdir -p "$(dirname "$shared")"
		[ -e "$shared" ] || { : > "$shared"; chmod 600 "$shared"; }
	fi
	rm -rf "./$p"
	mkdir -p "$(dirname "./$p")"
	ln -s "$target" "./$p"
done`

// migrate runs the migrate hook once, on the first host, before any switch.
func (d *deploy) migrate(ctx context.Context) error {
	cmd := d.req.Env.Hooks.Migrate
	if cmd == "" || d.req.Rollback != "" || len(d.hosts) == 0 {
		return nil
	}
	h := d.hosts[0]
	d.phase(PhaseMigrate)
	t := time.Now()
	mctx, cancel := context.WithTimeout(ctx, d.hookTimeout())
	defer cancel()
	if _, err := d.runHook(mctx, h, d.rel, cmd, d.hookEnv(h), "migrate"); err != nil {
		d.p.step("migrate", h.Name(), "FAILED: %v", err)
		return &HostError{Host: h.Name(), Step: "migrate", Err: err}
	}
	d.p.step("migrate", h.Name(), "ok   %s", seconds(time.Since(t)))
	d.log.Info().Str("step", "migrate").Str("host", h.Name()).Dur("duration", time.Since(t)).Msg("migrated")
	return nil
}

// afterSwitch runs after_switch on a host that now runs rel (the new
// release, or the old one after a rollback).
func (d *deploy) afterSwitch(ctx context.Context, h host.Host, rel string) error {
	cmd := d.req.Env.Hooks.AfterSwitch
	if cmd == "" {
		return nil
	}
	actx, cancel := context.WithTimeout(ctx, d.hookTimeout())
	defer cancel()
	env := d.hookEnv(h)
	if rel != d.rel {
		env = append(env, "SLIPWAY_RELEASE="+rel, "SLIPWAY_ROLLBACK=1")
	}
	if _, err := d.runHook(actx, h, rel, cmd, env, "after"); err != nil {
		d.p.step("after", h.Name(), "FAILED: after_switch: %v", err)
		return &HostError{Host: h.Name(), Step: "after_switch", Err: err}
	}
	return nil
}

// checkRunner is one attempt of the health check on h. Its output is
// masked before anything is cut from it (see lifecycle.Output).
func (d *deploy) checkRunner(h host.Host) lifecycle.Runner {
	hc := d.req.Env.Health
	if hc.URL == "" {
		env := d.hookEnv(h)
		return func(ctx context.Context) ([]byte, error) {
			return d.runHook(ctx, h, d.rel, hc.Command, env, "")
		}
	}
	url := strings.ReplaceAll(hc.URL, "{host}", h.Address())
	return func(ctx context.Context) ([]byte, error) {
		o := d.output("", "")
		err := fetch(ctx, url, hc.Expect, hc.Body, o)
		o.Close()
		return o.Tail(), err
	}
}

// maxHealthBody is how much of a health URL's response body is read.
const maxHealthBody = 64 << 10

// healthClient makes health requests. It follows no redirect: the check is
// of the configured URL, and a pushed app must not make Slipway fetch, and
// show the pusher, an address only the server can reach.
var healthClient = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// fetch GETs url and checks the status and, if body is set, that the
// response contains it. It writes what the pusher may see to out: the
// status line, the Location of a redirect, and the first 64 KiB of the
// body, without a line the limit cut.
func fetch(ctx context.Context, url string, expect int, body string, out io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := healthClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxHealthBody+1))
	cut := len(data) > maxHealthBody
	if cut {
		data = data[:maxHealthBody]
	}
	fmt.Fprintf(out, "%s\n", resp.Status)
	loc := resp.Header.Get("Location")
	redirect := resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != ""
	if redirect {
		fmt.Fprintf(out, "Location: %s\n", loc)
	}
	shown := data
	if cut {
		// The last line may end inside a secret, which masking cannot
		// recognise: drop it.
		shown = data[:bytes.LastIndexByte(data, '\n')+1]
	}
	out.Write(shown)
	if cut {
		fmt.Fprintf(out, "\n(body cut at %d KiB)\n", maxHealthBody>>10)
	}
	switch {
	case resp.StatusCode != expect && redirect:
		return fmt.Errorf("%s answered %d, a redirect to %s, want %d (redirects are not followed)", url, resp.StatusCode, textclean.Line(loc, 200), expect)
	case resp.StatusCode != expect:
		return fmt.Errorf("%s answered %d, want %d", url, resp.StatusCode, expect)
	case body != "" && !bytes.Contains(data, []byte(body)):
		return fmt.Errorf("%s answered without %q", url, body)
	}
	return nil
}

// watch keeps checking every switched host for the watch window after the
// last wave; a failure fails the deploy, which rolls back. Every host is
// checked at least once, however late the loop starts on a busy server.
func (d *deploy) watch(ctx context.Context) error {
	hc := d.req.Env.Health
	if hc == nil || hc.Watch <= 0 {
		return nil
	}
	d.phase(PhaseWatch)
	interval := max(hc.Interval.Std(), 100*time.Millisecond)
	deadline := time.Now().Add(hc.Watch.Std())
	checks := 0
	for checks == 0 || time.Now().Before(deadline) {
		err := d.forEachHost(ctx, d.switched, func(ctx context.Context, h host.Host) error {
			res := lifecycle.Check(ctx, lifecycle.Policy{Attempts: 1, Timeout: hc.Timeout.Std()}, d.checkRunner(h), nil)
			if err := res.Err; err != nil {
				d.p.step("watch", h.Name(), "FAILED after %s: %v", seconds(hc.Watch.Std()-time.Until(deadline)), err)
				for _, l := range res.Tail {
					d.p.step("", "", "| %s", l)
				}
				d.setHealth(h.Name(), "failed: "+err.Error())
				return &HostError{Host: h.Name(), Step: "watch", Err: err}
			}
			return nil
		})
		if err != nil {
			return err
		}
		checks++
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
	d.p.step("watch", "", "ok   every host healthy for %s (%s)", hc.Watch.Std(), count(checks, "check"))
	return nil
}

// afterDeploy runs the after_deploy hook on the server with a JSON summary
// on its standard input, after the verdict. Its output goes to the daemon
// log; its failure to the daemon log and the audit log, never rolled back.
func (d *deploy) afterDeploy(ctx context.Context) {
	cmd := d.req.Env.Hooks.AfterDeploy
	if cmd == "" {
		return
	}
	hosts := make([]string, 0, len(d.hosts))
	for _, h := range d.hosts {
		hosts = append(hosts, h.Name())
	}
	summary, _ := json.Marshal(map[string]any{
		"app": d.req.App.Name, "env": d.req.Env.Name, "release": d.rel, "commit": d.req.Commit,
		"user": d.req.User, "action": d.action, "by": d.actor, "hosts": hosts, "previous": previousOf(d), "rollback": d.req.Rollback != "",
		"duration_seconds": time.Since(d.start).Seconds(), "outcome": OutcomeLive,
	})
	actx, cancel := context.WithTimeout(ctx, d.hookTimeout())
	defer cancel()
	o := d.output("notify", "")
	err := lifecycle.Exec(actx, cmd, d.e.DataDir, d.hookEnv(nil), append(summary, '\n'), o)
	o.Close()
	if err != nil {
		reason := err.Error()
		if tail := textclean.LastLine(string(o.Tail())); tail != "" {
			reason += ": " + tail
		}
		d.bookkeepingFailed("after_deploy failed (the deploy stands)", errors.New(reason))
	}
}

// hookEnv is the environment of every hook and health command: the
// environment's env table, then Slipway's own variables.
func (d *deploy) hookEnv(h host.Host) []string {
	var env []string
	keys := make([]string, 0, len(d.req.Env.Env))
	for k := range d.req.Env.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+d.req.Env.Env[k])
	}
	names := make([]string, 0, len(d.secrets))
	for k := range d.secrets {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		env = append(env, k+"="+d.secrets[k])
	}
	host := ""
	if h != nil {
		host = h.Name()
	}
	prev := ""
	if h != nil {
		d.mu.Lock() // a rollback's switches learn prev while hooks run
		prev = d.prev[host]
		d.mu.Unlock()
	}
	return append(env,
		"SLIPWAY_APP="+d.req.App.Name,
		"SLIPWAY_ENV="+d.req.Env.Name,
		"SLIPWAY_RELEASE="+d.rel,
		"SLIPWAY_COMMIT="+d.req.Commit,
		"SLIPWAY_PREVIOUS_RELEASE="+prev,
		"SLIPWAY_HOST="+host,
		"SLIPWAY_USER="+d.actor,
		"SLIPWAY_ACTION="+string(d.action),
	)
}

// previousOf is the release the environment ran before this deploy.
func previousOf(d *deploy) string {
	if d.from != "" {
		return d.from
	}
	return majority(d.prev)
}

// secretsFile is the content of shared.secrets_file: KEY='value' lines,
// which both sh and the common .env readers understand.
func (d *deploy) secretsFile() []byte {
	names := make([]string, 0, len(d.secrets))
	for k := range d.secrets {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("# Written by Slipway from the environment's secrets; do not edit.\n")
	for _, k := range names {
		fmt.Fprintf(&b, "%s=%s\n", k, shell.Quote(d.secrets[k]))
	}
	return []byte(b.String())
}

// secretForms are the texts masked in a deploy's output: every secret value
// as it is, and every other form in which Slipway writes one, so that a hook
// that prints what Slipway gave it shows only ***. That is the shell-quoted
// form of secrets_file and of the variables an SSH host reads on stdin,
// whose inner part (each ' written as '\”) is what differs from the value.
func secretForms(secrets map[string]string) []string {
	forms := make([]string, 0, len(secrets))
	for _, v := range secrets {
		forms = append(forms, v)
		if q := shell.Quote(v); q[1:len(q)-1] != v {
			forms = append(forms, q[1:len(q)-1])
		}
	}
	return forms
}
