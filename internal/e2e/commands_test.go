//go:build unix

package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/slipwayhq/slipway/release"
)

// Limits for waits that would otherwise hang a run. They bound how long a
// broken script takes to fail; they are not performance goals.
const (
	serveReadyTimeout   = 60 * time.Second // serve: until $PORT accepts connections
	stopTimeout         = 30 * time.Second // stop-server: from SIGTERM to exit
	cleanupTermTimeout  = 10 * time.Second // end of script: from SIGTERM to SIGKILL
	quitDumpTimeout     = 5 * time.Second  // after SIGQUIT, for the goroutine dump
	waitFileTimeout     = 3 * time.Minute  // wait-file default
	waitBgDeadlineSlack = 2 * time.Minute  // wait-bg gives up this long before the test deadline
	pollInterval        = 50 * time.Millisecond
)

// Lines of a log shown when a script fails.
const (
	serveLogTailLines = 300
	serveDumpLines    = 3000 // after a SIGQUIT, to include the goroutine dump
	bgLogTailLines    = 40
)

var scriptCommands = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"expand":        cmdExpand,
	"serve":         cmdServe,
	"stop-server":   cmdStopServer,
	"term-server":   cmdTermServer,
	"wait-server":   cmdWaitServer,
	"reload-server": cmdReloadServer,
	"kill-server":   cmdKillServer,
	"background":    cmdBackground,
	"wait-bg":       cmdWaitBg,
	"kill-bg":       cmdKillBg,
	"wait-file":     cmdWaitFile,
	"readlink":      cmdReadlink,
	"sleep":         cmdSleep,
}

type stateKey struct{}

// scriptState is what one script has started. Only the script's goroutine
// touches it.
type scriptState struct {
	t        testscript.T
	ts       *testscript.TestScript // nil until the script runs one of the commands above
	work     string
	deadline time.Time // the test binary's deadline, zero if none

	server *process            // the latest slipway serve, nil before the first
	bg     map[string]*process // background NAME → program, until wait-bg NAME
	groups []int               // process groups started, killed when the script ends

	dumped bool // serve was sent SIGQUIT: show its whole goroutine dump
}

func stateOf(ts *testscript.TestScript) *scriptState {
	st, _ := ts.Value(stateKey{}).(*scriptState)
	if st == nil {
		ts.Fatalf("script state missing: Setup did not run")
	}
	st.ts = ts
	return st
}

// process is a program a script started that outlives the command that
// started it. It leads its own process group so that the end of the script
// can stop everything it started in turn (git's ssh, the daemon's hooks and
// ssh masters) and nothing leaks into the next script.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd.Wait has returned
	err  error         // cmd.Wait's result, set before done is closed
}

func startProcess(st *scriptState, cmd *exec.Cmd) (*process, error) {
	cmd.SysProcAttr = processAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	st.groups = append(st.groups, cmd.Process.Pid)
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitFor reports whether the process exited within d; d <= 0 waits forever.
func (p *process) waitFor(d time.Duration) bool {
	if d <= 0 {
		<-p.done
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-p.done:
		return true
	case <-timer.C:
		return false
	}
}

// signal sends sig to the process alone; its children keep running, as they
// would if it crashed.
func (p *process) signal(sig syscall.Signal) {
	if !p.exited() {
		_ = p.cmd.Process.Signal(sig)
	}
}

// killGroup sends SIGKILL to the process and everything it started.
func (p *process) killGroup() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// status describes how the process ended, for logs and failures.
func (p *process) status() string {
	if p.err == nil {
		return "exit status 0"
	}
	return p.err.Error()
}

// exitCode is the shell's $? for the process: its exit status, or 128+N when
// signal N killed it.
func (p *process) exitCode() int {
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return p.cmd.ProcessState.ExitCode()
}

// scriptEnv returns the environment the script's own exec commands get at
// this point, including any `env` changes the script made. testscript keeps
// that list unexported; it is read through reflect, and a testscript that no
// longer has the field fails the script rather than starting programs with a
// partial environment.
func scriptEnv(ts *testscript.TestScript) []string {
	v := reflect.ValueOf(ts).Elem().FieldByName("env")
	if !v.IsValid() || v.Kind() != reflect.Slice || v.Type().Elem().Kind() != reflect.String {
		ts.Fatalf("cannot read the script's environment: testscript.TestScript has no env []string field")
	}
	env := make([]string, 0, v.Len()+1)
	for i := range v.Len() {
		env = append(env, v.Index(i).String())
	}
	return append(env, "PWD="+ts.MkAbs("."))
}

// lookPath finds prog the way the script's exec would: through the script's
// PATH, or relative to the script's directory when it contains a slash.
func lookPath(ts *testscript.TestScript, prog string) (string, error) {
	if strings.Contains(prog, "/") {
		return ts.MkAbs(prog), nil
	}
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		if dir == "" {
			continue
		}
		path := filepath.Join(dir, prog)
		if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return path, nil
		}
	}
	return "", fmt.Errorf("%s: not found in the script's PATH", prog)
}

