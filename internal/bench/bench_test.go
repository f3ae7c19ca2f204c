//go:build unix

package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slipwayhq/slipway/internal/sshrig"
	"github.com/slipwayhq/slipway/release/transport/rsync"
)

// Each case deploys one release that is not measured (the first, a full
// upload for both sides), then -rounds releases measured with Slipway and
// with the baseline. Odd rounds run Slipway first, even rounds the
// baseline (the Go-tree cases rotate three sides the same way). Metrics
// are medians over the rounds (the default is 3; with two, their mean). `make bench`
// runs every case once (-benchtime 1x); b.N does not change the number of
// rounds.
var roundsFlag = flag.Int("rounds", 3, "measured releases per case, each deployed by Slipway and by the shell baseline")

const (
	appName = "bench"
	envName = "production"

	// baselineParallelism is the baseline's xargs -P: Slipway's default
	// parallelism.
	baselineParallelism = 10

	// Commit N is dated commitEpoch + N hours, so every release has its own
	// commit time, as real releases do. git archive stamps files with it.
	commitEpoch = 1767225600 // 2026-01-01T00:00:00Z

	// Limits that keep a broken run from hanging; they are not goals.
	rigStartTimeout = 3 * time.Minute
	serveTimeout    = time.Minute
	stepTimeout     = 10 * time.Minute
)

// Tree sizes.
const (
	liveFiles        = 2000
	incrementalFiles = 10000
	changedFileSize  = 16 << 10
	// The rollback case measures switching, not uploads: a small tree
	// keeps its run short.
	rollbackFiles = 200
)

var (
	buildOnce  sync.Once
	binDir     string
	slipwayBin string
	buildErr   error
)

func TestMain(m *testing.M) {
	// A surrounding git (a hook running the benchmarks) exports GIT_DIR and
	// the like; they would point every git here at that repository.
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "GIT_") {
			os.Unsetenv(name)
		}
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if goTreeDir != "" {
		os.RemoveAll(goTreeDir)
	}
	os.Exit(code)
}

// slipwayBinary builds the slipway binary once per run, without the race
// detector.
func slipwayBinary(b *testing.B) string {
	b.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "slipway-bench-bin-")
		if buildErr != nil {
			return
		}
		bin := filepath.Join(binDir, "slipway")
		out, err := exec.Command("go", "build", "-o", bin, "github.com/slipwayhq/slipway/cmd/slipway").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		slipwayBin = bin
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return slipwayBin
}

// requirePrograms skips the benchmark unless every program a deploy drives
// is installed.
func requirePrograms(b *testing.B) {
	b.Helper()
	var missing []string
	for _, name := range []string{"git", "ssh", "rsync", "tar", "xargs"} {
		if _, err := exec.LookPath(name); err != nil {
			missing = append(missing, name)
		}
	}
	if _, err := exec.LookPath("sshd"); err != nil {
		if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
			missing = append(missing, "sshd")
		}
	}
	if len(missing) > 0 {
		b.Skipf("skipping: the deploy benchmark drives the real git, ssh, sshd and rsync; not found: %s (scripts/deps.sh installs them)", strings.Join(missing, ", "))
	}
	out, err := exec.Command("git", "version").Output()
	if err != nil {
		b.Skipf("skipping: git version: %v", err)
	}
	m := regexp.MustCompile(`(\d+)\.(\d+)`).FindStringSubmatch(string(out))
	if m == nil {
		b.Skipf("skipping: cannot tell the git version from %q", strings.TrimSpace(string(out)))
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	if major < 2 || major == 2 && minor < 29 {
		b.Skipf("skipping: Slipway needs git 2.29 or later (proc-receive hooks), found %s", strings.TrimSpace(string(out)))
	}
}

// fleetOptions is the environment a case deploys.
type fleetOptions struct {
	hosts int
	waves []string // nil: Slipway's default
	// health is the environment's health command, "" for none; {dir} is
	// replaced by the case's directory.
	health string
	// repo, when set, is a repository whose branch production becomes the
	// developer's clone (cloned locally); otherwise the clone starts empty.
	repo string
	// latency, when set, puts a proxy in front of every host that delays
	// each chunk by this much in each direction; every side reaches the
	// hosts through it.
	latency time.Duration
	// capistrano sets up Capistrano 3 as a second baseline (f.cap), when
	// it is installed.
	capistrano bool
}

// fleet is one case's rig: sshd hosts, a running slipway serve, the
// developer's clone and the baseline's scripts.
type fleet struct {
	b       *testing.B
	dir     string
	rig     *sshrig.Rig
	work    string   // the developer's clone
	env     []string // environment of git, slipway and the baseline scripts
	cfgPath string
	logPath string // the daemon's JSON log
	logOff  int64  // how much of it has been read
	commits int
	port    int
	// pusher is how the developer reaches Slipway with ssh: the options
	// before the destination.
	pusher []string
	// How the baselines reach the hosts: directly, or through the
	// latency proxies.
	sshConfig, knownHosts string
	ports                 map[string]int // host name → the port every side dials
	servePID              int
	// cap is the Capistrano baseline, nil when it is not set up; capSkip
	// says why.
	cap     *capistrano
	capSkip string
}

// pusherSSH returns ssh's arguments up to and including the destination
// for a command run on Slipway's SSH server as the developer.
func (f *fleet) pusherSSH() []string {
	return append(slices.Clone(f.pusher), "-p", strconv.Itoa(f.port), "git@127.0.0.1")
}

