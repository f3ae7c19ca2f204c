package gitserver

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/slipwayhq/slipway/internal/textclean"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/gliderlabs/ssh"

	"github.com/slipwayhq/slipway/audit"
	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/release"
	"github.com/slipwayhq/slipway/secrets"
)

// Exit statuses of the commands users run over ssh.
const (
	exitOK      = 0
	exitFailed  = 1 // what was asked about failed (a rollback, a host out of line)
	exitUsage   = 2
	maxArgBytes = 256
)

const helpText = `Slipway commands (ssh -p PORT git@HOST <command>):
  status [APP] [--json]                       what runs where, deploys in progress
  status --live [APP] [--timeout D] [--json]  ask every host now: current and health check;
                                              exit 1 if a host differs from the record,
                                              is unhealthy or does not answer
  releases [APP] [--env ENV] [-n N] [--json]  release history, newest first
  log [APP] [-n N] [--json]                   audit log: pushes, deploys, refusals
  logs APP ENV [--host H] [-n N] [-f]         the app's log lines from each host (its logs
                                              command); -f follows until you hang up
  rollback APP ENV [vN] [--force]             make an earlier release live again
                                              (default: the previous live release)
  approve APP ENV vN                          let a staged release go live (not its pusher)
  reject APP ENV vN [--reason TEXT]           drop a staged release
  lock APP ENV --reason TEXT                  refuse deploys and promotions (not rollbacks)
  unlock APP ENV                              let deploys resume
  secrets set APP ENV NAME                    set a secret; the value is read from stdin
  secrets list APP ENV                        secret names (never values)
  secrets unset APP ENV NAME                  remove a secret
` + cacheHelp + artifactHelp + `  whoami                                      your user and key
  version                                     the server's version
  help                                        this text

With git:
  git push deploy <branch>                    deploy the environment fed by <branch>
  git push deploy +v41:rollback[/ENV]         roll back to v41 (-o force for a release
                                              that never went live)
  git push deploy v41:<branch>                promote release v41 to <branch>'s environment
  git fetch deploy --tags 'refs/notes/*:refs/notes/*'; git log --notes=slipway
`

// command is one parsed ssh command.
type command struct {
	s    *Server
	id   identity
	out  io.Writer
	errw io.Writer
	// keys, when the client asked for a terminal (ssh -t), is what the
	// user types: Ctrl-C arrives there as a byte, not as a signal.
	keys io.Reader
}

// runCommand runs a human command and returns its exit status.
func (s *Server) runCommand(sess ssh.Session, id identity, args []string) int {
	if _, _, tty := sess.Pty(); tty {
		return s.commandOn(sess.Context(), id, args, sess, sess, sess.Stderr(), sess)
	}
	return s.command(sess.Context(), id, args, sess, sess, sess.Stderr())
}

// command runs the command args for id; stdin carries a secret's value.
func (s *Server) command(ctx context.Context, id identity, args []string, stdin io.Reader, out, errw io.Writer) int {
	return s.commandOn(ctx, id, args, stdin, out, errw, nil)
}

// commandOn is command for a client with a terminal, whose keys are read
// from keys (nil for none).
func (s *Server) commandOn(ctx context.Context, id identity, args []string, stdin io.Reader, out, errw io.Writer, keys io.Reader) int {
	c := &command{s: s, id: id, out: out, errw: errw, keys: keys}
	for i, a := range args {
		if len(a) > maxArgBytes || strings.ContainsFunc(a, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			if args[0] == "secrets" {
				// It may be a secret's value: never repeat it.
				fmt.Fprintf(c.errw, "slipway: argument %d is too long or has control characters; a long value goes on stdin: secrets set APP ENV NAME < file\n", i)
			} else {
				fmt.Fprintf(c.errw, "slipway: argument %q is too long or has control characters\n", textclean.Line(a, 80))
			}
			return exitUsage
		}
	}
	switch args[0] {
	case "help":
		io.WriteString(c.out, helpText)
		return exitOK
	case "version":
		fmt.Fprintf(c.out, "slipway %s\n", s.Version)
		return exitOK
	case "whoami":
		return c.whoami()
	case "status":
		return c.status(ctx, args[1:])
	case "logs":
		return c.logs(ctx, args[1:])
	case "releases":
		return c.releases(args[1:])
	case "log":
		return c.log(args[1:])
	case "rollback":
		return c.rollback(ctx, args[1:])
	case "secrets":
		return c.secrets(stdin, args[1:])
	case "approve":
		return c.approve(args[1:])
	case "reject":
		return c.reject(args[1:])
	case "lock":
		return c.lock(args[1:])
	case "unlock":
		return c.unlock(args[1:])
	case "cache":
		return c.cache(args[1:])
	case "artifact":
		return c.artifact(stdin, args[1:])
	default:
		fmt.Fprintf(c.errw, "slipway: unknown command %q; try: help\n", textclean.Line(args[0], 80))
		return exitUsage
	}
}