// expand FILE...
//
// Replaces $VAR and ${VAR} in each file, in place, with the script's
// environment, so that a configuration in the archive can name $PORT or
// $ALICE_PUB. $$ stands for a literal $. A variable that is not set (or is
// empty) fails the command instead of vanishing silently.
func cmdExpand(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! expand")
	}
	if len(args) == 0 {
		ts.Fatalf("usage: expand FILE...")
	}
	for _, name := range args {
		path := ts.MkAbs(name)
		fi, err := os.Stat(path)
		ts.Check(err)
		data, err := os.ReadFile(path)
		ts.Check(err)
		var unset []string
		out := os.Expand(string(data), func(key string) string {
			v := ts.Getenv(key)
			if v == "" && !contains(unset, key) {
				unset = append(unset, key)
			}
			return v
		})
		if len(unset) > 0 {
			ts.Fatalf("expand %s: $%s not set (write $$ for a literal $)", name, strings.Join(unset, ", $"))
		}
		ts.Check(os.WriteFile(path, []byte(out), fi.Mode().Perm()))
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// serve [ARG...]
//
// Starts `slipway serve --config $WORK/slipway.toml` (or `slipway serve
// ARG...`) in the background with the script's environment and directory,
// appending its output to $WORK/serve.log, and returns once 127.0.0.1:$PORT
// accepts TCP connections. One server at a time; serve again after
// stop-server or kill-server starts a new one on the same log.
func cmdServe(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! serve (to check that serve refuses to start, use ! exec slipway serve ...)")
	}
	st := stateOf(ts)
	if st.server != nil && !st.server.exited() {
		ts.Fatalf("serve: slipway serve is already running (pid %d); stop-server or kill-server first", st.server.cmd.Process.Pid)
	}
	argv := []string{"serve", "--config", filepath.Join(st.work, "slipway.toml")}
	if len(args) > 0 {
		argv = append([]string{"serve"}, args...)
	}
	addr := net.JoinHostPort("127.0.0.1", ts.Getenv("PORT"))
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		ts.Fatalf("serve: another process already listens on %s", addr)
	}
	logPath := filepath.Join(st.work, "serve.log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o666)
	ts.Check(err)
	defer logFile.Close()

	_, err = fmt.Fprintf(logFile, "--- %s slipway %s\n", time.Now().Format(time.RFC3339), strings.Join(argv, " "))
	ts.Check(err)
	cmd := exec.Command(slipwayBin, argv...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = scriptEnv(ts)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	p, err := startProcess(st, cmd)
	ts.Check(err)
	st.server = p

	giveUp := time.Now().Add(serveReadyTimeout)
	for {
		if p.exited() {
			ts.Fatalf("serve: slipway exited (%s) before accepting connections on %s", p.status(), addr)
		}
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(giveUp) {
			ts.Fatalf("serve: slipway did not accept connections on %s within %v", addr, serveReadyTimeout)
		}
		p.waitFor(pollInterval)
	}
	ts.Logf("slipway serve running as pid %d on %s", cmd.Process.Pid, addr)
}

// stop-server
//
// Sends SIGTERM to slipway serve and waits for it to exit. It fails unless
// the server exits with status 0 (with !, unless it exits non-zero), and if
// it has not exited within 30s, after asking it for a goroutine dump. A
// failing script shows the end of serve.log.
func cmdStopServer(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 0 {
		ts.Fatalf("usage: stop-server")
	}
	st := stateOf(ts)
	p := st.server
	if p == nil {
		ts.Fatalf("stop-server: no server was started")
	}
	p.signal(syscall.SIGTERM)
	st.waitServer(neg, "stop-server")
}

// term-server
//
// Sends SIGTERM to slipway serve and returns at once, so that the script
// can watch a graceful stop; wait-server collects the exit.
func cmdTermServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! term-server (use ! wait-server)")
	}
	if len(args) != 0 {
		ts.Fatalf("usage: term-server")
	}
	st := stateOf(ts)
	if st.server == nil || st.server.exited() {
		ts.Fatalf("term-server: no server is running")
	}
	st.server.signal(syscall.SIGTERM)
}

