package gitserver

import (
	"context"
	"fmt"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/release"
)

// maxLiveTimeout bounds status --live --timeout.
const maxLiveTimeout = 5 * time.Minute

// LiveStatus is the JSON form of `status --live`: what every host answers
// now, next to what was recorded after the last deploy.
type LiveStatus struct {
	Apps []LiveApp `json:"apps"`
	// OK is true when every host answered, runs the release recorded for
	// it and the environment's live release, and passed its health check.
	OK bool `json:"ok"`
}

// LiveApp is one app in LiveStatus.
type LiveApp struct {
	App          string    `json:"app"`
	Environments []LiveEnv `json:"environments"`
}

// LiveEnv is one environment in LiveStatus.
type LiveEnv struct {
	Env   string           `json:"env"`
	Live  *release.Release `json:"live"` // the live release in the history
	Hosts []LiveHostStatus `json:"hosts"`
}

// LiveHostStatus is one host: the record, the live answer and the verdict.
type LiveHostStatus struct {
	Name string `json:"name"`
	// Recorded is the release the state file says the host runs: "" for
	// none or never seen, "unknown" when it could not be told.
	Recorded string `json:"recorded"`
	Current  string `json:"current"` // the live answer; "" for none
	Health   string `json:"health"`  // "ok", "failed: REASON", "not checked"
	// Error says why the host could not be asked (unreachable, no answer
	// within the timeout); Current and Health are then unknown.
	Error   string `json:"error,omitempty"`
	Differs bool   `json:"differs"` // Current is not Recorded
	InLine  bool   `json:"in_line"` // Current is the environment's live release
	// Verdict is "ok", "differs", "unhealthy", "unreachable" or
	// "out of line" (the host answered what was recorded, but that is not
	// the environment's live release), the first that applies.
	Verdict string `json:"verdict"`
}

// liveVerdict decides a host's verdict from its record and live answer.
func liveVerdict(h *LiveHostStatus, live *release.Release) {
	answer := release.LiveHost{Name: h.Name, Current: h.Current, Health: h.Health, Error: h.Error}
	h.Verdict = answer.Verdict(h.Recorded, live)
	h.Differs = h.Error == "" && h.Current != h.Recorded
	h.InLine = h.Error == "" && (live == nil && h.Current == "" || live != nil && h.Current == live.Name)
}

// statusLive is `status --live [APP]`: every host of every environment is
// asked at once, each within timeout. Nothing is written: the state files
// keep what the last deploy saw, so a difference stays visible.
func (c *command) statusLive(ctx context.Context, apps []string, timeout time.Duration, asJSON bool) int {
	cfg := c.s.Config()
	st := LiveStatus{Apps: []LiveApp{}, OK: true}
	var wg sync.WaitGroup
	commits := map[string]map[string]string{} // app → release → commit
	for _, name := range apps {
		app, _ := cfg.App(name)
		rels, err := c.history(name)
		if err != nil {
			fmt.Fprintf(c.errw, "slipway: cannot read the history of %s; the server log has details\n", name)
			c.s.Log.Error().Err(err).Str("app", name).Msg("read history")
			return exitFailed
		}
		la := LiveApp{App: name}
		commits[name] = release.Commits(rels)
		for _, envName := range sortedEnvs(app) {
			la.Environments = append(la.Environments, LiveEnv{Env: envName, Live: release.LiveRelease(rels, envName)})
		}
		st.Apps = append(st.Apps, la)
	}
	for i := range st.Apps {
		app, _ := cfg.App(st.Apps[i].App)
		for j := range st.Apps[i].Environments {
			le := &st.Apps[i].Environments[j]
			env := app.Environments[le.Env]
			wg.Add(1)
			go func() {
				defer wg.Done()
				le.Hosts = c.liveEnv(ctx, app, env, le.Live, commits[app.Name], timeout)
			}()
		}
	}
	wg.Wait()
	for _, a := range st.Apps {
		for _, e := range a.Environments {
			for _, h := range e.Hosts {
				st.OK = st.OK && h.Verdict == release.VerdictOK
			}
		}
	}
	if asJSON {
		c.writeJSON(st)
	} else {
		c.printLive(st)
	}
	if !st.OK {
		return exitFailed
	}
	return exitOK
}

// liveEnv asks the hosts of env and compares each answer with the record.
func (c *command) liveEnv(ctx context.Context, app *config.App, env *config.Environment, live *release.Release, commits map[string]string, timeout time.Duration) []LiveHostStatus {
	state, err := c.s.Engine.State(app.Name, env.Name)
	answers := c.s.Engine.CheckLive(ctx, app, env, c.id.User, commits, timeout)
	out := make([]LiveHostStatus, 0, len(answers))
	for _, a := range answers {
		h := LiveHostStatus{Name: a.Name, Current: a.Current, Health: a.Health, Error: a.Error}
		switch {
		case err != nil:
			h.Recorded = "unknown"
		case state != nil:
			h.Recorded = state.Hosts[a.Name].Current
		}
		liveVerdict(&h, live)
		out = append(out, h)
	}
	return out
}

func (c *command) printLive(st LiveStatus) {
	if len(st.Apps) == 0 {
		fmt.Fprintln(c.out, "No apps yet. Push one: git push deploy main")
		return
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	for _, a := range st.Apps {
		for _, e := range a.Environments {
			live := "no live release"
			if e.Live != nil {
				live = "live release " + e.Live.Name
			}
			// No tab: the hosts' columns line up under each other only.
			fmt.Fprintf(tw, "%s/%s  %s\n", a.App, e.Env, live)
			for _, h := range e.Hosts {
				fmt.Fprintln(tw, liveRow(h, e.Live))
			}
		}
	}
	tw.Flush()
}

// liveRow is a host's line: name, recorded release, live answer, health
// and verdict, such as "web-2  v7  live v6  health ok  DIFFERS".
func liveRow(h LiveHostStatus, live *release.Release) string {
	recorded := orDash(h.Recorded)
	if h.Error != "" {
		return fmt.Sprintf("  %s\t%s\tunreachable\t\tUNREACHABLE: %s", h.Name, recorded, clip(h.Error, 200))
	}
	verdict := "ok"
	switch h.Verdict {
	case release.VerdictDiffers:
		verdict = "DIFFERS"
	case release.VerdictUnhealthy:
		verdict = "UNHEALTHY"
	case release.VerdictOutOfLine:
		verdict = "OUT OF LINE: expected " + live.Name
	}
	return fmt.Sprintf("  %s\t%s\tlive %s\thealth %s\t%s", h.Name, recorded, orDash(h.Current), clip(h.Health, 60), verdict)
}