// parse parses flags that may come before or after positional arguments.
func (c *command) parse(fs *flag.FlagSet, args []string, maxPos int) ([]string, bool) {
	fs.SetOutput(c.errw)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, false
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) > maxPos {
		fmt.Fprintf(c.errw, "slipway: %s: unexpected argument %q\n", fs.Name(), textclean.Line(pos[maxPos], 80))
		return nil, false
	}
	return pos, true
}

// apps returns the apps a command covers: the one named, or every app
// that is configured or has a repository.
func (c *command) apps(name string) ([]string, bool) {
	cfg := c.s.Config()
	if name != "" {
		if _, ok := cfg.App(name); !ok || !config.ValidName(name) {
			fmt.Fprintf(c.errw, "slipway: no app %q\n", textclean.Line(name, 80))
			return nil, false
		}
		return []string{name}, true
	}
	seen := map[string]bool{}
	for a := range cfg.Apps {
		if a != config.TemplateApp {
			seen[a] = true
		}
	}
	repos, _ := filepath.Glob(filepath.Join(c.s.DataDir, "repos", "*.git"))
	for _, r := range repos {
		a := strings.TrimSuffix(filepath.Base(r), ".git")
		if _, ok := cfg.App(a); ok {
			seen[a] = true
		}
	}
	var out []string
	for a := range seen {
		out = append(out, a)
	}
	sort.Strings(out)
	return out, true
}

// history reads an app's releases; an app never pushed has none. It
// waits for the bookkeeping of deploys that gave their verdict already
// (notes, host state), so status, releases and rollback read what they
// wrote.
func (c *command) history(app string) ([]*release.Release, error) {
	c.s.Engine.Wait(app, "")
	repo := c.s.repoDir(app)
	if _, err := os.Stat(repo); err != nil {
		return nil, nil
	}
	return release.History(context.Background(), repo)
}

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