// wait-server
//
// Waits for slipway serve to exit after term-server, like stop-server
// without the signal: it fails unless the server exits with status 0 (with
// !, unless it exits non-zero) within 30s, counted from the call.
func cmdWaitServer(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 0 {
		ts.Fatalf("usage: wait-server")
	}
	st := stateOf(ts)
	if st.server == nil {
		ts.Fatalf("wait-server: no server was started")
	}
	st.waitServer(neg, "wait-server")
}

func (st *scriptState) waitServer(neg bool, cmd string) {
	ts, p := st.ts, st.server
	if !p.waitFor(stopTimeout) {
		st.quit(p)
		ts.Fatalf("%s: slipway did not exit within %v of SIGTERM; killed it after SIGQUIT (goroutine dump in serve.log)", cmd, stopTimeout)
	}
	ts.Logf("slipway serve: %s", p.status())
	if failed := p.err != nil; failed != neg {
		ts.Fatalf("%s: slipway serve ended with %s", cmd, p.status())
	}
}

// reload-server
//
// Sends SIGHUP to slipway serve and waits until serve.log reports the
// reload: it fails if the configuration was not reloaded (with !, if it
// was), or if serve.log says neither within 30s.
func cmdReloadServer(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 0 {
		ts.Fatalf("usage: reload-server")
	}
	st := stateOf(ts)
	p := st.server
	if p == nil || p.exited() {
		ts.Fatalf("reload-server: no server is running")
	}
	logPath := filepath.Join(st.work, "serve.log")
	count := func() (ok, failed int) {
		data, err := os.ReadFile(logPath)
		ts.Check(err)
		return strings.Count(string(data), "configuration reloaded"), strings.Count(string(data), "configuration not reloaded")
	}
	ok0, failed0 := count()
	p.signal(syscall.SIGHUP)
	giveUp := time.Now().Add(stopTimeout)
	for {
		ok, failed := count()
		if ok > ok0 || failed > failed0 {
			if reloaded := ok > ok0; reloaded == neg {
				ts.Fatalf("reload-server: reloaded %v; serve.log ends with:\n%s", reloaded, tailFile(logPath, bgLogTailLines))
			}
			return
		}
		if p.exited() {
			ts.Fatalf("reload-server: slipway exited (%s)", p.status())
		}
		if time.Now().After(giveUp) {
			ts.Fatalf("reload-server: serve.log did not report the reload within %v", stopTimeout)
		}
		p.waitFor(pollInterval)
	}
}

