package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"

	"github.com/slipwayhq/slipway/config"
)

type initCommand struct{}

func (c *initCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("slipway init", flag.ContinueOnError)
	fs.Usage = c.Usage
	path := fs.String("config", "slipway.toml", "where to write the configuration")
	force := fs.Bool("force", false, "overwrite an existing file")
	dataDir := fs.String("data-dir", "", "set data_dir in the written file (default: slipway-data beside it)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	text := config.Example()
	if *dataDir != "" {
		var err error
		if text, err = config.ExampleWithDataDir(*dataDir); err != nil {
			return usagef("%v", err)
		}
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if *force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(*path, flags, 0o600)
	if errors.Is(err, errExist) {
		return fmt.Errorf("%s already exists; use --force to overwrite it", *path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(text); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("Wrote %s. Edit it (users, apps, hosts), then:\n  slipway check --config %s\n  slipway serve --config %s\n", *path, *path, *path)
	return nil
}

var errExist = fs.ErrExist

func (c *initCommand) Usage() {
	fmt.Fprintln(os.Stderr, `Usage: slipway init [--config FILE] [--data-dir DIR] [--force]

Writes a commented example configuration (default ./slipway.toml).

Examples:
  slipway init && $EDITOR slipway.toml && slipway check
  slipway init --config /etc/slipway/slipway.toml --data-dir /var/lib/slipway`)
}
