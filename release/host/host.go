// Package host is what the deploy engine knows of the machines it ships
// releases to: the Host interface every transport implements, what hosts
// report, the errors they fail with, and release names as they appear on
// disk. The transports themselves live in release/transport/...; a new one
// is a package there and one case in transport.New, and it passes
// the conformance suite in release/host/hosttest.
package host

import (
	"context"
	"io"
)

// Host is one machine a release is shipped to. Paths are relative to the
// environment's deploy path on that host: releases live in releases/vN and
// current is a relative symlink to one of them.
//
// Implementations must leave the host in a state where current points at a
// complete release, whatever step fails: uploads go to a temporary
// directory renamed into place, and Switch replaces current by rename(2).
//
// Each method that reaches a remote host does so in one session (one
// remote command; rsync's transfer counts as one), so that a deploy
// without hooks costs three per host (Open, Upload, Switch) and a
// rollback one (Switch). Values reach remote scripts as quoted positional
// parameters, never interpolated.
type Host interface {
	// Name is the host's name as configured ("local", "web-1").
	Name() string
	// Address is the host's network address without a port, what {host}
	// stands for in a health check URL ("127.0.0.1" for this machine).
	Address() string
	// Open reads what the host holds: the release current points to (""
	// for none) and the release directories, oldest first. It changes
	// nothing but removing what interrupted removals left behind.
	Open(ctx context.Context) (Info, error)
	// Upload makes releases/<rel> an exact copy of the directory src, in
	// one session: it refuses a release that exists already, reuses what
	// an interrupted upload left in the temporary directory, transfers,
	// and renames the temporary directory into place. linkDest names a
	// release already on the host whose unchanged files are hard-linked
	// instead of copied ("" for none). With changed not nil, src differs
	// from linkDest only in those paths (see Changes): the host then
	// starts from a hard-link copy of linkDest and transfers only them,
	// unless it does not hold linkDest or holds an interrupted upload;
	// then, as with changed nil, the whole tree is compared.
	Upload(ctx context.Context, src, rel, linkDest string, changed []string) (UploadStats, error)
	// Switch points current at releases/<rel> atomically and returns what
	// it pointed to before. rel "" removes current, which restores the
	// state before a first deploy. With keep > 0 it then removes the
	// oldest releases beyond keep, never rel nor the previous release. A
	// release that is not on the host is an error wrapping ErrNotOnHost,
	// and nothing changed.
	Switch(ctx context.Context, rel string, keep int) (SwitchResult, error)
	// Run runs an operator-configured shell command on the host with the
	// working directory releases/<rel> and env added to its environment.
	// Its combined output is copied to out (if not nil) as it arrives, one
	// write at a time, and none of it is kept, however much there is: to
	// mask secrets, cut long lines and keep a bounded tail, pass a
	// *lifecycle.Output.
	Run(ctx context.Context, rel, command string, env []string, out io.Writer) error
	// Attach runs command like Run, for as long as ctx lasts: when ctx
	// ends, or the connection to the host is lost, the command and every
	// process it started on the host are stopped, even one that is
	// waiting and prints nothing (a command following a log). The error
	// is nil if the command was stopped because ctx ended after it had
	// started.
	Attach(ctx context.Context, rel, command string, env []string, out io.Writer) error
	// WriteShared replaces <path>/shared/<name> with data, readable by the
	// deploy user only (0600). data travels on stdin, never in argv.
	WriteShared(ctx context.Context, name string, data []byte) error
	// Remove deletes releases/<rel>. It refuses to remove the live release.
	Remove(ctx context.Context, rel string) error
	// Probe inspects the deploy path for `slipway check`, changing
	// nothing but creating it.
	Probe(ctx context.Context) (Probe, error)
	// Close releases what the host holds for this deploy. A connection
	// the daemon keeps warm for the next deploy stays open.
	Close() error
}

// Info is what Open learns about a host.
type Info struct {
	Current  string   // release current points to, "" for none
	Releases []string // release directories, oldest first
}

// SwitchResult is what a switch found and left.
type SwitchResult struct {
	Previous string   // release current pointed to before, "" for none
	Removed  []string // releases pruned beyond keep, oldest first
	Releases []string // release directories left, oldest first
}

// Probe is what `slipway check` reports about a host.
type Probe struct {
	Writable  bool
	FreeBytes int64
	Rsync     string // path of rsync on the host, "" if missing
	Current   string
	Releases  []string
	UsedBytes int64 // disk used by releases/
}

// Prune removes the oldest of rels (oldest first) until keep remain,
// never live nor prev, and returns what it removed. A release remove
// fails on is skipped for the next one. keep below 1 removes nothing.
func Prune(rels []string, keep int, live, prev string, remove func(string) error) []string {
	if keep < 1 {
		return nil
	}
	var removed []string
	extra := len(rels) - keep
	for _, r := range rels {
		if extra <= 0 {
			break
		}
		if r == live || r == prev || remove(r) != nil {
			continue
		}
		removed = append(removed, r)
		extra--
	}
	return removed
}

// UploadStats says what an upload moved.
type UploadStats struct {
	Files     int   // files created or changed on the host
	BytesSent int64 // bytes that crossed the wire (or were copied locally)
	// From is the release the new one was copied from, with only the
	// changed paths sent; "" when the whole tree was compared.
	From string
}
