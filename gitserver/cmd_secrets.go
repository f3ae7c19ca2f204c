package gitserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/slipwayhq/slipway/audit"
	"github.com/slipwayhq/slipway/internal/textclean"
	"github.com/slipwayhq/slipway/secrets"
)

// maxSecretBytes bounds a secret value read from stdin.
const maxSecretBytes = 64 << 10

// secrets handles `secrets set|list|unset APP ENV ...`: values arrive on
// stdin or as NAME=VALUE pairs and are never shown or logged.
func (c *command) secrets(ctx context.Context, stdin io.Reader, args []string) int {
	usage := func() int {
		return c.usageError("secrets")
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
