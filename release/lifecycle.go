package release

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/slipwayhq/slipway/hooks"
)

// The lifecycle of a release: build on the server, link shared paths and
// run before_switch on every host, migrate once, after_switch on each host
// as it switches, watch the health after the last wave, and after_deploy.
// Every hook runs with the release directory as working directory and the
// environment of hookEnv; nothing from the push is put into a command line.

// sink returns a writer that prints each line of a hook's output as
// "<step> <host> | <line>", sanitized.
func (p *printer) sink(step, host string) io.Writer {
	return &lineSink{p: p, step: step, host: host}
}

type lineSink struct {
	p          *printer
	step, host string
	mu         sync.Mutex
	buf        []byte
}

func (s *lineSink) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, b...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			break
		}
		line := hooks.Mask(string(s.buf[:i]), s.p.secrets)
		s.p.step(s.step, s.host, "| %s", Sanitize(line, 200))
		s.buf = s.buf[i+1:]
	}
	return len(b), nil
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
	d.phase("build")
	t := time.Now()
	bctx, cancel := context.WithTimeout(ctx, d.hookTimeout())
	defer cancel()
	_, err := hooks.LocalStream(cmd, dir, d.hookEnv(nil), d.p.sink("build", ""))(bctx)
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
func (d *deploy) prepare(ctx context.Context, hosts []Host) error {
	sh, before := d.req.Env.Shared, d.req.Env.Hooks.BeforeSwitch
	if len(sh.Dirs) == 0 && len(sh.Files) == 0 && sh.SecretsFile == "" && before == "" {
		return nil
	}
	files := sh.Files
	if sh.SecretsFile != "" {
		files = append(append([]string(nil), files...), sh.SecretsFile)
	}
	links := sharedLinks(sh.Dirs, files)
	return d.forEachHost(ctx, hosts, func(ctx context.Context, h Host) error {
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
			out, err := h.Run(lctx, d.rel, linkScript, append(d.hookEnv(h), "SLIPWAY_LINKS="+links), nil)
			cancel()
			if err != nil {
				d.p.step("shared", h.Name(), "FAILED: %v: %s", err, lastLine(string(out)))
				return &HostError{Host: h.Name(), Step: "shared", Err: err}
			}
		}
		if before == "" {
			return nil
		}
		t := time.Now()
		hctx, cancel := context.WithTimeout(ctx, d.hookTimeout())
		defer cancel()
		if _, err := h.Run(hctx, d.rel, before, d.hookEnv(h), d.p.sink("before", h.Name())); err != nil {
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
	d.phase("migrate")
	t := time.Now()
	mctx, cancel := context.WithTimeout(ctx, d.hookTimeout())
	defer cancel()
	if _, err := h.Run(mctx, d.rel, cmd, d.hookEnv(h), d.p.sink("migrate", h.Name())); err != nil {
		d.p.step("migrate", h.Name(), "FAILED: %v", err)
		return &HostError{Host: h.Name(), Step: "migrate", Err: err}
	}
	d.p.step("migrate", h.Name(), "ok   %s", seconds(time.Since(t)))
	d.log.Info().Str("step", "migrate").Str("host", h.Name()).Dur("duration", time.Since(t)).Msg("migrated")
	return nil
}

// afterSwitch runs after_switch on a host that now runs rel (the new
// release, or the old one after a rollback).
func (d *deploy) afterSwitch(ctx context.Context, h Host, rel string) error {
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
	if _, err := h.Run(actx, rel, cmd, env, d.p.sink("after", h.Name())); err != nil {
		d.p.step("after", h.Name(), "FAILED: after_switch: %v", err)
		return &HostError{Host: h.Name(), Step: "after_switch", Err: err}
	}
	return nil
}

// checkRunner is one attempt of the health check on h.
func (d *deploy) checkRunner(h Host) hooks.Runner {
	hc := d.req.Env.Health
	if hc.URL == "" {
		env := d.hookEnv(h)
		// Masked before the output is cut to a tail, so that no part of a
		// secret survives.
		return hooks.MaskRunner(func(ctx context.Context) ([]byte, error) {
			return h.Run(ctx, d.rel, hc.Command, env, nil)
		}, d.p.secrets)
	}
	url := strings.ReplaceAll(hc.URL, "{host}", hostAddress(h))
	return hooks.MaskRunner(func(ctx context.Context) ([]byte, error) {
		return fetch(ctx, url, hc.Expect, hc.Body)
	}, d.p.secrets)
}

// fetch GETs url and checks the status and, if body is set, that the
// response contains it.
func fetch(ctx context.Context, url string, expect int, body string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	out := append([]byte(resp.Status+"\n"), data...)
	if resp.StatusCode != expect {
		return out, fmt.Errorf("%s answered %d, want %d", url, resp.StatusCode, expect)
	}
	if body != "" && !bytes.Contains(data, []byte(body)) {
		return out, fmt.Errorf("%s answered without %q", url, body)
	}
	return out, nil
}

// hostAddress is the address {host} stands for in a health URL.
func hostAddress(h Host) string {
	if s, ok := h.(*SSH); ok {
		return s.host
	}
	return "127.0.0.1"
}

// watch keeps checking every switched host for the watch window after the
// last wave; a failure fails the deploy, which rolls back. Every host is
// checked at least once, however late the loop starts on a busy server.
func (d *deploy) watch(ctx context.Context) error {
	hc := d.req.Env.Health
	if hc == nil || hc.Watch <= 0 {
		return nil
	}
	d.phase("watch")
	interval := max(hc.Interval.Std(), 100*time.Millisecond)
	deadline := time.Now().Add(hc.Watch.Std())
	checks := 0
	for checks == 0 || time.Now().Before(deadline) {
		err := d.forEachHost(ctx, d.switched, func(ctx context.Context, h Host) error {
			res := hooks.Check(ctx, hooks.Policy{Attempts: 1, Timeout: hc.Timeout.Std()}, d.checkRunner(h), nil)
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
// on its standard input. Its failure is reported, never rolled back.
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
		"user": d.req.User, "hosts": hosts, "previous": previousOf(d), "rollback": d.req.Rollback != "",
		"duration_seconds": time.Since(d.start).Seconds(), "outcome": OutcomeLive,
	})
	actx, cancel := context.WithTimeout(ctx, d.hookTimeout())
	defer cancel()
	if _, err := hooks.LocalInput(cmd, d.e.DataDir, d.hookEnv(nil), append(summary, '\n'), d.p.sink("notify", ""))(actx); err != nil {
		d.p.step("notify", "", "after_deploy FAILED: %v (the deploy stands)", err)
		d.log.Warn().Err(err).Msg("after_deploy failed")
	}
}

// hookEnv is the environment of every hook and health command: the
// environment's env table, then Slipway's own variables.
func (d *deploy) hookEnv(h Host) []string {
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
		prev = d.prev[host]
	}
	return append(env,
		"SLIPWAY_APP="+d.req.App.Name,
		"SLIPWAY_ENV="+d.req.Env.Name,
		"SLIPWAY_RELEASE="+d.rel,
		"SLIPWAY_COMMIT="+d.req.Commit,
		"SLIPWAY_PREVIOUS_RELEASE="+prev,
		"SLIPWAY_HOST="+host,
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
		fmt.Fprintf(&b, "%s=%s\n", k, shellQuote(d.secrets[k]))
	}
	return []byte(b.String())
}
