package gitserver

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/slipwayhq/slipway/release"
)

// Status is the JSON form of `status`.
type Status struct {
	Apps []AppStatus `json:"apps"`
}

// AppStatus is one app in Status.
type AppStatus struct {
	App          string      `json:"app"`
	Environments []EnvStatus `json:"environments"`
}

// EnvStatus is one environment: its live release, its hosts and any
// deploy in progress.
type EnvStatus struct {
	Env    string           `json:"env"`
	Branch string           `json:"branch"`
	Live   *release.Release `json:"live"`
	Hosts  []HostStatus     `json:"hosts"`
	Deploy *DeployStatus    `json:"deploy"`
	// Pending is a release staged and waiting for approval.
	Pending *release.Pending `json:"pending"`
	// Problems are files of the environment that could not be read, one
	// sentence each naming the file and what to do.
	Problems []string `json:"problems,omitempty"`
	// Lock is set while deploys are refused (lock APP ENV).
	Lock *release.Freeze `json:"lock"`
}

// HostStatus is a host as last seen.
type HostStatus struct {
	Name     string    `json:"name"`
	Current  string    `json:"current"`
	Health   string    `json:"health"`
	Seen     time.Time `json:"seen,omitzero"`
	InLine   bool      `json:"in_line"` // runs the live release
	Releases []string  `json:"releases,omitempty"`
}

// DeployStatus is a deploy holding the environment's lock.
type DeployStatus struct {
	User    string    `json:"user"`
	Release string    `json:"release"`
	Since   time.Time `json:"since"`
	Phase   string    `json:"phase"` // export, build, upload, migrate, wave 2/3, watch, rollback
}

// status handles `status [APP] [--json]`, what runs where as recorded,
// and `status --live`, which asks the hosts now (cmd_live.go).
func (c *command) status(ctx context.Context, stdin io.Reader, args []string) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	live := fs.Bool("live", false, "ask every host now instead of showing the record")
	timeout := fs.Duration("timeout", release.DefaultLiveTimeout, "with --live: how long each host has to answer")
	pos, ok := c.parse(fs, args, 1)
	if !ok {
		return exitUsage
	}
	if *timeout <= 0 || *timeout > maxLiveTimeout {
		fmt.Fprintf(c.errw, "slipway: status: --timeout must be more than 0 and at most %s\n", maxLiveTimeout)
		return exitUsage
	}
	apps, ok := c.apps(first(pos))
	if !ok {
		return exitUsage
	}
	if *live {
		return c.statusLive(ctx, apps, *timeout, *asJSON)
	}
	cfg := c.s.Config()
	locks := c.s.Engine.Locks()
	var st Status
	outOfLine := false
	for _, name := range apps {
		app, _ := cfg.App(name)
		rels, err := c.history(name)
		if err != nil {
			fmt.Fprintf(c.errw, "slipway: cannot read the history of %s; the server log has details\n", name)
			c.s.Log.Error().Err(err).Str("app", name).Msg("read history")
			return exitFailed
		}
		as := AppStatus{App: name}
		for _, envName := range sortedEnvs(app) {
			env := app.Environments[envName]
			es := EnvStatus{Env: envName, Branch: env.Branch, Live: release.LiveRelease(rels, envName), Hosts: []HostStatus{}}
			var err error
			if es.Pending, err = c.s.Engine.PendingRelease(name, envName); err != nil {
				es.Problems = append(es.Problems, err.Error())
			}
			es.Lock = c.lockStatus(name, envName)
			if l, ok := locks[name+"/"+envName]; ok {
				es.Deploy = &DeployStatus{User: l.User, Release: l.Release, Since: l.Since.UTC(), Phase: string(l.Phase)}
			}
			state, err := c.s.Engine.State(name, envName)
			unseen := "never seen"
			if err != nil {
				es.Problems = append(es.Problems, err.Error())
				unseen = "unknown"
			}
			for _, h := range env.Hosts {
				hs := HostStatus{Name: h, Current: unseen, Health: "not checked"}
				if state != nil {
					if seen, ok := state.Hosts[h]; ok {
						hs.Current, hs.Health, hs.Seen, hs.Releases = orDash(seen.Current), seen.Health, seen.Seen, seen.Releases
					}
				}
				hs.InLine = es.Live != nil && hs.Current == es.Live.Name
				if es.Live != nil && !hs.InLine {
					outOfLine = true
				}
				es.Hosts = append(es.Hosts, hs)
			}
			as.Environments = append(as.Environments, es)
		}
		st.Apps = append(st.Apps, as)
	}
	if *asJSON {
		c.writeJSON(st)
	} else {
		c.printStatus(st)
	}
	if outOfLine {
		return exitFailed
	}
	return exitOK
}

func (c *command) printStatus(st Status) {
	if len(st.Apps) == 0 {
		fmt.Fprintln(c.out, "No apps yet. Push one: git push deploy main")
		return
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	for _, a := range st.Apps {
		for _, e := range a.Environments {
			live := "no live release"
			if l := e.Live; l != nil {
				live = fmt.Sprintf("%s  %s %q by %s, %s", l.Name, shortID(l.Commit), clip(l.Subject, 30), l.User, l.LiveAt.UTC().Format("2006-01-02 15:04 MST"))
			}
			fmt.Fprintf(tw, "%s/%s\t%s\n", a.App, e.Env, live)
			for _, p := range e.Problems {
				fmt.Fprintf(tw, "  ! %s\n", p)
			}
			if f := e.Lock; f != nil {
				fmt.Fprintf(tw, "  locked\tby %s since %s: %s\n", f.User, f.Since.UTC().Format("2006-01-02 15:04 MST"), f.Reason)
			}
			if d := e.Deploy; d != nil {
				fmt.Fprintf(tw, "  deploying\t%s by %s since %s, now: %s\n", d.Release, d.User, d.Since.Format("15:04:05 MST"), orDash(d.Phase))
			}
			if p := e.Pending; p != nil {
				fmt.Fprintf(tw, "  pending\t%s by %s, staged %s, waiting for approval until %s\n", p.Release, p.User,
					p.StagedAt.Format("01-02 15:04"), p.Expires.Format("01-02 15:04 MST"))
			}
			for _, h := range e.Hosts {
				flag := ""
				if e.Live != nil && !h.InLine {
					flag = "  ! expected " + e.Live.Name
				}
				seen := ""
				if !h.Seen.IsZero() {
					seen = "seen " + h.Seen.UTC().Format("01-02 15:04")
				}
				fmt.Fprintf(tw, "  %s\t%s\thealth %s\t%s%s\n", h.Name, h.Current, clip(h.Health, 40), seen, flag)
			}
		}
	}
	tw.Flush()
}
