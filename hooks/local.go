package hooks

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

const (
	// maxOutput is how much of a command's output a Runner keeps: the end,
	// where the reason for a failure usually is.
	maxOutput = 64 << 10
	// maxPendingLine bounds a streamed line that has no newline yet.
	maxPendingLine = 4 << 10
)

// pipeGrace is how long a Runner keeps reading output after the shell has
// exited or been killed. Past it the pipe is closed, so a background process
// that inherited the pipe cannot hold the Runner.
const pipeGrace = 2 * time.Second

// Local returns a Runner that runs `sh -c command` on this machine in dir
// (the current directory when empty), with os.Environ() plus env, later
// entries winning. Values reach the command only through env.
//
// The shell runs in its own process group. When ctx is done the whole group
// is killed with SIGKILL and the error is a *CommandError that says
// "timed out after 10s" or "cancelled". A process the command leaves running
// in the background (a daemon a restart hook starts) is not killed when the
// command succeeds, but output stops being read 2 seconds after the shell
// exits; if such a process writes after that it gets EPIPE or SIGPIPE, so it
// should redirect its own output.
//
// The output is stdout and stderr interleaved, of which the last 64 KiB are
// kept.
func Local(command, dir string, env []string) Runner {
	return LocalStream(command, dir, env, nil)
}

// LocalStream is Local that also copies the output to out as it arrives, for
// hooks whose output the pusher watches. Every write to out is one or more
// whole lines ending in "\n", except that a line longer than 4 KiB arrives in
// pieces as it grows; the pieces are not split by newlines, so a Masker on out
// still sees a secret whole. A final line without a newline gets one. An
// error from out stops the copying, not the command, so a pusher who
// disconnects does not abort a deploy. A nil out makes LocalStream the same
// as Local.
func LocalStream(command, dir string, env []string, out io.Writer) Runner {
	return LocalInput(command, dir, env, nil, out)
}

// LocalInput is LocalStream with stdin as the command's standard input
// (for after_deploy, which reads a JSON summary).
func LocalInput(command, dir string, env []string, stdin []byte, out io.Writer) Runner {
	env = append([]string(nil), env...)
	return func(ctx context.Context) ([]byte, error) {
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
		w := &outputWriter{}
		if out != nil {
			w.lines = &lineWriter{out: out}
		}
		// The same pointer for both makes exec share one pipe and one
		// copying goroutine, so w needs no lock and keeps the interleaving.
		cmd.Stdout = w
		cmd.Stderr = w

		if err := cmd.Start(); err != nil {
			if ctx.Err() != nil {
				return nil, contextError(ctx, start)
			}
			return nil, fmt.Errorf("start command: %w", err)
		}
		err := cmd.Wait()
		w.flush()
		output := w.bytes()
		switch {
		case err == nil, errors.Is(err, exec.ErrWaitDelay):
			// ErrWaitDelay alone means the command exited 0 but left
			// something holding the pipe: the command itself succeeded.
			return output, nil
		case ctx.Err() != nil:
			return output, contextError(ctx, start)
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return output, &CommandError{ExitCode: ee.ExitCode(), Err: ee}
		}
		return output, fmt.Errorf("run command: %w", err)
	}
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

// outputWriter keeps the end of a command's output and optionally streams it.
// exec calls Write from one goroutine, and Write never fails: an error would
// stop exec draining the pipe and block the command.
type outputWriter struct {
	buf   []byte
	lines *lineWriter
}

func (w *outputWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	if len(w.buf) > 2*maxOutput {
		w.buf = append(w.buf[:0], w.buf[len(w.buf)-maxOutput:]...)
	}
	if w.lines != nil {
		w.lines.write(p)
	}
	return len(p), nil
}

func (w *outputWriter) bytes() []byte {
	if len(w.buf) > maxOutput {
		return w.buf[len(w.buf)-maxOutput:]
	}
	return w.buf
}

func (w *outputWriter) flush() {
	if w.lines != nil {
		w.lines.flush()
	}
}

// lineWriter passes whole lines to out and gives up on out after its first
// error.
type lineWriter struct {
	out    io.Writer
	buf    []byte
	failed bool
}

func (l *lineWriter) write(p []byte) {
	l.buf = append(l.buf, p...)
	if i := bytes.LastIndexByte(l.buf, '\n'); i >= 0 {
		l.emit(l.buf[:i+1])
		l.buf = append(l.buf[:0], l.buf[i+1:]...)
	}
	if len(l.buf) >= maxPendingLine {
		l.emit(l.buf)
		l.buf = l.buf[:0]
	}
}

func (l *lineWriter) flush() {
	if len(l.buf) > 0 {
		l.emit(append(l.buf, '\n'))
		l.buf = l.buf[:0]
	}
}

func (l *lineWriter) emit(p []byte) {
	if l.failed {
		return
	}
	if _, err := l.out.Write(p); err != nil {
		l.failed = true
	}
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
