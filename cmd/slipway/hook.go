package main

import (
	"context"
	"fmt"
	"os"

	"github.com/slipwayhq/slipway/gitserver"
)

// hookCommand is run by git, not by people: `slipway hook proc-receive`
// relays a push to the daemon that started git.
type hookCommand struct{}

func (c *hookCommand) Run(ctx context.Context, args []string) error {
	if len(args) != 1 || args[0] != "proc-receive" {
		return usagef("unknown hook %q", args)
	}
	socket, token := os.Getenv("SLIPWAY_HOOK_SOCKET"), os.Getenv("SLIPWAY_PUSH_TOKEN")
	if socket == "" || token == "" {
		return usagef("slipway hook is run by git inside slipway serve, not by hand")
	}
	return gitserver.RunProcReceive(os.Stdin, os.Stdout, os.Stderr, socket, token)
}

func (c *hookCommand) Usage() {
	fmt.Fprintln(os.Stderr, "Usage: slipway hook proc-receive\n\nRun by git during a push; relays the push to slipway serve.")
}
