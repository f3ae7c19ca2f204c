package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/release/host"
	"github.com/slipwayhq/slipway/release/transport"
	"github.com/slipwayhq/slipway/release/transport/openssh"
)

type checkCommand struct{}

// errHostsFailed means the configuration is valid but hosts are not ready.
var errHostsFailed = errors.New("some hosts are not ready for deploys")

func (c *checkCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("slipway check", flag.ContinueOnError)
	fs.Usage = c.Usage
	path := fs.String("config", "", "configuration file (default ./slipway.toml, else the built-in default)")
	offline := fs.Bool("offline", false, "only validate the configuration; do not connect to hosts")
	if err := parseFlags(fs, args); err != nil {
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
	listen := cfg.Listen
	if listen == "" {
		listen = "nowhere (no SSH server)"
	}
	fmt.Printf("%s: ok\n  listen %s, data in %s, %d users\n", name, listen, cfg.DataDir, len(cfg.Users))
	if x := cfg.External; x != nil {
		fmt.Printf("  hooks of another git server (%s) on %s\n", x.Identity, x.Socket)
	}
	for _, a := range sortedKeys(cfg.Apps) {
		app := cfg.Apps[a]
		var envs []string
		for _, e := range sortedKeys(app.Environments) {
			env := app.Environments[e]
			envs = append(envs, fmt.Sprintf("%s ← %s on %s", env.Name, env.Branch, strings.Join(env.Hosts, ",")))
		}
		fmt.Printf("  app %s: %s\n", a, strings.Join(envs, "; "))
	}
	if *offline {
		return nil
	}
	return checkHosts(ctx, cfg)
}

// checkHosts connects to every host and says whether it can take a deploy.
func checkHosts(ctx context.Context, cfg *config.Config) error {
	opt, err := sshOptions(cfg)
	if err != nil {
		return err
	}
	uses := remoteHosts(cfg)
	if len(uses) == 0 {
		return nil
	}
	fmt.Println("Hosts:")
	failed := 0
	for _, u := range uses {
		if u.Host.IsLocal() && u.Path == "" {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		var p host.Probe
		if u.Path == "" {
			// Only the app template deploys here: check the connection.
			err = openssh.New(u.Host, "/", opt).Reach(pctx)
			cancel()
			if err == nil {
				fmt.Printf("  %-12s ok  reachable; paths depend on the app\n", u.Host.Name)
				continue
			}
		} else {
			p, err = transport.New(u.Host, u.Path, transport.Options{SSH: opt}).Probe(pctx)
			cancel()
		}
		if err != nil {
			fmt.Printf("  %-12s FAILED: %v\n", u.Host.Name, err)
			failed++
			continue
		}
		var problems []string
		if !p.Writable {
			problems = append(problems, u.Path+" is not writable")
		}
		if p.Rsync == "" {
			problems = append(problems, "rsync is not installed")
		}
		status := "ok"
		if len(problems) > 0 {
			status = "FAILED: " + strings.Join(problems, "; ")
			failed++
		}
		current := p.Current
		if current == "" {
			current = "none"
		}
		fmt.Printf("  %-12s %s  path %s, %s free, current %s, %d releases using %s\n",
			u.Host.Name, status, u.Path, gib(p.FreeBytes), current, len(p.Releases), gib(p.UsedBytes))
	}
	if failed > 0 {
		return errHostsFailed
	}
	return nil
}

func gib(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d KiB", n/1024)
	}
}

func (c *checkCommand) Usage() {
	fmt.Fprintln(os.Stderr, `Usage: slipway check [--config FILE] [--offline]

Validates the configuration and says, for each problem, the file, line and
key. Then connects to every host an environment deploys to and reports
reachability, host key, write access to the path, free disk, disk used by
releases and whether rsync is installed.

Exit status 0 when all is well, 1 when a host is not ready, 2 when the
configuration is invalid.

Example:
  slipway check --config /etc/slipway/slipway.toml`)
}
