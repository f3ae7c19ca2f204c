package web

import (
	"context"
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/slipwayhq/slipway/release"
)

// maxRecent is how many releases of each app the page lists.
const maxRecent = 10

// page is what the dashboard shows.
type page struct {
	Version string
	Now     time.Time
	Apps    []appView
}

type appView struct {
	Name     string
	Envs     []envView
	Releases []*release.Release
	Error    string
}

type envView struct {
	App, Env, Branch string
	Live             *release.Release
	Hosts            []hostView
	Deploy           *release.Lock
	Pending          *pendingView
	Run              *Run // the latest deploy's lines, running or ended
	// Checked is when the hosts were asked now (?check=APP/ENV); zero
	// when they were not. CheckNote says why a check did not run.
	Checked   time.Time
	CheckNote string
}

// pendingView is a staged release without the pusher's key fingerprint.
type pendingView struct {
	Release, User     string
	StagedAt, Expires time.Time
}

type hostView struct {
	Name, Current, Health string
	Seen                  time.Time
	InLine                bool   // runs the live release
	Recorded              string // Current as the state file has it ("" for none or never seen)
	Live                  *liveView
}

// liveView is a host's answer to a check asked for on the page.
type liveView struct {
	Verdict string // a release.Verdict* constant
	Text    string // what the cell says
}

// snapshot reads everything the page shows, as `status` and `releases` do.
func (s *Server) snapshot(ctx context.Context) page {
	p := page{Version: s.Version, Now: time.Now()}
	locks := s.Src.Engine.Locks()
	for _, app := range s.Src.apps(s.Src.Config()) {
		av := appView{Name: app.Name}
		h, err := s.Src.history(ctx, app.Name)
		if err != nil {
			s.Log.Error().Err(err).Str("app", app.Name).Msg("dashboard: read history")
			av.Error = "The history of " + app.Name + " cannot be read; the server log has details."
			h = &history{}
		}
		for _, env := range sortedEnvs(app) {
			ev := envView{App: app.Name, Env: env.Name, Branch: env.Branch, Live: release.LiveRelease(h.rels, env.Name)}
			if l, ok := locks[app.Name+"/"+env.Name]; ok {
				ev.Deploy = &l
			}
			if pr, _ := s.Src.Engine.PendingRelease(app.Name, env.Name); pr != nil {
				ev.Pending = &pendingView{Release: pr.Release, User: pr.User, StagedAt: pr.StagedAt, Expires: pr.Expires}
			}
			if r, ok := s.Hub.Last(app.Name, env.Name); ok {
				ev.Run = &r
			}
			st, _ := s.Src.Engine.State(app.Name, env.Name)
			for _, name := range env.Hosts {
				hv := hostView{Name: name, Current: "never seen", Health: "not checked"}
				if st != nil {
					if seen, ok := st.Hosts[name]; ok {
						hv.Current, hv.Health, hv.Seen, hv.Recorded = seen.Current, seen.Health, seen.Seen, seen.Current
						if hv.Current == "" {
							hv.Current = "none"
						}
					}
				}
				hv.InLine = ev.Live != nil && hv.Current == ev.Live.Name
				ev.Hosts = append(ev.Hosts, hv)
			}
			av.Envs = append(av.Envs, ev)
		}
		av.Releases = h.rels[:min(len(h.rels), maxRecent)]
		p.Apps = append(p.Apps, av)
	}
	return p
}

var funcs = template.FuncMap{
	"short": func(oid string) string { return oid[:min(len(oid), 7)] },
	"ago":   ago,
	"stamp": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"clip": func(s string, n int) string {
		if r := []rune(s); len(r) > n {
			return string(r[:n]) + "…"
		}
		return s
	},
	// outcomeClass colours an outcome: good, bad, or plain.
	"outcomeClass": func(o string) string {
		switch o {
		case release.OutcomeLive:
			return "good"
		case release.OutcomeFailed, release.OutcomeRolledBack, release.OutcomeInterrupted:
			return "bad"
		case release.OutcomePending:
			return "wait"
		}
		return "plain"
	},
	"verdictClass": func(v string) string {
		switch v {
		case release.VerdictOK:
			return "good"
		case release.VerdictOutOfLine:
			return "wait"
		}
		return "bad"
	},
	"healthClass": func(h string) string {
		switch {
		case h == "ok":
			return "good"
		case strings.HasPrefix(h, "failed"):
			return "bad"
		}
		return "plain"
	},
	"lineClass": func(l string) string {
		switch {
		case strings.Contains(l, "FAILED"):
			return "bad"
		case strings.HasPrefix(l, "deployed ") || strings.Contains(l, " rolled back to "):
			return "good"
		}
		return ""
	},
}

// ago says how long ago t was, in the largest unit that fits.
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
}
