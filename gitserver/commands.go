package gitserver

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/slipwayhq/slipway/internal/textclean"

	"github.com/gliderlabs/ssh"

	"github.com/slipwayhq/slipway/audit"
	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/release"
)

// Exit statuses of the commands users run over ssh.
const (
	exitOK      = 0
	exitFailed  = 1 // what was asked about failed (a rollback, a host out of line)
	exitUsage   = 2
	maxArgBytes = 256
)

// sshCommand is one command users run over ssh. A new command is a file
// with its function and one row in sshCommands: the row feeds dispatch,
// help and the usage line of a wrong call.
type sshCommand struct {
	name  string
	usage []usage // the forms it takes, as help shows them
	// run carries the command out: args follow its name, stdin is
	// what the user sends (a secret, an artifact).
	run func(c *command, ctx context.Context, stdin io.Reader, args []string) int
}

// usage is one form of a command and what it does; what may run over
// several lines.
type usage struct {
	form, what string
}

// sshCommands are the ssh commands in the order help lists them. They are
// set in init because help, one of them, lists them all.
var sshCommands []sshCommand

func init() {
	sshCommands = []sshCommand{
		{name: "status", run: (*command).status, usage: []usage{
			{"status [APP] [--json]", "what runs where, deploys in progress"},
			{"status --live [APP] [--timeout D] [--json]", "ask every host now: current and health check;\nexit 1 if a host differs from the record,\nis unhealthy or does not answer"},
		}},
		{name: "releases", run: (*command).releases, usage: []usage{
			{"releases [APP] [--env ENV] [-n N] [--json]", "release history, newest first"},
		}},
		{name: "log", run: (*command).log, usage: []usage{
			{"log [APP] [-n N] [--json]", "audit log: pushes, deploys, refusals"},
		}},
		{name: "logs", run: (*command).logs, usage: []usage{
			{"logs APP ENV [--host H] [-n N] [-f]", "the app's log lines from each host (its logs\ncommand); -f follows until you hang up"},
		}},
		{name: "rollback", run: (*command).rollback, usage: []usage{
			{"rollback APP ENV [vN] [--force]", "make an earlier release live again\n(default: the previous live release)"},
		}},
		{name: "approve", run: (*command).approve, usage: []usage{
			{"approve APP ENV vN", "let a staged release go live (not its pusher)"},
		}},
		{name: "reject", run: (*command).reject, usage: []usage{
			{"reject APP ENV vN [--reason TEXT]", "drop a staged release"},
		}},
		{name: "lock", run: (*command).lock, usage: []usage{
			{"lock APP ENV --reason TEXT", "refuse deploys and promotions (not rollbacks)"},
		}},
		{name: "unlock", run: (*command).unlock, usage: []usage{
			{"unlock APP ENV", "let deploys resume"},
		}},
		{name: "secrets", run: (*command).secrets, usage: []usage{
			{"secrets set APP ENV NAME < VALUE", "set a secret; the value is read from stdin"},
			{"secrets set APP ENV NAME=VALUE...", "set several at once"},
			{"secrets list APP ENV", "secret names (never values)"},
			{"secrets unset APP ENV NAME", "remove a secret"},
		}},
		{name: "cache", run: (*command).cache, usage: []usage{
			{"cache clear APP ENV", "empty the build cache (SLIPWAY_CACHE_DIR)"},
		}},
		{name: "artifact", run: (*command).artifact, usage: []usage{
			{"artifact APP ENV --commit COMMIT < build.tar.gz", "deploy a tree built elsewhere (tar or tar.gz\non stdin) as a release of COMMIT"},
		}},
		{name: "whoami", run: (*command).whoami, usage: []usage{
			{"whoami", "your user and key"},
		}},
		{name: "version", run: (*command).version, usage: []usage{
			{"version", "the server's version"},
		}},
		{name: "help", run: (*command).help, usage: []usage{
			{"help", "this text"},
		}},
	}
}

// gitUsage is what help says about the git side.
const gitUsage = `
With git:
  git push deploy <branch>                    deploy the environment fed by <branch>
  git push deploy +v41:rollback[/ENV]         roll back to v41 (-o force for a release
                                              that never went live)
  git push deploy v41:<branch>                promote release v41 to <branch>'s environment
  git fetch deploy --tags 'refs/notes/*:refs/notes/*'; git log --notes=slipway
`

// helpColumn is where the description of a form starts in help.
const helpColumn = 44

// help writes every command's forms, from the table.
func (c *command) help(ctx context.Context, stdin io.Reader, args []string) int {
	io.WriteString(c.out, helpText())
	return exitOK
}

// helpText lists every command's forms, from the table, and the git side.
func helpText() string {
	var b strings.Builder
	b.WriteString("Slipway commands (ssh -p PORT git@HOST <command>):\n")
	for _, sc := range sshCommands {
		for _, u := range sc.usage {
			form := u.form
			if len(form) >= helpColumn {
				// Too long for its column: the description goes below.
				fmt.Fprintf(&b, "  %s\n", form)
				form = ""
			}
			for _, line := range strings.Split(u.what, "\n") {
				fmt.Fprintf(&b, "  %-*s%s\n", helpColumn, form, line)
				form = ""
			}
		}
	}
	b.WriteString(gitUsage)
	return b.String()
}

func (c *command) version(ctx context.Context, stdin io.Reader, args []string) int {
	fmt.Fprintf(c.out, "slipway %s\n", c.s.Version)
	return exitOK
}

// lookup returns the row of the command called name.
func lookup(name string) (sshCommand, bool) {
	for _, sc := range sshCommands {
		if sc.name == name {
			return sc, true
		}
	}
	return sshCommand{}, false
}

// usageError writes the forms of the command called name as the answer to
// a call that fits none of them, and returns exitUsage.
func (c *command) usageError(name string) int {
	sc, _ := lookup(name)
	forms := make([]string, len(sc.usage))
	for i, u := range sc.usage {
		forms[i] = u.form
	}
	fmt.Fprintf(c.errw, "slipway: usage: %s\n", strings.Join(forms, " | "))
	return exitUsage
}

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
	sc, ok := lookup(args[0])
	if !ok {
		fmt.Fprintf(c.errw, "slipway: unknown command %q; try: help\n", textclean.Line(args[0], 80))
		return exitUsage
	}
	return sc.run(c, ctx, stdin, args[1:])
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
