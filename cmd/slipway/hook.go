package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/slipwayhq/slipway/gitserver"
)

// hookCommand is run by git, not by people: `slipway hook proc-receive`
// relays a push to the daemon that started git. With --socket and --app
// (the hook slipway install-hook writes into a repository another git
// server serves) it relays to the daemon's external socket instead.
type hookCommand struct{}

func (c *hookCommand) Run(ctx context.Context, args []string) error {
	if len(args) < 1 || args[0] != "proc-receive" {
		return usagef("unknown hook %q", args)
	}
	fs := flag.NewFlagSet("slipway hook proc-receive", flag.ContinueOnError)
	fs.Usage = c.Usage
	socket := fs.String("socket", "", "the daemon's external socket")
	app := fs.String("app", "", "the app this repository deploys")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if *socket != "" || *app != "" {
		if *socket == "" || *app == "" {
			return usagef("--socket and --app go together")
		}
		return gitserver.RunExternalProcReceive(os.Stdin, os.Stdout, os.Stderr, *socket, *app, os.Getenv("GIT_DIR"), os.Getenv)
	}
	socketEnv, token := os.Getenv("SLIPWAY_HOOK_SOCKET"), os.Getenv("SLIPWAY_PUSH_TOKEN")
	if socketEnv == "" || token == "" {
		return usagef("slipway hook is run by git inside slipway serve, not by hand")
	}
	return gitserver.RunProcReceive(os.Stdin, os.Stdout, os.Stderr, socketEnv, token)
}

func (c *hookCommand) Usage() {
	fmt.Fprintln(os.Stderr, `Usage: slipway hook proc-receive [--socket PATH --app NAME]

Run by git during a push; relays the push to slipway serve. The form with
--socket and --app is the hook slipway install-hook writes into a
repository that another git server serves.`)
}
