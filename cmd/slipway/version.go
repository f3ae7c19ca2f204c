package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

type versionCommand struct{}

func (c *versionCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("slipway version", flag.ContinueOnError)
	fs.Usage = c.Usage
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Printf("slipway %s\n", versionString())
	return nil
}

func (c *versionCommand) Usage() {
	fmt.Fprintln(os.Stderr, "Usage: slipway version\n\nPrints the version of this slipway binary.")
}
