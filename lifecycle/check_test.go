package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// step is what one attempt of a fakeRunner returns.
type step struct {
	out string
	err error
}

// fakeRunner returns its steps in order, one per attempt, and records how
// many attempts it saw.
type fakeRunner struct {
	steps []step
	calls int
}

func (f *fakeRunner) run(ctx context.Context) ([]byte, error) {
	s := f.steps[min(f.calls, len(f.steps)-1)]
	f.calls++
	return []byte(s.out), s.err
}

type attemptLog struct {
	n   int
	err error
}

func TestCheck(t *testing.T) {
	errRefused := errors.New("connection refused")
	errStatus := &CommandError{ExitCode: 1}
	errLast := &CommandError{ExitCode: 7}

	tests := []struct {
		name         string
		policy       Policy
		steps        []step
		wantAttempts int
		wantErr      error
		wantTail     []string
		wantLog      []attemptLog
	}{
		{
			name:         "passes first time",
			policy:       Policy{Attempts: 3},
			steps:        []step{{out: "ok\n"}},
			wantAttempts: 1,
			wantTail:     []string{"ok"},
			wantLog:      []attemptLog{{1, nil}},
		},
		{
			name:         "passes on attempt 2 of 3",
			policy:       Policy{Attempts: 3, Interval: time.Millisecond},
			steps:        []step{{out: "starting\n", err: errRefused}, {out: "healthy\n"}},
			wantAttempts: 2,
			wantTail:     []string{"healthy"},
			wantLog:      []attemptLog{{1, errRefused}, {2, nil}},
		},
		{
			name:   "fails every attempt",
			policy: Policy{Attempts: 3, Interval: time.Millisecond},
			steps: []step{
				{out: "a\n", err: errRefused},
				{out: "b\n", err: errStatus},
				{out: "c1\nc2\n", err: errLast},
			},
			wantAttempts: 3,
			wantErr:      errLast,
			wantTail:     []string{"c1", "c2"},
			wantLog:      []attemptLog{{1, errRefused}, {2, errStatus}, {3, errLast}},
		},
		{
			name:         "zero attempts means one",
			policy:       Policy{},
			steps:        []step{{err: errStatus}},
			wantAttempts: 1,
			wantErr:      errStatus,
			wantLog:      []attemptLog{{1, errStatus}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeRunner{steps: tt.steps}
			var log []attemptLog
			res := Check(context.Background(), tt.policy, f.run, func(n int, err error) {
				log = append(log, attemptLog{n, err})
			})
			if res.Attempts != tt.wantAttempts || f.calls != tt.wantAttempts {
				t.Errorf("Attempts = %d, runner called %d times; want %d", res.Attempts, f.calls, tt.wantAttempts)
			}
			if res.Err != tt.wantErr {
				t.Errorf("Err = %v, want %v", res.Err, tt.wantErr)
			}
			if !slices.Equal(res.Tail, tt.wantTail) {
				t.Errorf("Tail = %q, want %q", res.Tail, tt.wantTail)
			}
			if !slices.Equal(log, tt.wantLog) {
				t.Errorf("onAttempt calls = %v, want %v", log, tt.wantLog)
			}
			if res.Duration <= 0 {
				t.Errorf("Duration = %v, want > 0", res.Duration)
			}
		})
	}
}

func TestCheckStopsWhenContextEnds(t *testing.T) {
	errDown := errors.New("down")
	tests := []struct {
		name         string
		cancelBefore bool // cancel before Check, else after the first attempt
		wantAttempts int
		wantErr      error
	}{
		{name: "cancelled during interval", wantAttempts: 1, wantErr: errDown},
		{name: "cancelled before first attempt", cancelBefore: true, wantAttempts: 0, wantErr: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancelBefore {
				cancel()
			}
			f := &fakeRunner{steps: []step{{err: errDown}}}
			// An hour-long interval: Check only returns if the
			// cancellation cuts the wait short.
			p := Policy{Attempts: 5, Interval: time.Hour}
			res := Check(ctx, p, f.run, func(int, error) { cancel() })
			if res.Attempts != tt.wantAttempts || f.calls != tt.wantAttempts {
				t.Errorf("Attempts = %d, runner called %d times; want %d", res.Attempts, f.calls, tt.wantAttempts)
			}
			if !errors.Is(res.Err, tt.wantErr) {
				t.Errorf("Err = %v, want %v", res.Err, tt.wantErr)
			}
		})
	}
}

func TestCheckTimeout(t *testing.T) {
	// blockThenPass blocks until its context ends on the first attempt and
	// passes on the second, like a health endpoint that hangs once.
	blockThenPass := func() Runner {
		calls := 0
		return func(ctx context.Context) ([]byte, error) {
			calls++
			if calls > 1 {
				return []byte("up\n"), nil
			}
			<-ctx.Done()
			return []byte("partial\n"), fmt.Errorf("ssh: %w", ctx.Err())
		}
	}
	const timeout = 20 * time.Millisecond
	tests := []struct {
		name         string
		attempts     int
		wantAttempts int
		wantTimeout  bool
	}{
		{name: "single attempt reports the timeout", attempts: 1, wantAttempts: 1, wantTimeout: true},
		{name: "a timed-out attempt is retried", attempts: 2, wantAttempts: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Policy{Attempts: tt.attempts, Timeout: timeout}
			res := Check(context.Background(), p, blockThenPass(), nil)
			if res.Attempts != tt.wantAttempts {
				t.Errorf("Attempts = %d, want %d", res.Attempts, tt.wantAttempts)
			}
			if !tt.wantTimeout {
				if res.Err != nil {
					t.Errorf("Err = %v, want nil", res.Err)
				}
				return
			}
			var ce *CommandError
			if !errors.As(res.Err, &ce) || !ce.TimedOut || ce.Timeout != timeout {
				t.Fatalf("Err = %#v, want a *CommandError timed out after %v", res.Err, timeout)
			}
			if got, want := res.Err.Error(), "timed out after 20ms"; got != want {
				t.Errorf("Err.Error() = %q, want %q", got, want)
			}
			if !errors.Is(res.Err, context.DeadlineExceeded) {
				t.Errorf("errors.Is(Err, DeadlineExceeded) = false for %v", res.Err)
			}
			if !slices.Equal(res.Tail, []string{"partial"}) {
				t.Errorf("Tail = %q, want [partial]", res.Tail)
			}
		})
	}
}

func TestCommandErrorMessage(t *testing.T) {
	tests := []struct {
		err  *CommandError
		want string
	}{
		{&CommandError{ExitCode: 7}, "exit status 7"},
		{&CommandError{ExitCode: -1, TimedOut: true, Timeout: 10 * time.Second}, "timed out after 10s"},
		{&CommandError{ExitCode: -1, TimedOut: true, Timeout: 1500 * time.Millisecond}, "timed out after 1.5s"},
		{&CommandError{ExitCode: -1, Cancelled: true, Err: context.Canceled}, "cancelled"},
		{&CommandError{ExitCode: -1, Cancelled: true, Err: errors.New("daemon stopping")}, "cancelled: daemon stopping"},
		{&CommandError{ExitCode: -1, Err: errors.New("signal: segmentation fault")}, "signal: segmentation fault"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}