// kill-server
//
// Sends SIGKILL to slipway serve, as a crash would, and waits for it to go.
// Processes it started (git receive-pack, hooks, ssh) keep running until
// they notice.
func cmdKillServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! kill-server")
	}
	if len(args) != 0 {
		ts.Fatalf("usage: kill-server")
	}
	st := stateOf(ts)
	p := st.server
	if p == nil {
		ts.Fatalf("kill-server: no server was started")
	}
	if p.exited() {
		ts.Fatalf("kill-server: slipway serve had already exited (%s)", p.status())
	}
	p.signal(syscall.SIGKILL)
	<-p.done
	ts.Logf("slipway serve: %s", p.status())
}

var bgName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// background NAME PROGRAM [ARG...]
//
// Starts PROGRAM with the script's environment and directory, stdin from
// /dev/null, stdout to $WORK/NAME.out and stderr to $WORK/NAME.err, and
// returns at once.
func cmdBackground(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! background (use ! wait-bg NAME to expect a failure)")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: background NAME PROGRAM [ARG...]")
	}
	name := args[0]
	if !bgName.MatchString(name) {
		ts.Fatalf("background: name %q must be letters, digits and _ (it names $%s_EXIT)", name, name)
	}
	st := stateOf(ts)
	if _, ok := st.bg[name]; ok {
		ts.Fatalf("background: %s was started and not waited for; wait-bg %s first", name, name)
	}
	path, err := lookPath(ts, args[1])
	ts.Check(err)
	stdout, err := os.Create(filepath.Join(st.work, name+".out"))
	ts.Check(err)
	defer stdout.Close()
	stderr, err := os.Create(filepath.Join(st.work, name+".err"))
	ts.Check(err)
	defer stderr.Close()

	cmd := exec.Command(path, args[2:]...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = scriptEnv(ts)
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	p, err := startProcess(st, cmd)
	ts.Check(err)
	st.bg[name] = p
	ts.Logf("%s running as pid %d", name, cmd.Process.Pid)
}

// wait-bg [-timeout DURATION] NAME
//
// Waits for the background program NAME to exit, sets $NAME_EXIT to its exit
// status (128+N when killed by signal N), and makes its output the stdout and
// stderr that the next stdout, stderr and cmp commands check. It fails if
// the program failed (with !, if it succeeded). Without -timeout it waits
// until shortly before the test binary's deadline.
func cmdWaitBg(ts *testscript.TestScript, neg bool, args []string) {
	st := stateOf(ts)
	fs := flag.NewFlagSet("wait-bg", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	timeout := fs.Duration("timeout", st.defaultWait(), "")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		ts.Fatalf("usage: wait-bg [-timeout DURATION] NAME")
	}
	name := fs.Arg(0)
	p, ok := st.bg[name]
	if !ok {
		ts.Fatalf("wait-bg: no background program %s (never started, or already waited for)", name)
	}
	if !p.waitFor(*timeout) {
		p.killGroup()
		<-p.done
		ts.Fatalf("wait-bg: %s did not exit within %v; killed it", name, *timeout)
	}
	delete(st.bg, name)

	stdout, err := os.ReadFile(filepath.Join(st.work, name+".out"))
	ts.Check(err)
	stderr, err := os.ReadFile(filepath.Join(st.work, name+".err"))
	ts.Check(err)
	_, _ = ts.Stdout().Write(stdout)
	_, _ = ts.Stderr().Write(stderr)
	ts.Setenv(name+"_EXIT", strconv.Itoa(p.exitCode()))
	ts.Logf("%s: %s", name, p.status())
	if failed := p.err != nil; failed != neg {
		if neg {
			ts.Fatalf("wait-bg: %s succeeded unexpectedly", name)
		}
		ts.Fatalf("wait-bg: %s failed: %s", name, p.status())
	}
}

