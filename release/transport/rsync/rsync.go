// Package rsync runs the rsync binary for the transports: the flags of a
// full and of a proportional upload, the run itself, and what its output
// says. Its errors are marked with host.ErrNoSpace and ErrNotProportional
// where rsync's own message says so.
package rsync

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/slipwayhq/slipway/internal/textclean"
	"github.com/slipwayhq/slipway/release/host"
)

// NotProportional starts the message with which a transport refuses a
// proportional upload before anything was sent; rsync's error is then
// marked with ErrNotProportional, and the upload is made again with a
// full compare. A remote wrapper prints it after "slipway: ".
const NotProportional = "cannot upload only the changes: "

// ErrNotProportional means a proportional upload was refused before
// anything was sent.
var ErrNotProportional = errors.New("cannot upload only the changes")

// Args are the flags every full upload uses. linkDest is a release next to
// the destination directory whose unchanged files rsync hard-links.
func Args(linkDest string) []string {
	args := []string{"-a", "--delete", "--stats", "--no-inc-recursive"}
	if linkDest != "" {
		args = append(args, "--link-dest=../"+linkDest)
	}
	return args
}

// ProportionalArgs are the flags of a proportional upload, into a
// hard-link copy of the release the host runs; Run sends the changed
// paths on standard input (--files-from), each ended by a NUL. rsync
// writes every listed file to a new inode (--ignore-times, never
// --inplace), so no file shared with the running release is changed, not
// even its mode; paths the new tree lacks are deleted
// (--delete-missing-args), a directory a file replaces with it (--force).
func ProportionalArgs() []string {
	return []string{"-a", "--ignore-times", "--from0", "--files-from=-", "--delete-missing-args", "--force", "--stats"}
}

// Run runs rsync with args, started by procs, and returns its standard
// output. paths, if not nil, go to its standard input for --files-from.
func Run(ctx context.Context, procs host.Procs, args, paths []string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "rsync", args...)
	if len(paths) > 0 {
		cmd.Stdin = strings.NewReader(strings.Join(paths, "\x00") + "\x00")
	}
	// Its ssh child must not hold the pipes for ever; over a shared
	// connection the master closes them after ssh exits, which took over
	// 5 s with 100 sessions at once on a busy machine (see openssh).
	cmd.WaitDelay = 30 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := host.RunProc(procs, cmd); err != nil {
		re := &Error{Err: err, Stderr: strings.TrimSpace(stderr.String())}
		switch {
		case strings.HasPrefix(Cause(re.Stderr), NotProportional):
			return nil, host.Mark(ErrNotProportional, re)
		case strings.Contains(re.Stderr, "No space left on device"):
			return nil, host.Mark(host.ErrNoSpace, re)
		}
		return nil, re
	}
	return stdout.Bytes(), nil
}

// Error is a run of rsync that failed.
type Error struct {
	Err    error  // how it ended (an *exec.ExitError, mostly)
	Stderr string // what it and its remote shell printed, trimmed
}

func (e *Error) Error() string {
	if e.Stderr == "" {
		return "rsync: " + e.Err.Error()
	}
	return "rsync: " + e.Err.Error() + ": " + Cause(e.Stderr)
}

func (e *Error) Unwrap() error { return e.Err }

// Cause picks the line of rsync's stderr that says what went wrong: a
// remote wrapper's own "slipway: ..." line, then the first "rsync: ..."
// line (such as "write failed ...: No space left on device") rather than
// the generic "rsync error: ... (code 11)" summary.
func Cause(stderr string) string {
	for _, line := range strings.Split(stderr, "\n") {
		if msg, ok := strings.CutPrefix(line, "slipway: "); ok {
			return msg
		}
	}
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(line, "rsync: ") {
			return strings.TrimPrefix(line, "rsync: ")
		}
	}
	return textclean.LastLine(stderr)
}

// ParseStats reads the summary that rsync --stats prints.
func ParseStats(out []byte) host.UploadStats {
	var st host.UploadStats
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(val)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseInt(strings.ReplaceAll(fields[0], ",", ""), 10, 64)
		if err != nil {
			continue
		}
		switch strings.TrimSpace(key) {
		case "Number of regular files transferred":
			st.Files = int(n)
		case "Total bytes sent":
			st.BytesSent = n
		}
	}
	return st
}
