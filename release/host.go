package release

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
)

// Host is one machine a release is shipped to. Paths are relative to the
// environment's deploy path on that host: releases live in releases/vN and
// current is a relative symlink to one of them.
//
// Implementations must leave the host in a state where current points at a
// complete release, whatever step fails: uploads go to a temporary
// directory renamed into place, and Switch replaces current by rename(2).
type Host interface {
	// Name is the host's name as configured ("local", "web-1").
	Name() string
	// Current returns the release that current points to, "" when there is none.
	Current(ctx context.Context) (string, error)
	// Upload makes releases/<rel> an exact copy of the directory src.
	// linkDest names a release already on the host whose unchanged files
	// are hard-linked instead of copied ("" for none). A retried upload
	// reuses what an interrupted one left in the temporary directory.
	Upload(ctx context.Context, src, rel, linkDest string) (UploadStats, error)
	// Switch points current at releases/<rel> atomically. rel "" removes
	// current, which restores the state before a first deploy.
	Switch(ctx context.Context, rel string) error
	// Run runs an operator-configured shell command on the host with the
	// working directory releases/<rel> and env added to its environment.
	// Its combined output is copied to out (if not nil) as it arrives, one
	// write at a time, and none of it is kept, however much there is: to
	// mask secrets, cut long lines and keep a bounded tail, pass a
	// *hooks.Output.
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
	// Releases lists the release directories on the host, oldest first.
	Releases(ctx context.Context) ([]string, error)
	// Remove deletes releases/<rel>. It refuses to remove the live release.
	Remove(ctx context.Context, rel string) error
	// Close releases connections held for this deploy.
	Close() error
}

// UploadStats says what an upload moved.
type UploadStats struct {
	Files     int   // files created or changed on the host
	BytesSent int64 // bytes that crossed the wire (or were copied locally)
}

var releaseName = regexp.MustCompile(`^v([1-9][0-9]{0,8})$`)

// ParseRelease returns the number of a release name such as "v42".
func ParseRelease(name string) (int, bool) {
	m := releaseName.FindStringSubmatch(name)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

// ReleaseName is the tag and directory name of release n.
func ReleaseName(n int) string { return "v" + strconv.Itoa(n) }

// HostError is a failure of one step on one host.
type HostError struct {
	Host string // host name
	Step string // "upload", "switch", "health", ...
	Err  error
}

func (e *HostError) Error() string { return fmt.Sprintf("%s on %s: %v", e.Step, e.Host, e.Err) }
func (e *HostError) Unwrap() error { return e.Err }