// defaultWait leaves time, before the test binary's deadline, to stop the
// script's programs and print its log; zero means no limit.
func (st *scriptState) defaultWait() time.Duration {
	if st.deadline.IsZero() {
		return 0
	}
	left := time.Until(st.deadline)
	if left > 2*waitBgDeadlineSlack {
		return left - waitBgDeadlineSlack
	}
	return max(left/2, time.Second)
}

// kill-bg NAME
//
// Sends SIGKILL to the background program NAME and to everything it started
// (git push and its ssh, as when a user kills the job), and waits for it to
// exit. wait-bg NAME can still collect its output and status.
func cmdKillBg(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! kill-bg")
	}
	if len(args) != 1 {
		ts.Fatalf("usage: kill-bg NAME")
	}
	st := stateOf(ts)
	p, ok := st.bg[args[0]]
	if !ok {
		ts.Fatalf("kill-bg: no background program %s (never started, or already waited for)", args[0])
	}
	if p.exited() {
		ts.Logf("kill-bg: %s had already exited (%s)", args[0], p.status())
		return
	}
	p.killGroup()
	<-p.done
	ts.Logf("%s: %s", args[0], p.status())
}

// wait-file [-timeout DURATION] PATH [SUBSTRING]
//
// Waits until PATH exists and, if SUBSTRING is given, contains it. The
// default timeout (3m) only ends a broken run; it is not a performance goal.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! wait-file")
	}
	fs := flag.NewFlagSet("wait-file", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	timeout := fs.Duration("timeout", waitFileTimeout, "")
	if err := fs.Parse(args); err != nil || fs.NArg() < 1 || fs.NArg() > 2 {
		ts.Fatalf("usage: wait-file [-timeout DURATION] PATH [SUBSTRING]")
	}
	path := ts.MkAbs(fs.Arg(0))
	want := fs.Arg(1)
	giveUp := time.Now().Add(*timeout)
	for {
		data, err := os.ReadFile(path)
		if err == nil && strings.Contains(string(data), want) {
			return
		}
		if time.Now().After(giveUp) {
			switch {
			case errors.Is(err, os.ErrNotExist):
				ts.Fatalf("wait-file: %s did not appear within %v", fs.Arg(0), *timeout)
			case err != nil:
				ts.Fatalf("wait-file: %v", err)
			default:
				ts.Fatalf("wait-file: %s does not contain %q after %v; it ends with:\n%s",
					fs.Arg(0), want, *timeout, tailFile(path, bgLogTailLines))
			}
		}
		time.Sleep(pollInterval)
	}
}

// readlink PATH [WANT]
//
// Checks that PATH is a symbolic link and, given WANT, that its target as
// stored (not resolved) is exactly WANT; prints the target to stdout.
// ! readlink PATH checks that PATH is missing or not a symbolic link.
func cmdReadlink(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		if len(args) != 1 {
			ts.Fatalf("usage: ! readlink PATH (to check a target, use readlink PATH WANT)")
		}
		fi, err := os.Lstat(ts.MkAbs(args[0]))
		if err == nil && fi.Mode()&os.ModeSymlink != 0 {
			target, _ := os.Readlink(ts.MkAbs(args[0]))
			ts.Fatalf("readlink: %s is a symbolic link to %s", args[0], target)
		}
		return
	}
	if len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: readlink PATH [WANT]")
	}
	target, err := os.Readlink(ts.MkAbs(args[0]))
	if err != nil {
		ts.Fatalf("readlink: %v", err)
	}
	_, _ = fmt.Fprintln(ts.Stdout(), target)
	if len(args) == 2 && target != args[1] {
		ts.Fatalf("readlink: %s points to %s, want %s", args[0], target, args[1])
	}
}

// sleep DURATION
//
// Pauses the script; DURATION is a Go duration (500ms, 2s) or whole seconds.
func cmdSleep(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! sleep")
	}
	if len(args) != 1 {
		ts.Fatalf("usage: sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	if err != nil {
		secs, err2 := strconv.Atoi(args[0])
		if err2 != nil {
			ts.Fatalf("sleep: %v", err)
		}
		d = time.Duration(secs) * time.Second
	}
	time.Sleep(d)
}

