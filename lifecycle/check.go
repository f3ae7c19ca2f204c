package lifecycle

import (
	"context"
	"errors"
	"time"
)

// Runner makes one attempt at a command and returns the end of its combined
// output, bounded (Local returns what an Output keeps).
// err is non-nil on a non-zero exit, a timeout or a failure to start.
// A Runner must return soon after ctx is done.
type Runner func(ctx context.Context) (output []byte, err error)

// Policy says how often and how long Check tries.
type Policy struct {
	Attempts int           // total attempts; values below 1 mean 1
	Timeout  time.Duration // per attempt; 0 means no limit beyond ctx
	Interval time.Duration // wait between attempts; cut short when ctx is done
}

// Result is the outcome of Check.
type Result struct {
	Attempts int           // attempts made; 0 when ctx was done before the first
	Duration time.Duration // total wall time, waits included
	// Err is nil when an attempt passed. Otherwise it is the last attempt's
	// error (a *CommandError for an exit status or a timeout), or
	// context.Cause(ctx) when no attempt was made. When ctx ends the check
	// early, Err stays the last attempt's error: callers that need to tell
	// a cancelled deploy from a failed check look at their ctx.
	Err error
	// Tail holds the last lines of the last attempt's output, sanitized
	// as by Tail. It is not masked: a Runner that may print secrets writes
	// its output through an Output that has them, which masks before it
	// cuts anything, so that no part of a secret survives a cut.
	Tail []string
}

// TailLines is how many output lines a Result keeps.
const TailLines = 5

// Check runs run up to p.Attempts times until one attempt succeeds, giving
// each attempt p.Timeout and waiting p.Interval between attempts. It stops
// early when ctx is done. onAttempt, if non-nil, is called after every
// attempt, the passing one included, with n counting from 1.
//
// When an attempt times out and the Runner's error does not already say so,
// Check wraps it in a *CommandError with TimedOut set, so every Runner
// reports timeouts the same way.
func Check(ctx context.Context, p Policy, run Runner, onAttempt func(n int, err error)) Result {
	start := time.Now()
	attempts := max(p.Attempts, 1)
	var res Result
	if ctx.Err() != nil {
		res.Err = context.Cause(ctx)
		res.Duration = time.Since(start)
		return res
	}
	for n := 1; n <= attempts; n++ {
		out, err := attempt(ctx, p.Timeout, run)
		res.Attempts = n
		res.Err = err
		res.Tail = Tail(out, TailLines)
		if onAttempt != nil {
			onAttempt(n, err)
		}
		if err == nil || n == attempts || ctx.Err() != nil {
			break
		}
		if !sleep(ctx, p.Interval) {
			break
		}
	}
	res.Duration = time.Since(start)
	return res
}

// attempt runs one attempt under its own timeout. The deadline's cause is a
// *timeoutCause so that Local can report the configured duration.
func attempt(ctx context.Context, timeout time.Duration, run Runner) ([]byte, error) {
	if timeout <= 0 {
		return run(ctx)
	}
	actx, cancel := context.WithTimeoutCause(ctx, timeout, &timeoutCause{d: timeout})
	defer cancel()
	out, err := run(actx)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(actx), context.DeadlineExceeded) {
		var ce *CommandError
		if !errors.As(err, &ce) || !ce.TimedOut {
			err = &CommandError{ExitCode: -1, TimedOut: true, Timeout: timeout, Err: err}
		}
	}
	return out, err
}

// sleep waits for d and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// timeoutCause is the cause Check gives an attempt's deadline. It matches
// context.DeadlineExceeded and carries the configured duration.
type timeoutCause struct{ d time.Duration }

func (e *timeoutCause) Error() string { return "timed out after " + e.d.String() }

func (e *timeoutCause) Is(target error) bool { return target == context.DeadlineExceeded }
