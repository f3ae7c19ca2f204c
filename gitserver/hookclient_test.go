package gitserver_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/format/pktline"

	"github.com/slipwayhq/slipway/gitserver"
)

const (
	oidA = "1111111111111111111111111111111111111111"
	oidB = "2222222222222222222222222222222222222222"
	oidZ = "0000000000000000000000000000000000000000"

	// pktFlush stands for a flush-pkt in lists of pkt-line payloads.
	pktFlush = "<flush>"

	hookTimeout = 10 * time.Second
)

// daemonRequest and daemonMessage are the daemon's side of the hook
// socket protocol, written out here so that a change of the wire format
// shows up as a failing test.
type daemonRequest struct {
	Token    string                 `json:"token"`
	Commands []gitserver.RefCommand `json:"commands"`
	Options  []string               `json:"options"`
}

type daemonMessage struct {
	Out    string                `json:"out,omitempty"`
	Report []gitserver.RefResult `json:"report,omitempty"`
	Done   bool                  `json:"done,omitempty"`
}

// fakeDaemon listens on a unix socket like slipway serve does, records
// each request and answers with what answer returns, then hangs up.
type fakeDaemon struct {
	socket string
	answer func(daemonRequest) []daemonMessage

	mu   sync.Mutex
	reqs map[string]daemonRequest // by token
}

func startFakeDaemon(tb testing.TB, answer func(daemonRequest) []daemonMessage) *fakeDaemon {
	tb.Helper()
	dir := shortTempDir(tb)
	d := &fakeDaemon{socket: filepath.Join(dir, "hook.sock"), answer: answer, reqs: map[string]daemonRequest{}}
	ln, err := net.Listen("unix", d.socket)
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				d.serve(conn)
			}()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return d
}

func (d *fakeDaemon) serve(conn net.Conn) {
	conn.SetDeadline(time.Now().Add(hookTimeout))
	var req daemonRequest
	if err := json.NewDecoder(conn).Decode(&req); err != nil {
		return
	}
	d.mu.Lock()
	d.reqs[req.Token] = req
	d.mu.Unlock()
	enc := json.NewEncoder(conn)
	for _, m := range d.answer(req) {
		if err := enc.Encode(m); err != nil {
			return
		}
	}
}

// request returns what the hook sent with token.
func (d *fakeDaemon) request(tb testing.TB, token string) daemonRequest {
	tb.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	req, ok := d.reqs[token]
	if !ok {
		tb.Fatalf("the daemon got no request with token %q", token)
	}
	return req
}

// okAll accepts every ref.
func okAll(req daemonRequest) []daemonMessage {
	m := daemonMessage{Done: true}
	for _, c := range req.Commands {
		m.Report = append(m.Report, gitserver.RefResult{Ref: c.Ref})
	}
	return []daemonMessage{m}
}

// shortTempDir returns a new directory whose path is short enough for a
// unix socket (about 100 bytes), which t.TempDir's often is not.
func shortTempDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "sw")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// syncBuffer is the hook's stderr: the test reads it while the hook may
// still write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// pkts encodes payloads as pkt-lines the way git does; pktFlush is a
// flush-pkt.
func pkts(tb testing.TB, payloads ...string) []byte {
	tb.Helper()
	var buf bytes.Buffer
	enc := pktline.NewEncoder(&buf)
	for _, p := range payloads {
		var err error
		if p == pktFlush {
			err = enc.Flush()
		} else {
			err = enc.EncodeString(p)
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	return buf.Bytes()
}

// parsePkts decodes pkt-lines into payloads, with pktFlush for a flush-pkt.
func parsePkts(b []byte) ([]string, error) {
	var got []string
	sc := pktline.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			got = append(got, pktFlush)
		} else {
			got = append(got, string(sc.Bytes()))
		}
	}
	return got, sc.Err()
}

// gitSession is one proc-receive exchange as receive-pack drives it: it
// offers caps, sends the commands, sends the push options only if both
// sides agreed on push-options, and keeps the hook's stdin open until it
// has read the whole report, as git does.
type gitSession struct {
	caps     string // after "version=1\0"; "" sends a bare "version=1"
	commands []string
	options  []string
}

// hookResult is what the hook left for git and for the pusher.
type hookResult struct {
	stdout []string // pkt-line payloads, pktFlush for flush-pkts
	stderr string
	err    error
}

