package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

type checkCommand struct{}

func (c *checkCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("slipway check", flag.ContinueOnError)
	fs.Usage = c.Usage
	path := fs.String("config", "", "configuration file (default ./slipway.toml, else the built-in default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	cfg, embedded, err := loadConfig(*path)
	if err != nil {
		return err
	}
	name := cfg.File
	if embedded {
		name = "built-in default configuration"
	}
	var apps []string
	for a, app := range cfg.Apps {
		var envs []string
		for _, e := range app.Environments {
			envs = append(envs, fmt.Sprintf("%s ← %s on %s", e.Name, e.Branch, strings.Join(e.Hosts, ",")))
		}
		sort.Strings(envs)
		apps = append(apps, fmt.Sprintf("  %s: %s", a, strings.Join(envs, "; ")))
	}
	sort.Strings(apps)
	fmt.Printf("%s: ok\n  listen %s, data in %s, %d users\n%s\n", name, cfg.Listen, cfg.DataDir, len(cfg.Users), strings.Join(apps, "\n"))
	return nil
}

func (c *checkCommand) Usage() {
	fmt.Fprintln(os.Stderr, `Usage: slipway check [--config FILE]

Validates the configuration and says, for each problem, the file, line and key.
Exit status 0 when it is valid, 2 when it is not.

Example:
  slipway check --config /etc/slipway/slipway.toml`)
}
