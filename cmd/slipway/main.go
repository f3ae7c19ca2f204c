// Command slipway is a git-native push-to-deploy server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/slipwayhq/slipway/config"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2 // bad usage or configuration
)

// command is one subcommand. Run gets the arguments after its name.
type command interface {
	Run(ctx context.Context, args []string) error
	Usage()
}

func commands() map[string]command {
	return map[string]command{
		"serve":   &serveCommand{},
		"init":    &initCommand{},
		"check":   &checkCommand{},
		"version": &versionCommand{},
		"hook":    &hookCommand{},
		"pubkey":  &pubkeyCommand{},
		"trust":   &trustCommand{},

		"install-hook": &installHookCommand{},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal asks for a graceful stop (running deploys finish);
	// a second one kills at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stderr))
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "Error: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
	err := cmd.Run(ctx, args[1:])
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	var ue *usageError
	var ce config.Errors
	var cerr *config.Error
	switch {
	case errors.As(err, &ue):
		if !ue.shown {
			fmt.Fprintf(stderr, "Error: %s\n", ue.msg)
			cmd.Usage()
		}
		return exitUsage
	case errors.As(err, &ce), errors.As(err, &cerr):
		fmt.Fprintf(stderr, "Error: the configuration has problems:\n%v\nTry: slipway check --config FILE after fixing them\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return exitFailure
	}
}

// usageError is bad command-line usage (exit status 2). shown means the
// usage text was printed already.
type usageError struct {
	msg   string
	shown bool
}

// parseFlags parses args, turning flag errors into usage errors; the flag
// package has printed the message and the usage by then.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(os.Stderr)
	err := fs.Parse(args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return &usageError{msg: err.Error(), shown: true}
}

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{msg: fmt.Sprintf(format, args...)} }

func usage(w io.Writer) {
	fmt.Fprint(w, `slipway is a git-native push-to-deploy server.

Usage:
  slipway <command> [arguments]

Commands:
  serve     run the SSH server that deploys on git push
  init      write a commented example configuration
  check     validate a configuration and probe every host
  pubkey    print Slipway's SSH key for the hosts' authorized_keys
  trust     record the SSH host keys of the hosts
  install-hook  deploy from a repository that another git server serves
  version   print the version

Run "slipway <command> -h" for a command's options.
Exit status: 0 success, 1 failure, 2 bad usage or configuration.
`)
}

// loadConfig reads path, or ./slipway.toml when path is "" and it exists,
// or else returns the embedded default (embedded is then true).
func loadConfig(path string) (cfg *config.Config, embedded bool, err error) {
	if path == "" {
		if _, err := os.Stat("slipway.toml"); err == nil {
			path = "slipway.toml"
		}
	}
	if path == "" {
		cfg, err := config.Default()
		return cfg, true, err
	}
	cfg, err = config.Load(path)
	return cfg, false, err
}
