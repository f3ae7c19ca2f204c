package lifecycle

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipwayhq/slipway/internal/proctest"
)

func requireShell(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh on PATH")
	}
}

func TestLocal(t *testing.T) {
	requireShell(t)
	dir := t.TempDir()
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		command  string
		dir      string
		env      []string
		wantOut  string // exact output, when wantTail is nil
		wantTail []string
		wantExit int // 0: success
	}{
		{
			name:     "exit status and output tail",
			command:  "echo building; echo 'error: missing dependency' >&2; exit 7",
			wantTail: []string{"building", "error: missing dependency"},
			wantExit: 7,
		},
		{
			name:    "env reaches the command",
			command: `printf '%s|%s\n' "$SLIPWAY_RELEASE" "$GREETING"`,
			env:     []string{"SLIPWAY_RELEASE=v42", "GREETING=hello world"},
			wantOut: "v42|hello world\n",
		},
		{
			name:    "env values are never run",
			command: `printf '%s\n' "$COMMIT_MESSAGE"`,
			env:     []string{"COMMIT_MESSAGE=$(echo pwned); `echo pwned`"},
			wantOut: "$(echo pwned); `echo pwned`\n",
		},
		{
			name:    "later env entries win",
			command: `printf '%s\n' "$HOME"`,
			env:     []string{"HOME=/srv/app"},
			wantOut: "/srv/app\n",
		},
		{
			name:    "runs in dir",
			command: "pwd -P",
			dir:     dir,
			wantOut: realDir + "\n",
		},
		{
			name:    "stdout and stderr interleaved",
			command: "echo one; echo two >&2; echo three",
			wantOut: "one\ntwo\nthree\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Local(tt.command, tt.dir, tt.env)(context.Background())
			if tt.wantExit == 0 {
				if err != nil {
					t.Fatalf("err = %v, want nil; output %q", err, out)
				}
			} else {
				var ce *CommandError
				if !errors.As(err, &ce) || ce.ExitCode != tt.wantExit || ce.TimedOut {
					t.Fatalf("err = %#v, want a *CommandError with exit code %d", err, tt.wantExit)
				}
				if want := "exit status " + strconv.Itoa(tt.wantExit); err.Error() != want {
					t.Errorf("err.Error() = %q, want %q", err.Error(), want)
				}
			}
			if tt.wantTail != nil {
				if got := Tail(out, TailLines); !slices.Equal(got, tt.wantTail) {
					t.Errorf("Tail = %q, want %q", got, tt.wantTail)
				}
			} else if string(out) != tt.wantOut {
				t.Errorf("output = %q, want %q", out, tt.wantOut)
			}
		})
	}
}

func TestLocalStartFailure(t *testing.T) {
	requireShell(t)
	missing := filepath.Join(t.TempDir(), "missing")
	_, err := Local("true", missing, nil)(context.Background())
	var ce *CommandError
	if err == nil || errors.As(err, &ce) {
		t.Fatalf("err = %v, want a start failure that is not a *CommandError", err)
	}
	if !strings.Contains(err.Error(), "start command") {
		t.Errorf("err = %q, want it to name the start", err)
	}
}

// TestLocalTimeoutKillsGroup runs a command whose background child would
// outlive it, and checks that the timeout kills both and the check returns.
func TestLocalTimeoutKillsGroup(t *testing.T) {
	requireShell(t)
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	run := Local(`sleep 30 & echo $! > "$PID_FILE"; echo waiting; sleep 30`, "", []string{"PID_FILE=" + pidFile})

	// Generous outer limit, far above the attempt's timeout even on a busy
	// machine: if the group were not killed, the test fails on the error
	// kind rather than hanging.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const timeout = 2 * time.Second
	res := Check(ctx, Policy{Attempts: 1, Timeout: timeout}, run, nil)

	var ce *CommandError
	if !errors.As(res.Err, &ce) || !ce.TimedOut || ce.Timeout != timeout {
		t.Fatalf("Err = %#v, want a *CommandError timed out after %v", res.Err, timeout)
	}
	if got, want := res.Err.Error(), "timed out after 2s"; got != want {
		t.Errorf("Err.Error() = %q, want %q", got, want)
	}
	if !errors.Is(res.Err, context.DeadlineExceeded) || errors.Is(res.Err, context.Canceled) {
		t.Errorf("Err %v: want a deadline, not a cancellation", res.Err)
	}
	if ctx.Err() != nil {
		t.Errorf("outer context ended first: %v", context.Cause(ctx))
	}
	if !slices.Equal(res.Tail, []string{"waiting"}) {
		t.Errorf("Tail = %q, want [waiting]", res.Tail)
	}
	pid := readPID(t, pidFile)
	if !waitGone(pid) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("background child %d still running after the timeout", pid)
	}
}