// quit asks a hung server for a goroutine dump, then kills it.
func (st *scriptState) quit(p *process) {
	st.dumped = true
	p.signal(syscall.SIGQUIT)
	if !p.waitFor(quitDumpTimeout) {
		p.signal(syscall.SIGKILL)
		<-p.done
	}
}

// logf adds to the script's log, or to the test's when the script ran none
// of the commands above.
func (st *scriptState) logf(format string, args ...any) {
	if st.ts != nil {
		st.ts.Logf(format, args...)
		return
	}
	st.t.Log(fmt.Sprintf(format, args...))
}

// cleanup runs when the script ends, passed or failed: it stops the server
// and every background program, fails the script if any race-enabled
// process reported a data race, and shows the logs of a failed script.
func (st *scriptState) cleanup() {
	if p := st.server; p != nil && !p.exited() {
		p.signal(syscall.SIGTERM)
		if !p.waitFor(cleanupTermTimeout) {
			st.quit(p)
			st.logf("slipway serve did not exit within %v of SIGTERM at the end of the script; killed it after SIGQUIT (goroutine dump in serve.log)", cleanupTermTimeout)
		}
	}
	// The ssh and rsync of a server killed and not restarted live in the
	// process group it recorded (release.ProcGroup), outside st.groups.
	if data := filepath.Join(st.work, "data"); fileExists(filepath.Join(data, "run", "children.json")) {
		if _, err := release.StopLeftovers(context.Background(), data); err != nil {
			st.fail("stop what slipway serve left running: " + err.Error())
		}
	}
	names := make([]string, 0, len(st.bg))
	for name, p := range st.bg {
		names = append(names, name)
		if !p.exited() {
			p.killGroup()
			<-p.done
		}
	}
	sort.Strings(names)
	// Whatever the server and the background programs started and left
	// behind (hooks, ssh masters, a pushed git's ssh). Every leader has
	// been reaped by now, so a live process with a leader's pid took the
	// number over and the group may be its own: leave that one alone.
	for _, pgid := range st.groups {
		if err := syscall.Kill(pgid, 0); !errors.Is(err, syscall.ESRCH) {
			continue
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}

	if reports, _ := filepath.Glob(filepath.Join(st.work, "race.*")); len(reports) > 0 {
		for _, r := range reports {
			data, _ := os.ReadFile(r)
			st.logf("race report %s:\n%s", filepath.Base(r), data)
		}
		st.fail("slipway reported data races: see the race reports in the script log")
	}

	if !st.failed() {
		return
	}
	serveLog := filepath.Join(st.work, "serve.log")
	if _, err := os.Stat(serveLog); err == nil {
		lines := serveLogTailLines
		if st.dumped {
			lines = serveDumpLines
		}
		st.logf("serve.log ends with:\n%s", tailFile(serveLog, lines))
	}
	for _, name := range names {
		st.logf("background %s stdout ends with:\n%s\nstderr ends with:\n%s", name,
			tailFile(filepath.Join(st.work, name+".out"), bgLogTailLines),
			tailFile(filepath.Join(st.work, name+".err"), bgLogTailLines))
	}
}

// failed reports whether the script has failed so far. Scripts run through
// testscript.Run, whose T is a *testing.T underneath.
func (st *scriptState) failed() bool {
	if t, ok := st.t.(interface{ Failed() bool }); ok {
		return t.Failed()
	}
	return true
}

// fail marks the script failed without stopping the cleanup.
func (st *scriptState) fail(msg string) {
	if t, ok := st.t.(interface{ Error(...any) }); ok {
		t.Error(msg)
		return
	}
	st.t.Fatal(msg)
}

// tailFile returns the last n lines of the file at path, or a note saying
// why it cannot.
func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.SplitAfter(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[... %d earlier lines]\n", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "")
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