func (c *command) status(ctx context.Context, args []string) int {
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

func (c *command) releases(args []string) int {
	fs := flag.NewFlagSet("releases", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	envName := fs.String("env", "", "only this environment")
	n := fs.Int("n", 20, "at most this many releases")
	pos, ok := c.parse(fs, args, 1)
	if !ok {
		return exitUsage
	}
	apps, ok := c.apps(first(pos))
	if !ok {
		return exitUsage
	}
	type appReleases struct {
		App      string              `json:"app"`
		Releases []*release.Release  `json:"releases"`
		OnHosts  map[string][]string `json:"on_hosts"` // release → hosts that still have it
	}
	var all []appReleases
	for _, name := range apps {
		rels, err := c.history(name)
		if err != nil {
			fmt.Fprintf(c.errw, "slipway: cannot read the history of %s\n", name)
			return exitFailed
		}
		ar := appReleases{App: name, Releases: []*release.Release{}, OnHosts: map[string][]string{}}
		app, _ := c.s.Config().App(name)
		for env := range app.Environments {
			if st, err := c.s.Engine.State(name, env); err == nil {
				for host, hs := range st.Hosts {
					for _, r := range hs.Releases {
						ar.OnHosts[r] = append(ar.OnHosts[r], host)
					}
				}
			}
		}
		for _, hosts := range ar.OnHosts {
			sort.Strings(hosts)
		}
		for _, r := range rels {
			if *envName != "" && r.Env != *envName {
				continue
			}
			if *n > 0 && len(ar.Releases) >= *n {
				break
			}
			ar.Releases = append(ar.Releases, r)
		}
		all = append(all, ar)
	}
	if *asJSON {
		c.writeJSON(map[string]any{"apps": all})
		return exitOK
	}
	// Columns sized so that a row fits 100 columns with typical names.
	tw := tabwriter.NewWriter(c.out, 0, 4, 1, ' ', 0)
	fmt.Fprintln(tw, "APP\tRELEASE\tENV\tCOMMIT\tFROM\tSUBJECT\tBY\tWHEN\tTOOK\tOUTCOME\tON HOSTS")
	for _, ar := range all {
		for _, r := range ar.Releases {
			outcome := r.Outcome
			if r.Reason != "" && (r.Outcome == release.OutcomeFailed || r.Outcome == release.OutcomeRolledBack) {
				outcome += ": " + r.Reason
			}
			from := "git"
			if r.Artifact != "" {
				// Enough of the checksum to compare with sha256sum's.
				sum := strings.TrimPrefix(r.Artifact, "sha256:")
				from = "artifact:" + sum[:min(8, len(sum))]
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", clip(ar.App, 10), r.Name, clip(r.Env, 10), shortID(r.Commit), from, clip(r.Subject, 16),
				clip(r.User, 8), r.Time.UTC().Format("01-02 15:04"), orDash(r.Duration), clip(outcome, 20), clip(orDash(strings.Join(ar.OnHosts[r.Name], ",")), 12))
		}
	}
	tw.Flush()
	return exitOK
}

func (c *command) log(args []string) int {
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
	c.s.Engine.Wait(app, "") // the records of deploys that gave their verdict
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

func (c *command) rollback(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("rollback", flag.ContinueOnError)
	force := fs.Bool("force", false, "allow a release that never went live")
	pos, ok := c.parse(fs, args, 3)
	if !ok {
		return exitUsage
	}
	if len(pos) < 2 {
		fmt.Fprintln(c.errw, "slipway: usage: rollback APP ENV [vN] [--force]")
		return exitUsage
	}
	apps, ok := c.apps(pos[0])
	if !ok {
		return exitUsage
	}
	app, _ := c.s.Config().App(apps[0])
	env, ok := app.Environment(pos[1])
	if !ok {
		fmt.Fprintf(c.errw, "slipway: %s has no environment %q\n", app.Name, textclean.Line(pos[1], 80))
		return exitUsage
	}
	rels, err := c.history(app.Name)
	if err != nil {
		fmt.Fprintln(c.errw, "slipway: cannot read the release history")
		return exitFailed
	}
	var target *release.Release
	if len(pos) == 3 {
		for _, r := range rels {
			if r.Name == pos[2] {
				target = r
			}
		}
		if target == nil {
			fmt.Fprintf(c.errw, "slipway: %s has no release %q\n", app.Name, textclean.Line(pos[2], 80))
			return exitUsage
		}
	} else if target, err = release.PreviousLive(rels, env.Name); err != nil {
		fmt.Fprintf(c.errw, "slipway: %v\n", err)
		return exitFailed
	}
	if !c.mayDeploy(app, env, "rollback") {
		return exitFailed
	}
	p := &pushSession{identity: c.id, App: app.Name, Repo: c.s.repoDir(app.Name)}
	out := &sessionWriter{w: c.out}
	// Like a push, the rollback belongs to the daemon once started.
	var r RefResult
	c.s.daemonWork(func() {
		r = c.s.deploy(c.s.ctx, viaSSH, p, app, env, RefCommand{Ref: "refs/heads/" + env.Branch}, target.Commit, target.Name, *force, nil, out)
	})
	if r.Error != "" {
		c.s.audit(audit.Record{Event: audit.EventRefused, User: c.id.User, Key: c.id.Key, App: app.Name, Env: env.Name, Release: target.Name, Detail: "rollback: " + r.Error})
		fmt.Fprintf(c.errw, "slipway: %s\n", r.Error)
		return exitFailed
	}
	c.s.audit(audit.Record{Event: audit.EventCommand, User: c.id.User, Key: c.id.Key, App: app.Name, Env: env.Name, Release: target.Name, Detail: "rollback"})
	return exitOK
}

// sessionWriter drops output once the user has gone, so that the work
// goes on.
type sessionWriter struct {
	mu   sync.Mutex
	w    io.Writer
	dead bool
}

func (w *sessionWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.dead {
		if _, err := w.w.Write(p); err != nil {
			w.dead = true
		}
	}
	return len(p), nil
}

func (c *command) writeJSON(v any) {
	enc := json.NewEncoder(c.out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil && !errors.Is(err, io.EOF) {
		c.s.Log.Debug().Err(err).Msg("write JSON")
	}
}

func sortedEnvs(app *config.App) []string {
	var names []string
	for n := range app.Environments {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func shortID(oid string) string {
	if len(oid) > 7 {
		return oid[:7]
	}
	return oid
}

// clip shortens text for a table column to n runes and an ellipsis;
// pusher-controlled text is cleaned first.
func clip(s string, n int) string {
	return textclean.Line(s, n+1)
}

// maxSecretBytes bounds a secret value read from stdin.
const maxSecretBytes = 64 << 10

func (c *command) secrets(stdin io.Reader, args []string) int {
	usage := func() int {
		fmt.Fprintln(c.errw, "slipway: usage: secrets set APP ENV NAME < value | secrets set APP ENV NAME=VALUE... | secrets list APP ENV | secrets unset APP ENV NAME")
		return exitUsage
	}
	if len(args) < 3 {
		return usage()
	}
	verb, appName, envName := args[0], args[1], args[2]
	if verb != "set" && verb != "list" && verb != "unset" {
		return usage()
	}
	var setName string
	var pairs map[string]string
	if verb == "set" {
		var err error
		if setName, pairs, err = secretSetArgs(args[3:]); err != nil {
			fmt.Fprintf(c.errw, "slipway: %v\n", err)
			return exitUsage
		}
	}
	if _, ok := c.apps(appName); !ok {
		return exitUsage
	}
	app, _ := c.s.Config().App(appName)
	if _, ok := app.Environment(envName); !ok {
		fmt.Fprintf(c.errw, "slipway: %s has no environment %q\n", app.Name, textclean.Line(envName, 80))
		return exitUsage
	}
	if env, _ := app.Environment(envName); !c.mayDeploy(app, env, "secrets "+verb) {
		return exitFailed
	}
	store := c.s.Engine.Secrets
	if store == nil {
		fmt.Fprintln(c.errw, "slipway: this server keeps no secrets")
		return exitFailed
	}
	record := func(detail string) {
		c.s.audit(audit.Record{Event: audit.EventSecrets, User: c.id.User, Key: c.id.Key, App: app.Name, Env: envName, Detail: detail})
	}
	switch {
	case verb == "list" && len(args) == 3:
		names, err := store.Names(app.Name, envName)
		if err != nil {
			fmt.Fprintln(c.errw, "slipway: cannot read the secrets; the server log has details")
			c.s.Log.Error().Err(err).Msg("read secrets")
			return exitFailed
		}
		for _, n := range names {
			fmt.Fprintln(c.out, n)
		}
		return exitOK
	case verb == "set" && pairs != nil:
		if err := store.SetAll(app.Name, envName, pairs); err != nil {
			fmt.Fprintln(c.errw, "slipway: cannot store the secrets; the server log has details")
			c.s.Log.Error().Err(err).Msg("store secrets")
			return exitFailed
		}
		names := sortedKeys(pairs)
		record("set " + strings.Join(names, " "))
		fmt.Fprintf(c.out, "%s set for %s/%s; they reach hooks from the next deploy on\n", strings.Join(names, ", "), app.Name, envName)
		return exitOK
	case verb == "set":
		name := setName
		if !secrets.ValidName(name) {
			fmt.Fprintf(c.errw, "slipway: %v\n", secrets.ErrBadName)
			return exitUsage
		}
		data, err := io.ReadAll(io.LimitReader(stdin, maxSecretBytes+1))
		if err != nil || len(data) > maxSecretBytes {
			fmt.Fprintf(c.errw, "slipway: the value must come on stdin and be at most %d bytes\n", maxSecretBytes)
			return exitUsage
		}
		value := strings.TrimSuffix(string(data), "\n")
		if value == "" {
			fmt.Fprintln(c.errw, "slipway: no value on stdin; try: ssh ... secrets set APP ENV NAME < file")
			return exitUsage
		}
		if err := store.Set(app.Name, envName, name, value); err != nil {
			fmt.Fprintln(c.errw, "slipway: cannot store the secret; the server log has details")
			c.s.Log.Error().Err(err).Msg("store secret")
			return exitFailed
		}
		record("set " + name)
		fmt.Fprintf(c.out, "%s set for %s/%s; it reaches hooks from the next deploy on\n", name, app.Name, envName)
		return exitOK
	case verb == "unset" && len(args) == 4:
		existed, err := store.Unset(app.Name, envName, args[3])
		if err != nil {
			fmt.Fprintln(c.errw, "slipway: cannot remove the secret; the server log has details")
			return exitFailed
		}
		if !existed {
			fmt.Fprintf(c.errw, "slipway: %s/%s has no secret %q\n", app.Name, envName, textclean.Line(args[3], 80))
			return exitFailed
		}
		record("unset " + args[3])
		fmt.Fprintf(c.out, "%s removed from %s/%s\n", args[3], app.Name, envName)
		return exitOK
	default:
		return usage()
	}
}

// errValueArgument is a secret's value typed on the command line.
var errValueArgument = errors.New("secrets set reads the value from stdin, never from the command line, " +
	"where shell history and process lists keep it; nothing was stored. " +
	"Try: ssh ... secrets set APP ENV NAME < file, and remove the value from your shell history")

// mayDeploy says whether the user may change env (deploy, roll back, lock,
// manage its secrets or cache); if not, it tells them why and audits the
// refusal of what.
func (c *command) mayDeploy(app *config.App, env *config.Environment, what string) bool {
	msg := deployRefusal(c.s.Config(), c.id.User, env)
	if msg == "" {
		return true
	}
	c.s.audit(audit.Record{Event: audit.EventRefused, User: c.id.User, Key: c.id.Key, App: app.Name, Env: env.Name, Detail: what + ": permission denied"})
	fmt.Fprintf(c.errw, "slipway: %s\n", msg)
	return false
}

// secretSetArgs reads the arguments of secrets set after APP ENV: one
// NAME, whose value comes on stdin, or NAME=VALUE pairs, as Heroku and
// Dokku take them. A word after NAME that is not a pair is a value typed
// as an argument: it is refused. No value is ever echoed or logged; the
// server log shows pairs as NAME=*** (loggedCommand).
func secretSetArgs(args []string) (name string, pairs map[string]string, err error) {
	if len(args) == 0 {
		return "", nil, errors.New("usage: secrets set APP ENV NAME < value, or secrets set APP ENV NAME=VALUE [NAME=VALUE]")
	}
	if !strings.Contains(args[0], "=") {
		if len(args) > 1 {
			return "", nil, errValueArgument
		}
		return args[0], nil, nil
	}
	pairs = make(map[string]string, len(args))
	for i, a := range args {
		n, v, ok := strings.Cut(a, "=")
		switch {
		case !ok:
			return "", nil, errValueArgument
		case !secrets.ValidName(n):
			return "", nil, fmt.Errorf("pair %d: %v; nothing was stored", i+1, secrets.ErrBadName)
		case v == "":
			return "", nil, fmt.Errorf("%s= has no value; nothing was stored (secrets unset APP ENV %s removes a secret)", n, n)
		}
		if _, dup := pairs[n]; dup {
			return "", nil, fmt.Errorf("%s is given twice; nothing was stored", n)
		}
		pairs[n] = v
	}
	return "", pairs, nil
}

func (c *command) whoami() int {
	cfg := c.s.Config()
	fmt.Fprintf(c.out, "user:   %s\nrole:   %s\nkey:    %s\n", c.id.User, roleOf(cfg, c.id.User), c.id.Key)
	var can []string
	for _, a := range sortedKeys(cfg.Apps) {
		app := cfg.Apps[a]
		name := a
		if a == config.TemplateApp {
			name = "every other app"
		}
		for _, e := range sortedEnvs(app) {
			if cfg.CanDeploy(c.id.User, app.Environments[e]) {
				can = append(can, name+"/"+e)
			}
		}
	}
	push := "no"
	if cfg.CanPush(c.id.User) {
		push = "yes"
	}
	fmt.Fprintf(c.out, "read:   every app (clone, fetch, status, status --live, releases, log, logs)\npush:   %s\ndeploy: %s\n", push, orDash(strings.Join(can, ", ")))
	return exitOK
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// target resolves APP ENV from a command's arguments.
func (c *command) target(pos []string) (*config.App, *config.Environment, bool) {
	apps, ok := c.apps(pos[0])
	if !ok {
		return nil, nil, false
	}
	app, _ := c.s.Config().App(apps[0])
	env, ok := app.Environment(pos[1])
	if !ok {
		fmt.Fprintf(c.errw, "slipway: %s has no environment %q\n", app.Name, textclean.Line(pos[1], 80))
		return nil, nil, false
	}
	return app, env, true
}

func (c *command) approve(args []string) int {
	fs := flag.NewFlagSet("approve", flag.ContinueOnError)
	pos, ok := c.parse(fs, args, 3)
	if !ok || len(pos) != 3 {
		fmt.Fprintln(c.errw, "slipway: usage: approve APP ENV vN")
		return exitUsage
	}
	app, env, ok := c.target(pos)
	if !ok {
		return exitUsage
	}
	out := &sessionWriter{w: c.out}
	// Like a push, the deploy belongs to the daemon once approved.
	var err error
	c.s.daemonWork(func() {
		_, err = c.s.Engine.Approve(c.s.ctx, release.ApprovalRequest{
			Config: c.s.Config(), App: app, Env: env, Repo: c.s.repoDir(app.Name), Release: pos[2], User: c.id.User, Key: c.id.Key,
		}, out)
	})
	if err == nil {
		return exitOK
	}
	r := explain(err, viaSSH, explainTarget{App: app.Name, Env: env.Name, Branch: env.Branch})
	if errors.Is(err, release.ErrNotApprover) || errors.Is(err, release.ErrNoPending) {
		c.s.audit(audit.Record{Event: audit.EventRefused, User: c.id.User, Key: c.id.Key, App: app.Name, Env: env.Name, Release: pos[2], Detail: "approve: " + err.Error()})
	}
	c.refuse(err, r)
	return exitFailed
}

func (c *command) reject(args []string) int {
	fs := flag.NewFlagSet("reject", flag.ContinueOnError)
	reason := fs.String("reason", "no reason given", "why the release is dropped")
	pos, ok := c.parse(fs, args, 3)
	if !ok || len(pos) != 3 {
		fmt.Fprintln(c.errw, "slipway: usage: reject APP ENV vN [--reason TEXT]")
		return exitUsage
	}
	app, env, ok := c.target(pos)
	if !ok {
		return exitUsage
	}
	if msg := deployRefusal(c.s.Config(), c.id.User, env); msg != "" && !c.s.Config().CanApprove(c.id.User, "", env) {
		fmt.Fprintf(c.errw, "slipway: %s\n", msg)
		return exitFailed
	}
	err := c.s.Engine.Reject(c.s.ctx, release.ApprovalRequest{
		Config: c.s.Config(), App: app, Env: env, Repo: c.s.repoDir(app.Name), Release: pos[2], User: c.id.User, Key: c.id.Key,
		Reason: textclean.Line(*reason, 200),
	})
	if err != nil {
		r := explain(err, viaSSH, explainTarget{App: app.Name, Env: env.Name, Branch: env.Branch})
		if errors.Is(err, release.ErrLiveRelease) {
			c.s.audit(audit.Record{Event: audit.EventRefused, User: c.id.User, Key: c.id.Key, App: app.Name, Env: env.Name, Release: pos[2], Detail: "reject: " + err.Error()})
		}
		c.refuse(err, r)
		return exitFailed
	}
	fmt.Fprintf(c.out, "%s of %s/%s rejected and removed from the hosts\n", pos[2], app.Name, env.Name)
	return exitOK
}