func TestLocalCancel(t *testing.T) {
	requireShell(t)
	pidFile := filepath.Join(t.TempDir(), "shell.pid")
	run := Local(`echo $$ > "$PID_FILE"; sleep 30`, "", []string{"PID_FILE=" + pidFile})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		out []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := run(ctx)
		done <- result{out, err}
	}()
	waitFile(t, pidFile)
	cancel()
	r := <-done

	var ce *CommandError
	if !errors.As(r.err, &ce) || !ce.Cancelled || ce.TimedOut {
		t.Fatalf("err = %#v, want a cancelled *CommandError", r.err)
	}
	if r.err.Error() != "cancelled" || !errors.Is(r.err, context.Canceled) {
		t.Errorf("err = %q, want %q matching context.Canceled", r.err, "cancelled")
	}
}

// TestLocalBackgroundHoldsPipe: a command that succeeds but leaves a process
// holding its output pipe (a daemon started without redirection) must not
// make the Runner wait for that process.
func TestLocalBackgroundHoldsPipe(t *testing.T) {
	requireShell(t)
	pidFile := filepath.Join(t.TempDir(), "daemon.pid")
	run := Local(`sleep 30 & echo $! > "$PID_FILE"; echo started`, "", []string{"PID_FILE=" + pidFile})
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	out, err := run(ctx)
	if err != nil {
		t.Fatalf("err = %v, want nil (the command itself exited 0)", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("Runner returned only because the outer context ended")
	}
	if string(out) != "started\n" {
		t.Errorf("output = %q, want %q", out, "started\n")
	}
}

// failingWriter fails every write, like a pusher that went away.
type failingWriter struct{ writes int }

func (w *failingWriter) Write(p []byte) (int, error) {
	w.writes++
	return 0, errors.New("broken pipe")
}

func TestLocalStream(t *testing.T) {
	requireShell(t)
	tests := []struct {
		name       string
		command    string
		wantStream string
		wantOut    string
		wantWrites []string // when set, each write to out
	}{
		{
			name:       "whole lines, final newline added",
			command:    `echo one; printf 'tw'; printf 'o\nthree'`,
			wantStream: "one\ntwo\nthree\n",
			wantOut:    "one\ntwo\nthree\n",
		},
		{
			name:       "stderr is streamed too",
			command:    `echo out; echo err >&2`,
			wantStream: "out\nerr\n",
			wantOut:    "out\nerr\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stream recordingWriter
			out, err := LocalStream(tt.command, "", nil, &stream)(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got := stream.String(); got != tt.wantStream {
				t.Errorf("streamed %q, want %q", got, tt.wantStream)
			}
			if string(out) != tt.wantOut {
				t.Errorf("output = %q, want %q", out, tt.wantOut)
			}
			for _, w := range stream.writes {
				if !strings.HasSuffix(w, "\n") {
					t.Errorf("write %q is not whole lines", w)
				}
			}
		})
	}

	t.Run("a failing writer does not fail the command", func(t *testing.T) {
		fw := &failingWriter{}
		out, err := LocalStream("echo a; echo b; exit 3", "", nil, fw)(context.Background())
		var ce *CommandError
		if !errors.As(err, &ce) || ce.ExitCode != 3 {
			t.Fatalf("err = %v, want exit status 3", err)
		}
		if string(out) != "a\nb\n" {
			t.Errorf("output = %q, want %q", out, "a\nb\n")
		}
		if fw.writes != 1 {
			t.Errorf("writer called %d times after failing, want 1", fw.writes)
		}
	})

	t.Run("masked stream", func(t *testing.T) {
		var buf bytes.Buffer
		m := NewMasker(&buf, []string{"s3cr3t-token"})
		_, err := LocalStream(`printf 'token=%s\n' "$TOKEN"`, "", []string{"TOKEN=s3cr3t-token"}, m)(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if got := buf.String(); got != "token=***\n" {
			t.Errorf("streamed %q, want %q", got, "token=***\n")
		}
	})
}

// recordingWriter keeps each write separately.
type recordingWriter struct{ writes []string }

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

func (w *recordingWriter) String() string { return strings.Join(w.writes, "") }

func readPID(t testing.TB, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %q: %v", b, err)
	}
	return pid
}

func waitFile(t testing.TB, path string) {
	t.Helper()
	for range 1000 {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
}

// waitGone reports whether pid has died, waiting a while for the kernel.
// A zombie counts as dead: its reaper (often init) may be slow or absent.
func waitGone(pid int) bool {
	for range 500 {
		if !proctest.Running(pid) {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}
