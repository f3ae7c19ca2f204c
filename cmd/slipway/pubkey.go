package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/slipwayhq/slipway/release/transport/openssh"
)

type pubkeyCommand struct{}

func (c *pubkeyCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("slipway pubkey", flag.ContinueOnError)
	fs.Usage = c.Usage
	path := fs.String("config", "", "configuration file (default ./slipway.toml, else the built-in default)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	cfg, _, err := loadConfig(*path)
	if err != nil {
		return err
	}
	var line string
	if cfg.SSH.Key != "" {
		line, err = openssh.AuthorizedKey(cfg.SSH.Key)
	} else {
		_, line, err = openssh.ClientKey(cfg.DataDir)
	}
	if err != nil {
		return err
	}
	fmt.Println(line)
	return nil
}

func (c *pubkeyCommand) Usage() {
	fmt.Fprintln(os.Stderr, `Usage: slipway pubkey [--config FILE]

Prints Slipway's own SSH public key (created in the data directory on first
use). Add it to ~/.ssh/authorized_keys of the deploy user on every host.

Example:
  slipway pubkey | ssh deploy@web-1 'cat >> ~/.ssh/authorized_keys'`)
}
