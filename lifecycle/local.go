package lifecycle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CommandError is a command that ran and failed: a non-zero exit status, a
// timeout, a cancellation or a signal.
type CommandError struct {
	ExitCode  int           // exit status; -1 when the command did not exit on its own
	TimedOut  bool          // the attempt's deadline passed
	Timeout   time.Duration // the limit that passed, when TimedOut
	Cancelled bool          // the attempt's context was cancelled before the command finished
	Err       error         // the underlying error: *exec.ExitError, or the context's cause
}

func (e *CommandError) Error() string {
	switch {
	case e.TimedOut:
		return "timed out after " + e.Timeout.String()
	case e.Cancelled:
		if e.Err == nil || e.Err == context.Canceled {
			return "cancelled"
		}
		return "cancelled: " + e.Err.Error()
	case e.ExitCode >= 0:
		return "exit status " + strconv.Itoa(e.ExitCode)
	case e.Err != nil:
		return e.Err.Error()
	default:
		return "command failed"
	}
}

func (e *CommandError) Unwrap() error { return e.Err }

// Is lets errors.Is(err, context.DeadlineExceeded) find a timeout and
// errors.Is(err, context.Canceled) a cancellation, whatever the cause was.
func (e *CommandError) Is(target error) bool {
	return (e.TimedOut && target == context.DeadlineExceeded) ||
		(e.Cancelled && target == context.Canceled)
}

// pipeGrace is how long a Runner keeps reading output after the shell has
// exited or been killed. Past it the pipe is closed, so a background process
// that inherited the pipe cannot hold the Runner.
const pipeGrace = 2 * time.Second

// Local returns a Runner that runs `sh -c command` on this machine in dir
// (the current directory when empty), with os.Environ() plus env, later
// entries winning (see Exec), and returns the tail of its output as an
// Output keeps it: stdout and stderr interleaved, the last 64 KiB of lines,
// each cut at 4 KiB.
func Local(command, dir string, env []string) Runner {
	return LocalStream(command, dir, env, nil)
}

// LocalStream is Local that also copies the output to out as it arrives, for
// hooks whose output the pusher watches, as an Output does: every write to
// out is one or more whole lines ending in "\n", a line longer than 4 KiB is
// cut there and ends in "…", and a final line without a newline gets one.
// An error from out stops the copying, not the command, so a pusher who
// disconnects does not abort a deploy. A nil out makes LocalStream the same
// as Local. Nothing is masked: to mask secrets, run Exec with an Output.
func LocalStream(command, dir string, env []string, out io.Writer) Runner {
	return LocalInput(command, dir, env, nil, out)
}

// LocalInput is LocalStream with stdin as the command's standard input
// (for after_deploy, which reads a JSON summary).
func LocalInput(command, dir string, env []string, stdin []byte, out io.Writer) Runner {
	env = append([]string(nil), env...)
	return func(ctx context.Context) ([]byte, error) {
		o := NewOutput(out, nil)
		err := Exec(ctx, command, dir, env, stdin, o)
		o.Close()
		return o.Tail(), err
	}
}

// Exec runs `sh -c command` on this machine in dir (the current directory
// when empty), with os.Environ() plus env, later entries winning, and stdin
// (if not nil) as its standard input. Values reach the command only through
// env. Its stdout and stderr, interleaved, are copied to out as they arrive
// and not kept; a nil out discards them. Pass an *Output to mask, cut and
// keep a tail. An error from out stops the copying, not the command.
//
// The shell runs in its own process group. When ctx is done the whole group
// is killed with SIGKILL and the error is a *CommandError that says
// "timed out after 10s" or "cancelled". A process the command leaves running
// in the background (a daemon a restart hook starts) is not killed when the
// command succeeds, but output stops being read 2 seconds after the shell
// exits; if such a process writes after that it gets EPIPE or SIGPIPE, so it
// should redirect its own output.
func Exec(ctx context.Context, command, dir string, env []string, stdin []byte, out io.Writer) error {
	start := time.Now()
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Dir = dir
	cmd.Env = append(baseEnv(), env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The shell's pid is the group id (Setpgid).
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
	cmd.WaitDelay = pipeGrace
	// The same pointer for both makes exec share one pipe and one copying
	// goroutine, so out sees the interleaving and one writer at a time.
	w := &quietWriter{w: out}
	cmd.Stdout = w
	cmd.Stderr = w

	if err := cmd.Start(); err != nil {
		if ctx.Err() != nil {
			return contextError(ctx, start)
		}
		return fmt.Errorf("start command: %w", err)
	}
	err := cmd.Wait()
	switch {
	case err == nil, errors.Is(err, exec.ErrWaitDelay):
		// ErrWaitDelay alone means the command exited 0 but left
		// something holding the pipe: the command itself succeeded.
		return nil
	case ctx.Err() != nil:
		return contextError(ctx, start)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &CommandError{ExitCode: ee.ExitCode(), Err: ee}
	}
	return fmt.Errorf("run command: %w", err)
}

// QuietWriter returns a writer that passes writes to w until w fails, and
// never fails itself: an error would stop exec draining the pipe and block
// or kill the command. A nil w discards everything.
func QuietWriter(w io.Writer) io.Writer { return &quietWriter{w: w} }

type quietWriter struct {
	w      io.Writer
	failed bool
}

func (q *quietWriter) Write(p []byte) (int, error) {
	if q.w != nil && !q.failed {
		if _, err := q.w.Write(p); err != nil {
			q.failed = true
		}
	}
	return len(p), nil
}

// contextError describes a command stopped because ctx is done. The duration
// comes from Check's deadline cause when there is one; for any other deadline
// it is the time the command was given.
func contextError(ctx context.Context, start time.Time) error {
	cause := context.Cause(ctx)
	if !errors.Is(cause, context.DeadlineExceeded) {
		return &CommandError{ExitCode: -1, Cancelled: true, Err: cause}
	}
	var d time.Duration
	var tc *timeoutCause
	if errors.As(cause, &tc) {
		d = tc.d
	} else if deadline, ok := ctx.Deadline(); ok {
		d = roundDuration(deadline.Sub(start))
	}
	return &CommandError{ExitCode: -1, TimedOut: true, Timeout: d, Err: cause}
}

// roundDuration makes a measured duration readable: "10s", not "9.99982s".
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	case d < 0:
		return 0
	}
	return d
}

// baseEnv is the daemon's environment without what hooks must not reach:
// the operator's SSH agent and Slipway's own settings.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "SSH_AUTH_SOCK" || name == "SSH_AGENT_PID" || strings.HasPrefix(name, "SLIPWAY_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}