func newFleet(b *testing.B, opt fleetOptions) *fleet {
	b.Helper()
	requirePrograms(b)
	bin := slipwayBinary(b)

	// Short paths: Slipway keeps its ControlMaster sockets in the data
	// directory when the path is short enough, as an operator's would be.
	dir, err := os.MkdirTemp("", "slipway-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	f := &fleet{b: b, dir: dir, work: filepath.Join(dir, "app"), cfgPath: filepath.Join(dir, "slipway.toml"), logPath: filepath.Join(dir, "serve.log")}

	ctx, cancel := context.WithTimeout(context.Background(), rigStartTimeout)
	defer cancel()
	// Each host its own HOME, as separate machines have: Capistrano
	// deploys under ~.
	rig, err := sshrig.StartWith(ctx, filepath.Join(dir, "hosts"), opt.hosts, "web", sshrig.Options{OwnHome: true})
	if errors.Is(err, sshrig.ErrUnavailable) {
		b.Skipf("skipping: needs real OpenSSH sshd and ssh: %v", err)
	}
	if err != nil {
		b.Fatalf("sshrig: %v (with %d hosts; ulimit -n and -u bound how many this machine can start)", err, opt.hosts)
	}
	b.Cleanup(func() { rig.Close() })
	f.rig = rig
	f.ports = map[string]int{}
	f.sshConfig, f.knownHosts = rig.SSHConfig, rig.KnownHosts
	for _, h := range rig.Hosts {
		f.ports[h.Name] = h.Port
	}
	if opt.latency > 0 {
		f.startProxies(opt.latency)
	}

	home := filepath.Join(dir, "home")
	sshDir := filepath.Join(home, ".ssh")
	must(b, os.MkdirAll(sshDir, 0o700))
	must(b, os.WriteFile(filepath.Join(home, ".gitconfig"), []byte(gitconfig), 0o644))
	clientConfig := filepath.Join(sshDir, "config")
	must(b, os.WriteFile(clientConfig, []byte(pusherSSHConfig), 0o600))
	// Slipway's own ssh calls get an empty ssh_config, so nothing of this
	// machine's ~/.ssh/config changes what is measured.
	hostsConfig := filepath.Join(sshDir, "hosts_config")
	must(b, os.WriteFile(hostsConfig, []byte("# Slipway's connections to the hosts use ssh's defaults.\n"), 0o600))
	alicePub, err := sshrig.WriteKeyPair(filepath.Join(sshDir, "alice"), "alice")
	must(b, err)

	f.pusher = []string{"-F", clientConfig, "-i", filepath.Join(sshDir, "alice")}
	f.env = append(os.Environ(),
		"HOME="+home,
		"LC_ALL=C",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_SSH_COMMAND=ssh -F "+clientConfig+" -i "+filepath.Join(sshDir, "alice"),
	)
	f.port, err = freePort()
	must(b, err)
	must(b, os.WriteFile(f.cfgPath, []byte(f.config(opt, alicePub, hostsConfig)), 0o600))
	f.run(bin, "trust", "--config", f.cfgPath)
	f.serve(bin)

	for _, h := range rig.Hosts {
		must(b, os.MkdirAll(filepath.Join(baselinePath(h), "releases"), 0o755))
	}
	must(b, os.WriteFile(filepath.Join(dir, "baseline.sh"), []byte(baselineScript), 0o755))
	must(b, os.WriteFile(filepath.Join(dir, "rollback.sh"), []byte(rollbackScript), 0o755))

	if opt.repo != "" {
		f.run("git", "clone", "-q", "--local", "-b", envName, opt.repo, f.work)
	} else {
		must(b, os.MkdirAll(f.work, 0o755))
		f.git("init", "-q", "-b", envName)
	}
	f.git("remote", "add", "deploy", fmt.Sprintf("ssh://git@127.0.0.1:%d/%s", f.port, appName))
	if opt.capistrano {
		f.setupCapistrano()
	}
	return f
}

const gitconfig = `[user]
	name = Alice Example
	email = alice@example.com
[advice]
	detachedHead = false
[gc]
	auto = 0
`

// pusherSSHConfig is the developer's ssh configuration for reaching Slipway.
const pusherSSHConfig = `Host *
	User git
	IdentitiesOnly yes
	StrictHostKeyChecking no
	UserKnownHostsFile /dev/null
	BatchMode yes
	LogLevel ERROR
	ConnectTimeout 10
`

func (f *fleet) config(opt fleetOptions, alicePub, hostsConfig string) string {
	var c strings.Builder
	fmt.Fprintf(&c, "listen = %q\n", fmt.Sprintf("127.0.0.1:%d", f.port))
	fmt.Fprintf(&c, "data_dir = %q\n", filepath.Join(f.dir, "data"))
	fmt.Fprintf(&c, "log_format = \"json\"\n\n")
	fmt.Fprintf(&c, "[ssh]\nkey = %q\nconfig = %q\n\n", f.rig.ClientKey, hostsConfig)
	fmt.Fprintf(&c, "[[users]]\nname = \"alice\"\nkeys = [%q]\n\n", alicePub)
	var names []string
	for _, h := range f.rig.Hosts {
		names = append(names, strconv.Quote(h.Name))
		fmt.Fprintf(&c, "[hosts.%s]\naddress = %q\nuser = %q\npath = %q\n\n", h.Name, fmt.Sprintf("127.0.0.1:%d", f.ports[h.Name]), h.User, filepath.Join(h.Root, "srv", "{app}", "{env}"))
	}
	fmt.Fprintf(&c, "[apps.%s.environments.%s]\nbranch = %q\nhosts = [%s]\npath = \"/srv/%s\"\n", appName, envName, envName, strings.Join(names, ", "), appName)
	if opt.waves != nil {
		var w []string
		for _, s := range opt.waves {
			w = append(w, strconv.Quote(s))
		}
		fmt.Fprintf(&c, "waves = [%s]\n", strings.Join(w, ", "))
	}
	if opt.health != "" {
		fmt.Fprintf(&c, "\n[apps.%s.environments.%s.health]\ncommand = %q\nretries = 1\n", appName, envName, strings.ReplaceAll(opt.health, "{dir}", f.dir))
	}
	return c.String()
}

// slipwayPath is where Slipway deploys on h; baselinePath where the
// baseline does.
func slipwayPath(h *sshrig.Host) string  { return filepath.Join(h.Root, "srv", appName, envName) }
func baselinePath(h *sshrig.Host) string { return filepath.Join(h.Root, "baseline") }

// serve starts slipway serve with its JSON log in f.logPath and stops it
// when the benchmark ends.
func (f *fleet) serve(bin string) {
	b := f.b
	logf, err := os.OpenFile(f.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	must(b, err)
	defer logf.Close()
	outf, err := os.Create(filepath.Join(f.dir, "serve.out"))
	must(b, err)
	defer outf.Close()
	cmd := exec.Command(bin, "serve", "--config", f.cfgPath)
	cmd.Dir = f.dir
	cmd.Env = f.env
	cmd.Stdout = outf
	cmd.Stderr = logf
	// Its own process group, so that the end of the case can stop what
	// it started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	must(b, cmd.Start())
	f.servePID = cmd.Process.Pid
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", f.port)
	deadline := time.Now().Add(serveTimeout)
	for {
		select {
		case <-done:
			b.Fatalf("slipway serve exited before listening:\n%s", f.logTail(40))
		default:
		}
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("slipway serve did not listen on %s within %v:\n%s", addr, serveTimeout, f.logTail(40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// run runs a program with the case's environment and fails the benchmark
// if it fails.
func (f *fleet) run(prog string, args ...string) string {
	f.b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Dir = f.dir
	cmd.Env = f.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		f.b.Fatalf("%s %s: %v\n%s", filepath.Base(prog), strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (f *fleet) git(args ...string) string {
	f.b.Helper()
	return f.run("git", append([]string{"-C", f.work}, args...)...)
}

// commit commits everything in the clone, dated an hour after the previous
// commit, and returns its id.
func (f *fleet) commit(msg string) string {
	f.b.Helper()
	f.commits++
	date := fmt.Sprintf("@%d +0000", commitEpoch+3600*f.commits)
	f.git("add", "-A")
	cmd := exec.Command("git", "-C", f.work, "commit", "-q", "-m", msg)
	cmd.Env = append(f.env, "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	if out, err := cmd.CombinedOutput(); err != nil {
		f.b.Fatalf("git commit: %v\n%s", err, out)
	}
	return strings.TrimSpace(f.git("rev-parse", "HEAD"))
}

// writeTree writes n text files of 200 to 2,000 bytes under dir/src, 100
// to a directory, the same on every run.
func writeTree(b *testing.B, dir string, n int) {
	b.Helper()
	rng := mrand.New(mrand.NewPCG(1, uint64(n)))
	for i := range n {
		p := filepath.Join(dir, "src", fmt.Sprintf("d%03d", i/100), fmt.Sprintf("f%05d.txt", i))
		if i%100 == 0 {
			must(b, os.MkdirAll(filepath.Dir(p), 0o755))
		}
		must(b, os.WriteFile(p, text(rng, 200+rng.IntN(1801)), 0o644))
	}
}

// text returns size bytes of lowercase letters in lines of 64.
func text(rng *mrand.Rand, size int) []byte {
	buf := make([]byte, size)
	for i := range buf {
		if i%65 == 64 {
			buf[i] = '\n'
		} else {
			buf[i] = byte('a' + rng.IntN(26))
		}
	}
	return buf
}

// pushResult is one git push as the developer saw it.
type pushResult struct {
	start  time.Time
	dur    time.Duration
	err    error // nil when git push exited 0
	output string
	lines  []timedLine // stderr lines with the time each arrived
}

type timedLine struct {
	at   time.Time
	text string
}

// push runs git push deploy production and times it from start to exit.
func (f *fleet) push() pushResult {
	f.b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", "-C", f.work, "push", "deploy", envName)
	cmd.Env = f.env
	stderr, err := cmd.StderrPipe()
	must(f.b, err)
	var res pushResult
	start := time.Now()
	must(f.b, cmd.Start())
	sc := bufio.NewScanner(stderr)
	sc.Split(scanLines)
	for sc.Scan() {
		res.lines = append(res.lines, timedLine{time.Now(), sc.Text()})
	}
	res.err = cmd.Wait()
	res.start, res.dur = start, time.Since(start)
	var out strings.Builder
	for _, l := range res.lines {
		out.WriteString(l.text + "\n")
	}
	res.output = out.String()
	return res
}

// scanLines splits at \n and at the \r git uses for progress.
func scanLines(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

var deployedRE = regexp.MustCompile(`remote: deployed (v\d+) to ` + envName + ` in `)

// pushOK pushes and fails the benchmark unless rel went live everywhere.
func (f *fleet) pushOK(rel string) pushResult {
	f.b.Helper()
	res := f.push()
	m := deployedRE.FindStringSubmatch(res.output)
	if res.err != nil || m == nil || m[1] != rel {
		f.b.Fatalf("git push of %s: %v\n%s\ndaemon log:\n%s", rel, res.err, res.output, f.logTail(30))
	}
	f.checkCurrent(slipwayPath, rel)
	return res
}

// checkCurrent fails the benchmark unless current points at rel on every
// host, under the deploy path path(h).
func (f *fleet) checkCurrent(path func(*sshrig.Host) string, rel string) {
	f.b.Helper()
	for _, h := range f.rig.Hosts {
		target, err := os.Readlink(filepath.Join(path(h), "current"))
		if err != nil || target != "releases/"+rel {
			f.b.Fatalf("%s: %s/current -> %q (%v), want releases/%s", h.Name, path(h), target, err, rel)
		}
	}
}

// logEntry is one line of the daemon's JSON log.
type logEntry struct {
	Message  string  `json:"message"`
	Release  string  `json:"release"`
	Step     string  `json:"step"`
	Host     string  `json:"host"`
	Files    int     `json:"files"`
	Bytes    int64   `json:"bytes"`
	Duration float64 `json:"duration"` // milliseconds
}

// readLog returns the log lines written since the last call.
func (f *fleet) readLog() []logEntry {
	f.b.Helper()
	data, err := os.ReadFile(f.logPath)
	must(f.b, err)
	if f.logOff > int64(len(data)) {
		f.logOff = 0
	}
	fresh := data[f.logOff:]
	// Only whole lines: the daemon may be writing the next one.
	if i := bytes.LastIndexByte(fresh, '\n'); i >= 0 {
		fresh = fresh[:i+1]
	} else {
		fresh = nil
	}
	f.logOff += int64(len(fresh))
	var out []logEntry
	for _, line := range bytes.Split(fresh, []byte("\n")) {
		var e logEntry
		if json.Unmarshal(line, &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

func (f *fleet) logTail(n int) string {
	data, err := os.ReadFile(f.logPath)
	if err != nil {
		return fmt.Sprintf("(no daemon log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// steps is where one Slipway deploy spent its time, from the daemon's log.
type steps struct {
	engine    time.Duration // Engine.Deploy from numbering to "deploy finished"
	push      time.Duration // git push starting → the release's first line (the Go-tree cases)
	export    time.Duration
	uploadMax time.Duration // the slowest host's upload
	files     []int         // files sent, per host
	bytes     []int64       // bytes sent, per host
}

func stepsOf(entries []logEntry, rel string) steps {
	var s steps
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	for _, e := range entries {
		if e.Release != rel {
			continue
		}
		switch {
		case e.Message == "deploy finished":
			s.engine = ms(e.Duration)
		case e.Step == "export":
			s.export = ms(e.Duration)
		case e.Step == "upload" && e.Message == "uploaded":
			s.uploadMax = max(s.uploadMax, ms(e.Duration))
			s.files = append(s.files, e.Files)
			s.bytes = append(s.bytes, e.Bytes)
		}
	}
	return s
}

// rsyncStats is what the baseline's rsync --stats said for one host.
type rsyncStats struct {
	files int64 // Number of regular files transferred
	sent  int64 // Total bytes sent
}

// baseline deploys commit as rel with the shell baseline (baselineScript)
// to every host, linking against prev ("" for none), and returns how long
// it took and rsync's statistics per host.
func (f *fleet) baseline(commit, rel, prev string) (time.Duration, []rsyncStats) {
	f.b.Helper()
	stats := filepath.Join(f.dir, "stats", rel)
	must(f.b, os.MkdirAll(stats, 0o755))
	args := []string{filepath.Join(f.dir, "baseline.sh"), strconv.Itoa(baselineParallelism), f.work, commit, filepath.Join(f.dir, "stage"), rel, prev, f.sshConfig, stats}
	for _, h := range f.rig.Hosts {
		args = append(args, h.Name, baselinePath(h))
	}
	dur := f.timeScript(args)
	f.checkCurrent(baselinePath, rel)
	var out []rsyncStats
	for _, h := range f.rig.Hosts {
		data, err := os.ReadFile(filepath.Join(stats, h.Name))
		must(f.b, err)
		out = append(out, parseRsyncStats(data))
	}
	return dur, out
}

// timeScript runs sh with args and returns how long it took.
func (f *fleet) timeScript(args []string) time.Duration {
	f.b.Helper()
	dur, _ := f.timeCommand(filepath.Base(args[0]), f.dir, f.env, "sh", args...)
	return dur
}

// timeCommand runs name with args in dir and returns how long it took and
// what it printed; a failure ends the benchmark with its output, labelled
// what.
func (f *fleet) timeCommand(what, dir string, env []string, name string, args ...string) (time.Duration, string) {
	f.b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	dur := time.Since(start)
	if err != nil {
		f.b.Fatalf("%s: %v\n%s", what, err, out.String())
	}
	return dur, out.String()
}

func parseRsyncStats(data []byte) rsyncStats {
	st := rsync.ParseStats(data)
	return rsyncStats{files: int64(st.Files), sent: st.BytesSent}
}

// fileListBytes is what rsync sends to a host when nothing needs sending:
// the file list and the protocol around it. It is measured with a dry run
// of the baseline's stage (the tree of rel) against the host's copy of rel.
// rsync's own "File list size" says 0 with incremental recursion, which
// rsync uses by default.
func (f *fleet) fileListBytes(rel string) float64 {
	f.b.Helper()
	h := f.rig.Hosts[0]
	out := f.run("rsync", "-a", "--delete", "-n", "--stats", "-e", "ssh -F "+f.sshConfig,
		filepath.Join(f.dir, "stage")+"/", h.Name+":"+filepath.Join(baselinePath(h), "releases", rel)+"/")
	return float64(parseRsyncStats([]byte(out)).sent)
}

// baselineScript is the deploy an operator would write by hand: export the
// commit with git archive, then per host, 10 at a time, rsync into a
// temporary directory hard-linking the previous release, rename it into
// place and switch current by rename.
//
//	baseline.sh PARALLELISM REPO COMMIT STAGE REL PREV SSH_CONFIG STATS_DIR [HOST PATH]...
const baselineScript = `set -eu
par=$1 repo=$2 commit=$3 stage=$4 rel=$5 prev=$6 cfg=$7 stats=$8
shift 8
rm -rf "$stage"
mkdir -p "$stage"
git -C "$repo" archive "$commit" | tar -x -C "$stage"
export stage rel prev cfg stats
printf '%s\n' "$@" | xargs -n 2 -P "$par" sh -c '
set -eu
host=$1 path=$2
link=
if [ -n "$prev" ]; then link=--link-dest=../$prev; fi
rsync -a --delete --stats $link -e "ssh -F $cfg" "$stage/" "$host:$path/releases/.$rel.partial/" >"$stats/$host"
ssh -F "$cfg" "$host" "cd $path && mv releases/.$rel.partial releases/$rel && ln -s releases/$rel current.tmp && mv -T current.tmp current"
' sh
`

// rollbackScript points current back at REL on every host, 10 at a time.
//
//	rollback.sh PARALLELISM SSH_CONFIG REL [HOST PATH]...
const rollbackScript = `set -eu
par=$1 cfg=$2 rel=$3
shift 3
export cfg rel
printf '%s\n' "$@" | xargs -n 2 -P "$par" sh -c '
ssh -F "$cfg" "$1" "cd $2 && ln -s releases/$rel current.tmp && mv -T current.tmp current"
' sh
`

// liveResult is one push-to-live case: medians over the rounds, in seconds.
type liveResult struct {
	slipway, baseline           float64
	firstSlipway, firstBaseline float64
	engine, export, upload      float64
	phases                      [len(phaseNames)]float64
}

var (
	liveMu      sync.Mutex
	liveResults = map[int]liveResult{}
)

// BenchmarkPushToLive: a ~2,000-file tree, one changed file per release,
// from git push to current switched on every host, against git archive +
// rsync --link-dest + ssh mv, with 1, 5 and 20 hosts.
func BenchmarkPushToLive(b *testing.B) {
	for _, n := range []int{1, 5, 20} {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			r := measurePushToLive(b, n)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(r.slipway, "slipway-s/op")
			b.ReportMetric(r.baseline, "baseline-s/op")
			b.ReportMetric(r.slipway/r.baseline, "ratio")
			b.ReportMetric(r.firstSlipway, "first-slipway-s")
			b.ReportMetric(r.firstBaseline, "first-baseline-s")
			b.ReportMetric(r.engine, "engine-s")
			b.ReportMetric(r.export, "export-s")
			b.ReportMetric(r.upload, "upload-max-s")
			for i, name := range phaseNames {
				b.ReportMetric(r.phases[i], "phase-"+name+"-s")
			}
		})
	}
}

func measurePushToLive(b *testing.B, n int) liveResult {
	f := newFleet(b, fleetOptions{hosts: n})
	writeTree(b, f.work, liveFiles-1)
	changes := filepath.Join(f.work, "CHANGES.txt")
	must(b, os.WriteFile(changes, []byte("release 1\n"), 0o644))
	c := f.commit("Release 1")

	var r liveResult
	res := f.pushOK("v1")
	r.firstSlipway = res.dur.Seconds()
	d, _ := f.baseline(c, "v1", "")
	r.firstBaseline = d.Seconds()
	f.readLog()
	b.Logf("%d hosts, first release v1: slipway %.2fs (%s), baseline %.2fs", n, res.dur.Seconds(), describePhases(b, res, "v1"), d.Seconds())

	var sw, bl, engine, export, upload []float64
	var phases [len(phaseNames)][]float64
	for i := 1; i <= *roundsFlag; i++ {
		rel, prev := fmt.Sprintf("v%d", i+1), fmt.Sprintf("v%d", i)
		must(b, os.WriteFile(changes, fmt.Appendf(nil, "release %d\n", i+1), 0o644))
		c := f.commit(fmt.Sprintf("Release %d", i+1))
		var res pushResult
		var base time.Duration
		if i%2 == 1 {
			res = f.pushOK(rel)
			base, _ = f.baseline(c, rel, prev)
		} else {
			base, _ = f.baseline(c, rel, prev)
			res = f.pushOK(rel)
		}
		st := stepsOf(f.readLog(), rel)
		for j, d := range phasesOf(b, res, rel) {
			phases[j] = append(phases[j], d.Seconds())
		}
		b.Logf("%d hosts, %s: slipway %.2fs (%s; export %.2fs, slowest upload %.2fs), baseline %.2fs",
			n, rel, res.dur.Seconds(), describePhases(b, res, rel), st.export.Seconds(), st.uploadMax.Seconds(), base.Seconds())
		sw = append(sw, res.dur.Seconds())
		bl = append(bl, base.Seconds())
		engine = append(engine, st.engine.Seconds())
		export = append(export, st.export.Seconds())
		upload = append(upload, st.uploadMax.Seconds())
	}
	r.slipway, r.baseline = median(sw), median(bl)
	r.engine, r.export, r.upload = median(engine), median(export), median(upload)
	for j := range phaseNames {
		r.phases[j] = median(phases[j])
	}
	liveMu.Lock()
	liveResults[n] = r
	liveMu.Unlock()
	return r
}

// phaseNames name the parts of a successful push, told apart by when its
// remote: lines reached the pusher:
//
//	start    git push starts → "release vN" (push, receive-pack, hook, tag)
//	connect  → "export ok" (ssh to every host to read current, git archive)
//	upload   → the last "upload" line (every host's rsync)
//	switch   → the last "current → releases/vN" (waves, health checks)
//	finish   → "deployed vN" (branch, note, pruning)
//	exit     → git push exits (closing the ssh connections, the hook's answer)
var phaseNames = [...]string{"start", "connect", "upload", "switch", "finish", "exit"}

// describePhases says how long each phase of a successful push took.
func describePhases(b *testing.B, res pushResult, rel string) string {
	b.Helper()
	ph := phasesOf(b, res, rel)
	var desc []string
	for j, name := range phaseNames {
		desc = append(desc, fmt.Sprintf("%s %.2fs", name, ph[j].Seconds()))
	}
	return strings.Join(desc, ", ")
}

func phasesOf(b *testing.B, res pushResult, rel string) [len(phaseNames)]time.Duration {
	b.Helper()
	var marks [len(phaseNames) - 1]time.Time
	for _, l := range res.lines {
		t := strings.TrimPrefix(l.text, "remote: ")
		switch {
		case strings.Contains(t, ": release "+rel+" ("):
			marks[0] = l.at
		case strings.HasPrefix(t, "export ") && strings.Contains(t, " ok "):
			marks[1] = l.at
		case strings.HasPrefix(t, "upload "):
			marks[2] = l.at
		case strings.Contains(t, "current → releases/"+rel):
			marks[3] = l.at
		case strings.HasPrefix(t, "deployed "+rel+" "):
			marks[4] = l.at
		}
	}
	var out [len(phaseNames)]time.Duration
	prev := res.start
	for i, m := range marks {
		if m.IsZero() {
			b.Fatalf("push of %s: no line for the %s phase:\n%s", rel, phaseNames[i], res.output)
		}
		out[i] = m.Sub(prev)
		prev = m
	}
	out[len(out)-1] = res.start.Add(res.dur).Sub(prev)
	return out
}

// BenchmarkIncremental: one 16 KiB file changes in a ~10,000-file tree
// deployed to 5 hosts. Besides time it reports the bytes rsync sent to each
// host, for Slipway and for the baseline, next to the changed file's size
// and rsync's file list. Slipway's bytes are rsync's "Total bytes sent",
// which its `upload HOST ok ... sent` line prints rounded and its log
// records exactly; they are taken from the log.
func BenchmarkIncremental(b *testing.B) {
	f := newFleet(b, fleetOptions{hosts: 5})
	writeTree(b, f.work, incrementalFiles-1)
	changed := filepath.Join(f.work, "data", "changed.txt")
	must(b, os.MkdirAll(filepath.Dir(changed), 0o755))
	writeChanged := func(round int) {
		rng := mrand.New(mrand.NewPCG(2, uint64(round)))
		must(b, os.WriteFile(changed, text(rng, changedFileSize), 0o644))
	}
	writeChanged(1)
	c := f.commit("Release 1")
	f.pushOK("v1")
	f.baseline(c, "v1", "")
	f.readLog()

	var sw, bl, sSent, bSent, sFiles, bFiles []float64
	var fileList float64 // the same tree every round
	for i := 1; i <= *roundsFlag; i++ {
		rel, prev := fmt.Sprintf("v%d", i+1), fmt.Sprintf("v%d", i)
		writeChanged(i + 1)
		c := f.commit(fmt.Sprintf("Release %d", i+1))
		var res pushResult
		var base time.Duration
		var bstats []rsyncStats
		if i%2 == 1 {
			res = f.pushOK(rel)
			base, bstats = f.baseline(c, rel, prev)
		} else {
			base, bstats = f.baseline(c, rel, prev)
			res = f.pushOK(rel)
		}
		s := res.dur
		st := stepsOf(f.readLog(), rel)
		if len(st.bytes) != len(f.rig.Hosts) {
			b.Fatalf("%s: the daemon logged %d uploads, want %d", rel, len(st.bytes), len(f.rig.Hosts))
		}
		var bs, bf []float64
		for _, x := range bstats {
			bs = append(bs, float64(x.sent))
			bf = append(bf, float64(x.files))
		}
		if i == 1 {
			fileList = f.fileListBytes(rel)
		}
		fl := fileList
		var ss, sf []float64
		for j := range st.bytes {
			ss = append(ss, float64(st.bytes[j]))
			sf = append(sf, float64(st.files[j]))
		}
		b.Logf("%s: slipway %.2fs (%s; export %.2fs), %.0f files and %.0f B per host; baseline %.2fs, %.0f files and %.0f B per host (file list %.0f B)",
			rel, s.Seconds(), describePhases(b, res, rel), st.export.Seconds(), mean(sf), mean(ss), base.Seconds(), mean(bf), mean(bs), fl)
		sw = append(sw, s.Seconds())
		bl = append(bl, base.Seconds())
		sSent = append(sSent, mean(ss))
		bSent = append(bSent, mean(bs))
		sFiles = append(sFiles, mean(sf))
		bFiles = append(bFiles, mean(bf))
	}
	budget := 2*float64(changedFileSize) + fileList
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(median(sw), "slipway-s/op")
	b.ReportMetric(median(bl), "baseline-s/op")
	b.ReportMetric(median(sw)/median(bl), "ratio")
	b.ReportMetric(changedFileSize, "changed-B")
	b.ReportMetric(fileList, "filelist-B")
	b.ReportMetric(median(sSent), "slipway-sent-B/host")
	b.ReportMetric(median(bSent), "baseline-sent-B/host")
	b.ReportMetric(median(sSent)/budget, "sent/budget")
	b.ReportMetric(median(sFiles), "slipway-files/host")
	b.ReportMetric(median(bFiles), "baseline-files/host")
}

// BenchmarkRollback: 20 hosts, switched all at once (waves = ["100%"]),
// with a health check on every host. Each round measures three things:
//
//   - Slipway's rollback command, `ssh SERVER rollback APP ENV vN`, from its
//     start to its exit with every host on vN (slipway-s/op), and to the
//     moment the last host's current was seen on vN (switched-s);
//   - the rollback inside a failed deploy: the health check fails on the
//     last host, so every host switches back. rollback-s is how long hosts
//     spent on the failed release (first switch to last switch back, seen
//     on the hosts' current symlinks), undo-s from the failure reaching the
//     pusher to the last switch back, cleanup-s from the last host reported
//     rolled back to the end of git push;
//   - the baseline: ssh to each host to point current back, 10 at a time.
func BenchmarkRollback(b *testing.B) {
	const n = 20
	f := newFleet(b, fleetOptions{hosts: n, waves: []string{"100%"}, health: "test ! -e {dir}/fail-$SLIPWAY_HOST"})
	writeTree(b, f.work, rollbackFiles-1)
	changes := filepath.Join(f.work, "CHANGES.txt")
	next := 1 // the next release number
	pushNext := func() string {
		must(b, os.WriteFile(changes, fmt.Appendf(nil, "release %d\n", next), 0o644))
		c := f.commit(fmt.Sprintf("Release %d", next))
		next++
		return c
	}
	c1 := pushNext()
	f.pushOK("v1")
	pushNext()
	f.pushOK("v2")
	live, other := "v2", "v1"
	// The baseline's hosts run b2 and go back to b1.
	f.baseline(c1, "b1", "")
	f.baseline(c1, "b2", "b1")
	failing := f.rig.Hosts[n-1].Name
	failFile := filepath.Join(f.dir, "fail-"+failing)

	var links []string
	for _, h := range f.rig.Hosts {
		links = append(links, filepath.Join(slipwayPath(h), "current"))
	}
	rollbackArgs := []string{filepath.Join(f.dir, "rollback.sh"), strconv.Itoa(baselineParallelism), f.sshConfig, "b1"}
	for _, h := range f.rig.Hosts {
		rollbackArgs = append(rollbackArgs, h.Name, baselinePath(h))
	}

	var cmds, switched, pushes, windows, undos, cleanups, bl []float64
	command := func() {
		w := watchSwitches(links, "releases/"+other, "")
		args := append(f.pusherSSH(), "rollback", appName, envName, other)
		ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "ssh", args...)
		cmd.Env = f.env
		start := time.Now()
		out, err := cmd.CombinedOutput()
		dur := time.Since(start)
		on, _ := w.finish()
		if err != nil {
			b.Fatalf("rollback to %s: %v\n%s\ndaemon log:\n%s", other, err, out, f.logTail(30))
		}
		f.checkCurrent(slipwayPath, other)
		last, ok := latest(on)
		if !ok {
			b.Fatalf("rollback to %s: no host was seen switching", other)
		}
		cmds = append(cmds, dur.Seconds())
		switched = append(switched, last.Sub(start).Seconds())
		b.Logf("rollback %s → %s: every host switched after %.2fs, command exited after %.2fs", live, other, last.Sub(start).Seconds(), dur.Seconds())
		live, other = other, live
	}
	failedPush := func() {
		rel := fmt.Sprintf("v%d", next)
		pushNext()
		must(b, os.WriteFile(failFile, nil, 0o644))
		defer os.Remove(failFile)
		w := watchSwitches(links, "releases/"+rel, "releases/"+live)
		res := f.push()
		on, off := w.finish()
		if res.err == nil || !strings.Contains(res.output, "health check failed on "+failing) {
			b.Fatalf("push of %s: want a failed health check on %s, got %v\n%s", rel, failing, res.err, res.output)
		}
		f.checkCurrent(slipwayPath, live)
		first, ok1 := earliest(on)
		lastBack, ok2 := latest(off)
		if !ok1 || !ok2 {
			b.Fatalf("push of %s: no host was seen switching to %s and back", rel, rel)
		}
		// The failed health check, and the last host reported rolled back.
		var failedAt, rolledAt time.Time
		for _, l := range res.lines {
			t := strings.TrimPrefix(l.text, "remote: ")
			switch {
			case failedAt.IsZero() && strings.HasPrefix(t, "health ") && strings.Contains(t, "FAILED"):
				failedAt = l.at
			case strings.HasPrefix(t, "rollback "):
				rolledAt = l.at
			}
		}
		if failedAt.IsZero() || rolledAt.IsZero() {
			b.Fatalf("push of %s: no health FAILED or rollback line:\n%s", rel, res.output)
		}
		end := res.start.Add(res.dur)
		pushes = append(pushes, res.dur.Seconds())
		windows = append(windows, lastBack.Sub(first).Seconds())
		undos = append(undos, lastBack.Sub(failedAt).Seconds())
		cleanups = append(cleanups, end.Sub(rolledAt).Seconds())
		b.Logf("failed deploy %s: push exited after %.2fs; hosts on %s for %.2fs; all back %.2fs after the failure was reported; push exited %.2fs after the last rollback line",
			rel, res.dur.Seconds(), rel, lastBack.Sub(first).Seconds(), lastBack.Sub(failedAt).Seconds(), end.Sub(rolledAt).Seconds())
	}
	baseline := func() {
		for _, h := range f.rig.Hosts {
			tmp := filepath.Join(baselinePath(h), "current.tmp")
			os.Remove(tmp)
			must(b, os.Symlink("releases/b2", tmp))
			must(b, os.Rename(tmp, filepath.Join(baselinePath(h), "current")))
		}
		d := f.timeScript(rollbackArgs)
		f.checkCurrent(baselinePath, "b1")
		bl = append(bl, d.Seconds())
		b.Logf("baseline: 20 hosts back in %.2fs", d.Seconds())
	}
	for i := 1; i <= *roundsFlag; i++ {
		if i%2 == 1 {
			command()
			failedPush()
			baseline()
		} else {
			baseline()
			command()
			failedPush()
		}
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(median(cmds), "slipway-s/op")
	b.ReportMetric(median(switched), "switched-s")
	b.ReportMetric(median(bl), "baseline-s/op")
	b.ReportMetric(median(cmds)/median(bl), "ratio")
	b.ReportMetric(median(pushes), "failed-push-s")
	b.ReportMetric(median(windows), "rollback-s")
	b.ReportMetric(median(undos), "undo-s")
	b.ReportMetric(median(cleanups), "cleanup-s")
	b.ReportMetric(median(undos)/median(bl), "undo-ratio")
}

// switchWatch polls current symlinks to see when each host moved to a
// release (on) and when it moved from there to another one (off).
type switchWatch struct {
	links      []string
	to, back   string
	on, off    []time.Time
	stop, done chan struct{}
}

// watchSwitches watches links for a move to target to, and then to back
// ("" for no such move).
func watchSwitches(links []string, to, back string) *switchWatch {
	w := &switchWatch{links: links, to: to, back: back,
		on: make([]time.Time, len(links)), off: make([]time.Time, len(links)),
		stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop()
	return w
}

func (w *switchWatch) loop() {
	defer close(w.done)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		now := time.Now()
		for i, l := range w.links {
			target, err := os.Readlink(l)
			switch {
			case err != nil:
			case target == w.to && w.on[i].IsZero():
				w.on[i] = now
			case w.back != "" && target == w.back && !w.on[i].IsZero() && w.off[i].IsZero():
				w.off[i] = now
			}
		}
		select {
		case <-w.stop:
			return
		case <-tick.C:
		}
	}
}

// finish stops watching and returns when each host was first seen on the
// release and when back (zero when not seen).
func (w *switchWatch) finish() (on, off []time.Time) {
	close(w.stop)
	<-w.done
	return w.on, w.off
}

// earliest and latest return the first and last of the non-zero times,
// and false when every time is zero.
func earliest(ts []time.Time) (time.Time, bool) {
	var first time.Time
	for _, t := range ts {
		if !t.IsZero() && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	return first, !first.IsZero()
}

func latest(ts []time.Time) (time.Time, bool) {
	var last time.Time
	for _, t := range ts {
		if t.After(last) {
			last = t
		}
	}
	return last, !last.IsZero()
}

// BenchmarkScaling reports push-to-live at 5 and 20 hosts as a multiple of
// the 1-host time, for Slipway and for the baseline. It reuses what
// BenchmarkPushToLive measured in the same run, and measures what is
// missing.
func BenchmarkScaling(b *testing.B) {
	var r [3]liveResult
	for i, n := range []int{1, 5, 20} {
		liveMu.Lock()
		res, ok := liveResults[n]
		liveMu.Unlock()
		if !ok {
			res = measurePushToLive(b, n)
		}
		r[i] = res
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(r[0].slipway, "slipway-1host-s")
	b.ReportMetric(r[1].slipway/r[0].slipway, "slipway-5/1")
	b.ReportMetric(r[2].slipway/r[0].slipway, "slipway-20/1")
	b.ReportMetric(r[1].baseline/r[0].baseline, "baseline-5/1")
	b.ReportMetric(r[2].baseline/r[0].baseline, "baseline-20/1")
}

// BenchmarkSSHCall is the unit cost behind the deploy numbers: one ssh
// command with a fresh connection (handshake and login) against one sent
// over an open ControlMaster connection, as Slipway's calls to a host are,
// and the part of either that is the host's login shell starting: with the
// login user's start-up files (login-shell) and without them (plain-shell).
func BenchmarkSSHCall(b *testing.B) {
	requirePrograms(b)
	dir, err := os.MkdirTemp("", "slipway-bench-")
	must(b, err)
	b.Cleanup(func() { os.RemoveAll(dir) })
	ctx, cancel := context.WithTimeout(context.Background(), rigStartTimeout)
	defer cancel()
	rig, err := sshrig.Start(ctx, filepath.Join(dir, "hosts"), 1, "web")
	if errors.Is(err, sshrig.ErrUnavailable) {
		b.Skipf("skipping: needs real OpenSSH sshd and ssh: %v", err)
	}
	must(b, err)
	b.Cleanup(func() { rig.Close() })

	const calls = 10
	timeCalls := func(extra ...string) float64 {
		var ds []float64
		for range calls {
			args := append([]string{"-F", rig.SSHConfig}, extra...)
			start := time.Now()
			if out, err := exec.Command("ssh", append(args, "web-1", "true")...).CombinedOutput(); err != nil {
				b.Fatalf("ssh: %v\n%s", err, out)
			}
			ds = append(ds, time.Since(start).Seconds())
		}
		return median(ds)
	}
	fresh := timeCalls()
	ctl := []string{"-o", "ControlPath=" + filepath.Join(dir, "ctl-%C")}
	// The master keeps the standard streams it was started with, so they
	// must not be pipes that this process waits on.
	errPath := filepath.Join(dir, "master.err")
	errFile, err := os.Create(errPath)
	must(b, err)
	master := exec.Command("ssh", append(append([]string{"-F", rig.SSHConfig}, ctl...), "-o", "ControlMaster=yes", "-N", "-f", "web-1")...)
	master.Stderr = errFile
	err = master.Run()
	errFile.Close()
	if err != nil {
		msg, _ := os.ReadFile(errPath)
		b.Fatalf("ssh -M: %v\n%s", err, msg)
	}
	b.Cleanup(func() {
		exec.Command("ssh", append(append([]string{"-F", rig.SSHConfig}, ctl...), "-O", "exit", "web-1")...).Run()
	})
	mux := timeCalls(ctl...)

	// sshd runs every command through the login user's shell, and Debian's
	// bash reads ~/.bashrc when started by sshd (it sees SSH_CLIENT), so
	// what that file does is paid on every call. Time the same start here.
	out, err := exec.Command("ssh", "-F", rig.SSHConfig, "web-1", `printf '%s\n%s' "$SHELL" "$HOME"`).Output()
	must(b, err)
	shell, home, _ := strings.Cut(string(out), "\n")
	// The same start with an empty home directory: what the shell costs
	// without the user's start-up files.
	empty := filepath.Join(dir, "empty-home")
	must(b, os.Mkdir(empty, 0o755))
	timeShell := func(home string) float64 {
		var starts []float64
		for range calls {
			cmd := exec.Command(shell, "-c", "true")
			cmd.Env = []string{"HOME=" + home, "PATH=/usr/local/bin:/usr/bin:/bin", "SSH_CLIENT=127.0.0.1 40000 22", "SSH_CONNECTION=127.0.0.1 40000 127.0.0.1 22"}
			start := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%s -c true: %v\n%s", shell, err, out)
			}
			starts = append(starts, time.Since(start).Seconds())
		}
		return median(starts)
	}
	login, plain := timeShell(home), timeShell(empty)
	b.Logf("login shell %s, home %s", shell, home)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(fresh, "fresh-s/call")
	b.ReportMetric(mux, "controlmaster-s/call")
	b.ReportMetric(login, "login-shell-s/call")
	b.ReportMetric(plain, "plain-shell-s/call")
	b.ReportMetric(fresh/mux, "ratio")
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