func (g gitSession) run(tb testing.TB, socket, token string) hookResult {
	tb.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	stderr := &syncBuffer{}
	hookDone := make(chan error, 1)
	go func() {
		err := gitserver.RunProcReceive(inR, outW, stderr, socket, token)
		inR.Close()
		outW.Close()
		hookDone <- err
	}()

	type gitEnd struct {
		stdout []string
		err    error
	}
	gitDone := make(chan gitEnd, 1)
	go func() {
		var got []string
		sc := pktline.NewScanner(outR)
		// readUntilFlush reads the hook's pkt-lines up to a flush-pkt.
		readUntilFlush := func() error {
			for sc.Scan() {
				if len(sc.Bytes()) == 0 {
					got = append(got, pktFlush)
					return nil
				}
				got = append(got, string(sc.Bytes()))
			}
			if err := sc.Err(); err != nil {
				return err
			}
			return io.ErrUnexpectedEOF
		}
		write := func(payloads ...string) error {
			_, err := inW.Write(pkts(tb, payloads...))
			return err
		}
		err := func() error {
			version := "version=1\n"
			if g.caps != "" {
				version = "version=1\x00" + g.caps + "\n"
			}
			if err := write(version, pktFlush); err != nil {
				return err
			}
			if err := readUntilFlush(); err != nil {
				return fmt.Errorf("read version: %w", err)
			}
			if err := write(append(g.commands, pktFlush)...); err != nil {
				return err
			}
			if strings.Contains(g.caps, "push-options") && len(got) > 0 &&
				strings.Contains(got[0], "\x00push-options") {
				if err := write(append(g.options, pktFlush)...); err != nil {
					return err
				}
			}
			if err := readUntilFlush(); err != nil {
				return fmt.Errorf("read report: %w", err)
			}
			return nil
		}()
		inW.Close()
		io.Copy(io.Discard, outR)
		gitDone <- gitEnd{got, err}
	}()

	timeout := time.After(hookTimeout)
	var res hookResult
	select {
	case res.err = <-hookDone:
	case <-timeout:
		inW.CloseWithError(errors.New("timed out"))
		outR.CloseWithError(errors.New("timed out"))
		tb.Fatalf("RunProcReceive did not return within %s", hookTimeout)
	}
	select {
	case end := <-gitDone:
		res.stdout = end.stdout
		if res.err == nil && end.err != nil {
			tb.Fatalf("git's side: %v (the hook wrote %q)", end.err, end.stdout)
		}
	case <-timeout:
		tb.Fatalf("git's side did not finish within %s", hookTimeout)
	}
	res.stderr = stderr.String()
	return res
}

// runHookOn runs RunProcReceive on input that git has written in full.
// With keepOpen, git keeps stdin open afterwards (as it does while waiting
// for the report), so a hook that waits for more input never returns.
func runHookOn(tb testing.TB, input []byte, keepOpen bool, socket, token string) (stdout []byte, stderr string, err error) {
	tb.Helper()
	var in io.Reader = bytes.NewReader(input)
	if keepOpen {
		r, w := io.Pipe()
		go func() { w.Write(input) }()
		tb.Cleanup(func() { w.Close() })
		in = r
	}
	out := &syncBuffer{}
	errOut := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- gitserver.RunProcReceive(in, out, errOut, socket, token) }()
	select {
	case err = <-done:
	case <-time.After(hookTimeout):
		tb.Fatalf("RunProcReceive did not return within %s on input %q", hookTimeout, input)
	}
	return []byte(out.String()), errOut.String(), err
}

