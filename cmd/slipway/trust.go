package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/slipwayhq/slipway/release/transport/openssh"
)

type trustCommand struct{}

func (c *trustCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("slipway trust", flag.ContinueOnError)
	fs.Usage = c.Usage
	path := fs.String("config", "", "configuration file (default ./slipway.toml, else the built-in default)")
	replace := fs.Bool("replace", false, "forget a host key recorded before (the host was reinstalled)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, _, err := loadConfig(*path)
	if err != nil {
		return err
	}
	opt, err := sshOptions(cfg)
	if err != nil {
		return err
	}
	uses := remoteHosts(cfg)
	if fs.NArg() > 0 {
		// Only the hosts named, and each must be one deploys use.
		byName := map[string]hostUse{}
		for _, u := range uses {
			byName[u.Host.Name] = u
		}
		uses = nil
		for _, name := range fs.Args() {
			u, ok := byName[name]
			if !ok {
				return usagef("no environment deploys to a host called %q", name)
			}
			uses = append(uses, u)
		}
	}
	failed := 0
	found := 0
	for _, u := range uses {
		if u.Host.IsLocal() {
			continue
		}
		found++
		h := openssh.New(u.Host, u.Path, opt)
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := h.Trust(tctx, *replace)
		cancel()
		if err != nil {
			fmt.Printf("%-12s FAILED: %v\n", u.Host.Name, err)
			failed++
			continue
		}
		fmt.Printf("%-12s trusted (%s)\n", u.Host.Name, u.Host.Address)
	}
	if found == 0 {
		fmt.Println("No remote hosts are configured.")
	}
	if failed > 0 {
		return fmt.Errorf("%s could not be trusted", plural(failed, "host"))
	}
	return nil
}

func (c *trustCommand) Usage() {
	fmt.Fprintln(os.Stderr, `Usage: slipway trust [--config FILE] [--replace] [HOST...]

Connects to each host (all configured hosts by default) and records its SSH
host key in the data directory's known_hosts. Deploys refuse hosts whose key
is not recorded or has changed. Use --replace after reinstalling a host.

Example:
  slipway trust web-1 web-2`)
}
