// Package transport chooses how the engine reaches each configured host.
// Every transport is a package below this one implementing host.Host; a
// new one adds a case to New and passes release/host/hosttest.
package transport

import (
	"context"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/release/host"
	"github.com/slipwayhq/slipway/release/transport/local"
	"github.com/slipwayhq/slipway/release/transport/openssh"
)

// Options are what the transports need from the daemon.
type Options struct {
	// Procs starts every process a transport runs (rsync, ssh, cp), so
	// that a restart after a crash can stop them; nil starts them as
	// they are.
	Procs host.Procs
	// SSH is how remote hosts are reached; its Procs is set from Procs.
	SSH openssh.Options
}

// New returns the host h as the environment deploying under path sees it.
func New(h *config.Host, path string, opt Options) host.Host {
	switch {
	case h.IsLocal():
		return local.New(path, opt.Procs)
	default:
		ssh := opt.SSH
		ssh.Procs = opt.Procs
		return openssh.New(h, path, ssh)
	}
}

// Connector returns the Engine.Connect that reaches the hosts of the
// configuration in force.
func Connector(cfg func() *config.Config, opt Options) func(context.Context, *config.Environment, string) (host.Host, error) {
	return func(ctx context.Context, env *config.Environment, name string) (host.Host, error) {
		h := cfg().Host(name)
		return New(h, env.PathOn(h), opt), nil
	}
}