func TestRunProcReceiveVersion(t *testing.T) {
	tests := []struct {
		name        string
		caps        string
		options     []string
		wantVersion string
		wantOptions []string
	}{
		{
			name:        "no capabilities",
			caps:        "",
			wantVersion: "version=1\x00\n",
		},
		{
			name:        "atomic only",
			caps:        "atomic",
			wantVersion: "version=1\x00\n",
		},
		{
			name:        "push options",
			caps:        "push-options",
			options:     []string{"ci.skip", "reason=hotfix for #12"},
			wantVersion: "version=1\x00push-options\n",
			wantOptions: []string{"ci.skip", "reason=hotfix for #12"},
		},
		{
			name:        "push options among others",
			caps:        "atomic push-options object-format=sha1",
			options:     []string{"x"},
			wantVersion: "version=1\x00push-options\n",
			wantOptions: []string{"x"},
		},
		{
			name:        "push options offered, none sent",
			caps:        "push-options",
			wantVersion: "version=1\x00push-options\n",
		},
		{
			name:        "similar capability is not push-options",
			caps:        "push-options-v2 atomic",
			wantVersion: "version=1\x00\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := startFakeDaemon(t, okAll)
			g := gitSession{
				caps:     tt.caps,
				commands: []string{oidA + " " + oidB + " refs/heads/production"},
				options:  tt.options,
			}
			res := g.run(t, d.socket, "tok-1")
			if res.err != nil {
				t.Fatalf("RunProcReceive: %v (stderr %q)", res.err, res.stderr)
			}
			want := []string{tt.wantVersion, pktFlush, "ok refs/heads/production\n", pktFlush}
			if !reflect.DeepEqual(res.stdout, want) {
				t.Errorf("hook wrote\n%q\nwant\n%q", res.stdout, want)
			}
			req := d.request(t, "tok-1")
			wantCmds := []gitserver.RefCommand{{Old: oidA, New: oidB, Ref: "refs/heads/production"}}
			if !reflect.DeepEqual(req.Commands, wantCmds) {
				t.Errorf("daemon got commands %+v, want %+v", req.Commands, wantCmds)
			}
			if !reflect.DeepEqual(req.Options, tt.wantOptions) {
				t.Errorf("daemon got options %q, want %q", req.Options, tt.wantOptions)
			}
		})
	}
}

func TestRunProcReceiveReport(t *testing.T) {
	tests := []struct {
		name       string
		commands   []string
		answer     []daemonMessage
		wantReport []string
		wantStderr string
	}{
		{
			name: "one ok, one ng",
			commands: []string{
				oidZ + " " + oidA + " refs/heads/production",
				oidA + " " + oidB + " refs/tags/v7",
			},
			answer: []daemonMessage{
				{Out: "deploying v3 to production\n"},
				{Out: "production is live with v3\n"},
				{Out: "tags v* are release numbers that Slipway gives; push a branch to deploy\n"},
				{Done: true, Report: []gitserver.RefResult{
					{Ref: "refs/heads/production"},
					{Ref: "refs/tags/v7", Error: "v* tags are reserved for releases"},
				}},
			},
			wantReport: []string{
				"ok refs/heads/production\n",
				"ng refs/tags/v7 v* tags are reserved for releases\n",
			},
			wantStderr: "deploying v3 to production\nproduction is live with v3\n" +
				"tags v* are release numbers that Slipway gives; push a branch to deploy\n",
		},
		{
			name:     "reason with newlines is one line",
			commands: []string{oidA + " " + oidB + " refs/heads/production"},
			answer: []daemonMessage{
				{Done: true, Report: []gitserver.RefResult{
					{Ref: "refs/heads/production", Error: "deploy failed:\nhealth check failed\non web-2\n"},
				}},
			},
			wantReport: []string{"ng refs/heads/production deploy failed: health check failed on web-2 \n"},
		},
		{
			name:     "output split across messages",
			commands: []string{oidA + " " + oidB + " refs/heads/main"},
			answer: []daemonMessage{
				{Out: "upload web-1 "},
				{Out: "ok 1 files changed\n"},
				{Done: true, Report: []gitserver.RefResult{{Ref: "refs/heads/main"}}},
			},
			wantReport: []string{"ok refs/heads/main\n"},
			wantStderr: "upload web-1 ok 1 files changed\n",
		},
		{
			name:     "rollback carried out on another ref",
			commands: []string{oidZ + " " + oidA + " refs/heads/rollback"},
			answer: []daemonMessage{
				{Out: "rolling production back to v41\n"},
				{Done: true, Report: []gitserver.RefResult{{
					Ref: "refs/heads/rollback", RefName: "refs/heads/production",
					OldOID: oidB, NewOID: oidA, Forced: true,
				}}},
			},
			wantReport: []string{
				"ok refs/heads/rollback\n",
				"option refname refs/heads/production\n",
				"option old-oid " + oidB + "\n",
				"option new-oid " + oidA + "\n",
				"option forced-update\n",
			},
			wantStderr: "rolling production back to v41\n",
		},
		{
			name:     "tag peeled to its commit",
			commands: []string{oidZ + " " + oidA + " refs/heads/staging"},
			answer: []daemonMessage{
				{Done: true, Report: []gitserver.RefResult{{Ref: "refs/heads/staging", NewOID: oidB}}},
			},
			wantReport: []string{"ok refs/heads/staging\n", "option new-oid " + oidB + "\n"},
		},
		{
			name:     "a refusal carries no options",
			commands: []string{oidZ + " " + oidA + " refs/heads/rollback"},
			answer: []daemonMessage{
				{Done: true, Report: []gitserver.RefResult{{
					Ref: "refs/heads/rollback", Error: "no release v99", RefName: "refs/heads/production", Forced: true,
				}}},
			},
			wantReport: []string{"ng refs/heads/rollback no release v99\n"},
		},
		{
			name:     "deleting a branch",
			commands: []string{oidA + " " + oidZ + " refs/heads/feature/x"},
			answer: []daemonMessage{
				{Done: true, Report: []gitserver.RefResult{{Ref: "refs/heads/feature/x"}}},
			},
			wantReport: []string{"ok refs/heads/feature/x\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := startFakeDaemon(t, func(daemonRequest) []daemonMessage { return tt.answer })
			g := gitSession{caps: "atomic push-options", commands: tt.commands}
			res := g.run(t, d.socket, "tok-2")
			if res.err != nil {
				t.Fatalf("RunProcReceive: %v (stderr %q)", res.err, res.stderr)
			}
			want := append([]string{"version=1\x00push-options\n", pktFlush}, tt.wantReport...)
			want = append(want, pktFlush)
			if !reflect.DeepEqual(res.stdout, want) {
				t.Errorf("hook wrote\n%q\nwant\n%q", res.stdout, want)
			}
			if res.stderr != tt.wantStderr {
				t.Errorf("stderr = %q, want %q", res.stderr, tt.wantStderr)
			}
			if req := d.request(t, "tok-2"); req.Token != "tok-2" || len(req.Commands) != len(tt.commands) {
				t.Errorf("daemon got %+v", req)
			}
		})
	}
}

