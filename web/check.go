package web

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/slipwayhq/slipway/release"
)

// checkUser is SLIPWAY_USER of the health checks a page asks for.
const checkUser = "dashboard"

// checks holds one mutex per environment being checked from the page: a
// reload while a check runs does not start another on the same hosts.
type checks struct{ m sync.Map }

func (c *checks) try(key string) (unlock func(), ok bool) {
	v, _ := c.m.LoadOrStore(key, new(sync.Mutex))
	mu := v.(*sync.Mutex)
	if !mu.TryLock() {
		return nil, false
	}
	return mu.Unlock, true
}

// checkNow answers ?check=APP/ENV: it asks the hosts of that environment
// now, as `ssh … status --live` does, and puts each answer next to the
// record on the page. Like the rest of the dashboard it changes nothing;
// it runs the environment's health check once on each host. The request's
// context bounds it: a browser that goes away stops it.
func (s *Server) checkNow(ctx context.Context, p *page, target string) int {
	appName, envName, _ := strings.Cut(target, "/")
	cfg := s.Src.Config()
	app, ok := cfg.App(appName)
	if !ok {
		return http.StatusNotFound
	}
	env, ok := app.Environment(envName)
	if !ok {
		return http.StatusNotFound
	}
	var ev *envView
	for i := range p.Apps {
		for j := range p.Apps[i].Envs {
			if e := &p.Apps[i].Envs[j]; e.App == app.Name && e.Env == env.Name {
				ev = e
			}
		}
	}
	if ev == nil {
		return http.StatusNotFound
	}
	unlock, ok := s.checks.try(app.Name + "/" + env.Name)
	if !ok {
		ev.CheckNote = "These hosts are being checked already; reload in a moment."
		return http.StatusOK
	}
	defer unlock()
	var commits map[string]string
	if h, err := s.Src.history(ctx, app.Name); err == nil {
		commits = release.Commits(h.rels)
	}
	answers := s.Src.Engine.CheckLive(ctx, app, env, checkUser, commits, release.DefaultLiveTimeout)
	ev.Checked = time.Now()
	for i := range ev.Hosts {
		hv := &ev.Hosts[i]
		for _, a := range answers {
			if a.Name == hv.Name {
				hv.Live = liveCell(a, hv.Recorded, ev.Live)
			}
		}
	}
	return http.StatusOK
}

// liveCell is what the "now" column says for a host's answer.
func liveCell(a release.LiveHost, recorded string, live *release.Release) *liveView {
	v := a.Verdict(recorded, live)
	current := a.Current
	if current == "" {
		current = "none"
	}
	text := current + " · health " + a.Health
	switch v {
	case release.VerdictUnreachable:
		text = "unreachable: " + a.Error
	case release.VerdictDiffers:
		text = "runs " + current + ", differs from the record · health " + a.Health
	case release.VerdictOutOfLine:
		text = current + ", not the live release · health " + a.Health
	}
	return &liveView{Verdict: v, Text: text}
}