func TestRunProcReceiveDaemonFailure(t *testing.T) {
	commands := []string{
		oidA + " " + oidB + " refs/heads/production",
		oidZ + " " + oidA + " refs/heads/feature",
	}
	tests := []struct {
		name       string
		answer     func(daemonRequest) []daemonMessage // nil: no daemon listens
		wantReason string                              // "" accepts any reason
		wantStderr []string
	}{
		{
			name:       "no daemon",
			wantReason: "slipway daemon unreachable",
			wantStderr: []string{"slipway: the deploy server could not be reached", "nothing was changed"},
		},
		{
			name:       "daemon hangs up without answering",
			answer:     func(daemonRequest) []daemonMessage { return nil },
			wantStderr: []string{"slipway: "},
		},
		{
			name: "daemon hangs up mid-stream",
			answer: func(daemonRequest) []daemonMessage {
				return []daemonMessage{{Out: "deploying v3 to production\n"}, {Out: "upload web-1 ok\n"}}
			},
			wantStderr: []string{"deploying v3 to production\nupload web-1 ok\n", "slipway: "},
		},
		{
			name: "daemon hangs up after a report without done",
			answer: func(daemonRequest) []daemonMessage {
				return []daemonMessage{{Report: []gitserver.RefResult{{Ref: "refs/heads/production"}, {Ref: "refs/heads/feature"}}}}
			},
			wantStderr: []string{"slipway: "},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			socket := filepath.Join(shortTempDir(t), "hook.sock")
			if tt.answer != nil {
				socket = startFakeDaemon(t, tt.answer).socket
			}
			res := gitSession{caps: "atomic", commands: commands}.run(t, socket, "tok-3")
			if res.err != nil {
				t.Fatalf("RunProcReceive: %v (stderr %q)", res.err, res.stderr)
			}
			if len(res.stdout) != 2+len(commands)+1 {
				t.Fatalf("hook wrote %q, want a version, then one report line per ref", res.stdout)
			}
			if want := []string{"version=1\x00\n", pktFlush}; !reflect.DeepEqual(res.stdout[:2], want) {
				t.Errorf("version negotiation: hook wrote %q, want %q", res.stdout[:2], want)
			}
			for i, c := range commands {
				ref := strings.Fields(c)[2]
				line := res.stdout[2+i]
				if !strings.HasPrefix(line, "ng "+ref+" ") || !strings.HasSuffix(line, "\n") || strings.Count(line, "\n") != 1 {
					t.Errorf("report for %s is %q, want ng %s <reason>", ref, line, ref)
				}
				if tt.wantReason != "" && line != "ng "+ref+" "+tt.wantReason+"\n" {
					t.Errorf("report for %s is %q, want reason %q", ref, line, tt.wantReason)
				}
			}
			if last := res.stdout[len(res.stdout)-1]; last != pktFlush {
				t.Errorf("report ends with %q, want a flush-pkt", last)
			}
			for _, s := range tt.wantStderr {
				if !strings.Contains(res.stderr, s) {
					t.Errorf("stderr %q does not contain %q", res.stderr, s)
				}
			}
		})
	}
}

func TestRunProcReceiveMalformedInput(t *testing.T) {
	cmd := oidA + " " + oidB + " refs/heads/production"
	tests := []struct {
		name     string
		input    []byte
		keepOpen bool   // git keeps stdin open after input
		wantErr  string // in the error
	}{
		{
			name:     "no version line",
			input:    pkts(t, cmd, pktFlush),
			keepOpen: true,
			wantErr:  "version 1",
		},
		{
			name:     "only a flush",
			input:    pkts(t, pktFlush),
			keepOpen: true,
			wantErr:  "version 1",
		},
		{
			name:     "other protocol version",
			input:    pkts(t, "version=2\n", pktFlush, cmd, pktFlush),
			keepOpen: true,
			wantErr:  "version 1",
		},
		{
			name:    "empty input",
			input:   nil,
			wantErr: "version 1",
		},
		{
			name:     "command with two fields",
			input:    pkts(t, "version=1\x00atomic\n", pktFlush, oidB+" refs/heads/production", pktFlush),
			keepOpen: true,
			wantErr:  "unexpected command",
		},
		{
			name:     "command with one field",
			input:    pkts(t, "version=1\n", pktFlush, "refs/heads/production", pktFlush),
			keepOpen: true,
			wantErr:  "unexpected command",
		},
		{
			name:    "invalid pkt-line length",
			input:   append(pkts(t, "version=1\n", pktFlush), "zzzz"...),
			wantErr: "read commands",
		},
		{
			name:    "truncated pkt-line length",
			input:   []byte("00"),
			wantErr: "read version",
		},
		{
			name:    "truncated pkt-line",
			input:   append(pkts(t, "version=1\n", pktFlush), "0032"+cmd[:10]...),
			wantErr: "read commands",
		},
		{
			name:    "error line from git",
			input:   pkts(t, "ERR something broke"),
			wantErr: "something broke",
		},
		{
			name:    "command list cut before its flush-pkt",
			input:   pkts(t, "version=1\n", pktFlush, cmd),
			wantErr: "command",
		},
		{
			name:    "push options cut before their flush-pkt",
			input:   pkts(t, "version=1\x00push-options\n", pktFlush, cmd, pktFlush, "ci.skip"),
			wantErr: "option",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := startFakeDaemon(t, okAll)
			stdout, stderr, err := runHookOn(t, tt.input, tt.keepOpen, d.socket, "tok-4")
			if err == nil {
				t.Fatalf("RunProcReceive succeeded on %q; wrote %q, stderr %q", tt.input, stdout, stderr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			d.mu.Lock()
			asked := len(d.reqs)
			d.mu.Unlock()
			if asked != 0 {
				t.Errorf("the daemon was asked to act on malformed input %q", tt.input)
			}
		})
	}
}

// FuzzProcReceiveInput feeds arbitrary bytes as git's side of the
// proc-receive protocol to a hook whose daemon accepts every ref. The hook
// must return, and when it succeeds it must have written pkt-lines: its
// version, a flush-pkt, one "ok" per command the daemon received, and a
// flush-pkt.
func FuzzProcReceiveInput(f *testing.F) {
	d := startFakeDaemon(f, okAll)
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, input []byte) {
		token := fmt.Sprintf("fuzz-%d", n.Add(1))
		stdout, stderr, err := runHookOn(t, input, false, d.socket, token)
		if err != nil {
			return
		}
		got, perr := parsePkts(stdout)
		if perr != nil {
			t.Fatalf("stdout %q is not pkt-lines: %v", stdout, perr)
		}
		if len(got) < 3 || !strings.HasPrefix(got[0], "version=1\x00") || got[1] != pktFlush || got[len(got)-1] != pktFlush {
			t.Fatalf("stdout %q: want version=1, flush-pkt, report, flush-pkt", got)
		}
		if strings.Contains(stderr, "could not be reached") {
			t.Fatalf("the fake daemon was not reached: %s", stderr)
		}
		req := d.request(t, token)
		report := got[2 : len(got)-1]
		if len(report) != len(req.Commands) {
			t.Fatalf("report %q for %d commands", report, len(req.Commands))
		}
		for i, c := range req.Commands {
			if want := "ok " + c.Ref + "\n"; report[i] != want {
				t.Errorf("report line %d = %q, want %q", i, report[i], want)
			}
		}
	})
}
