//go:build unix

package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipwayhq/slipway/internal/sshrig"
)

// The Go-tree cases deploy a real tree nobody here wrote: the installed
// toolchain's source ($(go env GOROOT)/src, about 11,500 files and 137 MB)
// committed once per run as a git repository, with one changed file per
// incremental release. Three sides deploy it, interleaved round by round:
// Slipway (from git push to its exit), the shell baseline (baselineScript)
// and Capistrano 3 (capistrano_test.go), when it is installed.

var (
	goTreeOnce  sync.Once
	goTreeDir   string // removed by TestMain
	goTreeRepo  string
	goTreeFiles int
	goTreeErr   error
)

// goTreeChanged is the file each incremental release changes: a line is
// appended to it.
const goTreeChanged = "fmt/print.go"

// goTree returns a repository whose branch production holds the Go source
// tree in one commit, built on first use and shared by every case.
func goTree(b *testing.B) string {
	b.Helper()
	goTreeOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOROOT").Output()
		if err != nil {
			goTreeErr = fmt.Errorf("go env GOROOT: %w", err)
			return
		}
		src := filepath.Join(strings.TrimSpace(string(out)), "src")
		if goTreeDir, goTreeErr = os.MkdirTemp("", "slipway-bench-gotree-"); goTreeErr != nil {
			return
		}
		repo := filepath.Join(goTreeDir, "repo")
		env := []string{"HOME=" + goTreeDir, "PATH=" + os.Getenv("PATH"), "LC_ALL=C", "GIT_CONFIG_NOSYSTEM=1",
			fmt.Sprintf("GIT_AUTHOR_DATE=@%d +0000", commitEpoch), fmt.Sprintf("GIT_COMMITTER_DATE=@%d +0000", commitEpoch)}
		for _, args := range [][]string{
			{"cp", "-a", src, repo},
			{"git", "init", "-q", "-b", envName, repo},
			{"git", "-C", repo, "add", "-A"},
			{"git", "-C", repo, "-c", "user.name=Bench", "-c", "user.email=bench@example.com", "-c", "gc.auto=0", "commit", "-q", "-m", "Go source tree"},
			// A developer's repository is packed (git gc does it as
			// history grows; a clone arrives packed). Loose objects would
			// make the first push compress every one of them, a cost no
			// real first push pays. Every side reads this packed
			// repository: the clone Slipway pushes from, Capistrano's
			// bare repository and the shell's git archive. gc.auto=0
			// above keeps the commit from starting a gc of its own in
			// the background, while the benchmark runs.
			{"git", "-C", repo, "repack", "-adfq"},
		} {
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Env = env
			if out, err := cmd.CombinedOutput(); err != nil {
				goTreeErr = fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out)
				return
			}
		}
		out, err = exec.Command("git", "-C", repo, "ls-files").Output()
		if err != nil {
			goTreeErr = fmt.Errorf("git ls-files: %w", err)
			return
		}
		goTreeFiles = bytes.Count(out, []byte("\n"))
		goTreeRepo = repo
	})
	if goTreeErr != nil {
		b.Fatal(goTreeErr)
	}
	return goTreeRepo
}

// sideNames are the deploy tools compared, Slipway first.
var sideNames = [...]string{"slipway", "shell", "capistrano"}

const (
	slipwaySide = iota
	shellSide
	capSide
)

// sample is one timed operation: seconds from start to exit, and the
// remote sessions (sshd's "Starting session") and logins it cost per
// host.
type sample struct {
	secs, sessions, logins float64
}

// scenarioOptions choose what one case runs.
type scenarioOptions struct {
	hosts    int
	latency  time.Duration
	goTree   bool // the Go tree; otherwise a small generated tree
	oneFile  bool // measure one-file deploys
	rollback bool // measure rollbacks
	noCap    bool // leave Capistrano out
}

// scenario is one case's fleet and what it measured, keyed by
// "first/slipway", "onefile/shell", "rollback-push/slipway", ...
type scenario struct {
	f       *fleet
	opt     scenarioOptions
	changed string // path in the clone of the file each release changes
	sides   []int
	res     map[string][]sample
	next    int    // the next release number
	commit  string // the newest commit
	peakMB  float64
	// steps holds Slipway's own export and slowest upload per deploy,
	// from its log, keyed like res ("first", "onefile").
	steps map[string][]steps
	key   string // what deployAll is measuring
}

func newScenario(b *testing.B, opt scenarioOptions) *scenario {
	fo := fleetOptions{hosts: opt.hosts, latency: opt.latency, capistrano: !opt.noCap}
	if opt.goTree {
		fo.repo = goTree(b)
	}
	f := newFleet(b, fo)
	s := &scenario{f: f, opt: opt, res: map[string][]sample{}, steps: map[string][]steps{}, next: 1, sides: []int{slipwaySide, shellSide}}
	if opt.goTree {
		s.changed = filepath.Join(f.work, goTreeChanged)
	} else {
		writeTree(b, f.work, rollbackFiles-1)
		s.changed = filepath.Join(f.work, "CHANGES.txt")
		must(b, os.WriteFile(s.changed, []byte("release 0\n"), 0o644))
	}
	switch {
	case f.cap != nil:
		s.sides = append(s.sides, capSide)
	case opt.noCap:
		b.Logf("Capistrano columns left out of this case")
	default:
		b.Logf("Capistrano columns skipped: %s", f.capSkip)
		fmt.Printf("%s: Capistrano columns skipped: %s\n", b.Name(), f.capSkip)
	}
	return s
}

// release commits the next release's change: one line appended to the
// changed file, the release's marker.
func (s *scenario) release() (rel, marker string) {
	rel = fmt.Sprintf("v%d", s.next)
	s.next++
	marker = fmt.Sprintf("// bench release %s\n", rel)
	fd, err := os.OpenFile(s.changed, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	must(s.f.b, err)
	_, err = fd.WriteString(marker)
	must(s.f.b, err)
	must(s.f.b, fd.Close())
	s.commit = s.f.commit("Release " + rel)
	return rel, marker
}

// counts returns each host's sessions and logins so far.
func (f *fleet) counts() (sessions, logins []int) {
	for _, h := range f.rig.Hosts {
		sessions = append(sessions, h.Sessions())
		logins = append(logins, h.Logins())
	}
	return sessions, logins
}

// measure runs op, which returns its own duration, and records it with
// the sessions and logins it cost per host under key.
func (s *scenario) measure(key string, op func() time.Duration) sample {
	f := s.f
	s0, l0 := f.counts()
	d := op()
	s1, l1 := f.counts()
	var ds, dl float64
	for i := range s0 {
		ds += float64(s1[i] - s0[i])
		dl += float64(l1[i] - l0[i])
	}
	n := float64(len(s0))
	sm := sample{secs: d.Seconds(), sessions: ds / n, logins: dl / n}
	s.res[key] = append(s.res[key], sm)
	return sm
}

// deploy deploys the newest commit as rel with one side.
func (s *scenario) deploy(side int, rel, prev string) time.Duration {
	f := s.f
	switch side {
	case slipwaySide:
		f.readLog()
		res := f.pushOK(rel)
		if s.key != "" {
			st := stepsOf(f.readLog(), rel)
			// The push itself: from git push starting to the release's
			// first line (objects sent, received and checked; the tag).
			for _, l := range res.lines {
				if strings.Contains(l.text, ": release "+rel+" (") {
					st.push = l.at.Sub(res.start)
					break
				}
			}
			s.steps[s.key] = append(s.steps[s.key], st)
		}
		return res.dur
	case shellSide:
		d, _ := f.baseline(s.commit, rel, prev)
		return d
	default:
		return f.capDeployOK()
	}
}

// checkChanged fails unless every side's live release has the changed
// file as of marker.
func (s *scenario) checkChanged(marker string) {
	f := s.f
	rel := strings.TrimPrefix(s.changed, f.work+"/")
	paths := map[string]func(*sshrig.Host) string{"slipway": slipwayPath, "shell": baselinePath}
	if f.cap != nil {
		paths["capistrano"] = capPath
	}
	for side, path := range paths {
		for _, h := range f.rig.Hosts {
			data, err := os.ReadFile(filepath.Join(path(h), "current", rel))
			if err != nil || !bytes.HasSuffix(data, []byte(marker)) {
				f.b.Fatalf("%s on %s: %s does not end with %q (%v)", side, h.Name, rel, marker, err)
			}
		}
	}
}

// deployAll deploys the next release with every side, starting with
// sides[first], and records each under key ("" records nothing).
func (s *scenario) deployAll(key string, first int) {
	prev := fmt.Sprintf("v%d", s.next-1)
	if s.next == 1 {
		prev = ""
	}
	rel, marker := s.release()
	s.key = key
	var line []string
	for j := range s.sides {
		side := s.sides[(first+j)%len(s.sides)]
		op := func() time.Duration { return s.deploy(side, rel, prev) }
		if key == "" {
			op()
			continue
		}
		sm := s.measure(key+"/"+sideNames[side], op)
		line = append(line, fmt.Sprintf("%s %.2fs %.1f sessions/host", sideNames[side], sm.secs, sm.sessions))
	}
	s.checkChanged(marker)
	if key != "" {
		s.f.b.Logf("%d hosts, %s %s: %s", s.opt.hosts, key, rel, strings.Join(line, "; "))
	}
}

// slipwayRollback goes back to rel with `git push deploy +rel:rollback`
// (push) or `ssh SERVER rollback APP ENV rel`.
func (s *scenario) slipwayRollback(rel string, push bool) time.Duration {
	f := s.f
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	var cmd *exec.Cmd
	if push {
		cmd = exec.CommandContext(ctx, "git", "-C", f.work, "push", "deploy", "+"+rel+":rollback")
	} else {
		cmd = exec.CommandContext(ctx, "ssh", append(f.pusherSSH(), "rollback", appName, envName, rel)...)
	}
	cmd.Env = f.env
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		f.b.Fatalf("rollback to %s: %v\n%s\ndaemon log:\n%s", rel, err, out, f.logTail(30))
	}
	f.checkCurrent(slipwayPath, rel)
	return d
}

// shellRollback points current at rel on every host, 10 at a time.
func (s *scenario) shellRollback(rel string) time.Duration {
	f := s.f
	args := []string{filepath.Join(f.dir, "rollback.sh"), strconv.Itoa(baselineParallelism), f.sshConfig, rel}
	for _, h := range f.rig.Hosts {
		args = append(args, h.Name, baselinePath(h))
	}
	d := f.timeScript(args)
	f.checkCurrent(baselinePath, rel)
	return d
}

// rollbacks measures rounds rollbacks per side, from the live release to
// the one before and (Slipway and shell) forward again. Capistrano's
// rollback removes the release it leaves, so it deploys again (not
// measured) before its next round, if there is one.
func (s *scenario) rollbacks(rounds int) {
	f := s.f
	f.git("fetch", "-q", "deploy", "--tags")
	live, prev := fmt.Sprintf("v%d", s.next-1), fmt.Sprintf("v%d", s.next-2)
	for i := range rounds {
		var line []string
		for j := range s.sides {
			side := s.sides[(i+j)%len(s.sides)]
			switch side {
			case slipwaySide:
				a := s.measure("rollback-push/slipway", func() time.Duration { return s.slipwayRollback(prev, true) })
				c := s.measure("rollback-ssh/slipway", func() time.Duration { return s.slipwayRollback(live, false) })
				line = append(line, fmt.Sprintf("slipway push %.2fs %.1f sessions/host, ssh %.2fs %.1f sessions/host", a.secs, a.sessions, c.secs, c.sessions))
			case shellSide:
				a := s.measure("rollback/shell", func() time.Duration { return s.shellRollback(prev) })
				s.measure("rollback/shell", func() time.Duration { return s.shellRollback(live) })
				line = append(line, fmt.Sprintf("shell %.2fs %.1f sessions/host", a.secs, a.sessions))
			case capSide:
				a := s.measure("rollback/capistrano", f.capRollbackOK)
				if i < rounds-1 {
					f.capDeployOK()
				}
				line = append(line, fmt.Sprintf("capistrano %.2fs %.1f sessions/host", a.secs, a.sessions))
			}
		}
		f.b.Logf("%d hosts, rollback round %d: %s", s.opt.hosts, i+1, strings.Join(line, "; "))
	}
}

// run deploys the first release (measured), then the one-file rounds and
// the rollback rounds the options ask for, and reports.
func (s *scenario) run() {
	b := s.f.b
	rounds := *roundsFlag
	if rounds < 1 {
		b.Fatalf("-rounds %d: want at least 1", rounds)
	}
	if s.opt.latency > 0 {
		s.roundTrip()
	}
	s.deployAll("first", 0)
	if s.opt.oneFile {
		for i := range rounds {
			s.deployAll("onefile", (i+1)%len(s.sides))
		}
	}
	if s.opt.rollback {
		if s.next < 3 { // two releases on every side
			s.deployAll("", 0)
		}
		s.rollbacks(rounds)
	}
	s.peakMB = s.f.servePeakMB()
	s.report()
}

// roundTrip reports what one `ssh HOST true` on a new connection costs
// through the latency proxy and without it: the handshake's round trips
// are what the proxy adds.
func (s *scenario) roundTrip() {
	f := s.f
	h := f.rig.Hosts[0]
	timeCall := func(cfg string) float64 {
		var ds []float64
		for range 5 {
			start := time.Now()
			if out, err := exec.Command("ssh", "-F", cfg, h.Name, "true").CombinedOutput(); err != nil {
				f.b.Fatalf("ssh %s true: %v\n%s", h.Name, err, out)
			}
			ds = append(ds, time.Since(start).Seconds())
		}
		return median(ds)
	}
	direct, proxied := timeCall(f.rig.SSHConfig), timeCall(f.sshConfig)
	f.b.ReportMetric(direct, "ssh-direct-s/call")
	f.b.ReportMetric(proxied, "ssh-proxied-s/call")
	f.b.Logf("ssh %s true, new connection: %.3fs direct, %.3fs through the %v proxy", h.Name, direct, proxied, s.opt.latency)
}

// servePeakMB is the peak resident memory (VmHWM) of slipway serve so far,
// in MB; its children (git, ssh, rsync) are not included.
func (f *fleet) servePeakMB() float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", f.servePID))
	if err != nil {
		f.b.Logf("peak memory not measured: %v", err)
		return 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err == nil {
				return kb * 1024 / 1e6
			}
		}
	}
	return 0
}

func (s *scenario) med(key string, field func(sample) float64) (float64, bool) {
	xs := s.res[key]
	if len(xs) == 0 {
		return 0, false
	}
	var v []float64
	for _, x := range xs {
		v = append(v, field(x))
	}
	return median(v), true
}

func secs(x sample) float64     { return x.secs }
func sessions(x sample) float64 { return x.sessions }
func logins(x sample) float64   { return x.logins }

// report reports every median as a metric and prints them as a table.
func (s *scenario) report() {
	b := s.f.b
	b.ReportMetric(0, "ns/op")
	var table strings.Builder
	fmt.Fprintf(&table, "\n| scenario | hosts | Slipway s | shell s | Capistrano s | Slipway ÷ shell | Slipway ÷ Capistrano | sessions/host Slipway / shell / Capistrano |\n|---|---:|---:|---:|---:|---:|---:|---|\n")
	rows := []struct{ name, slipway, shell, cap string }{
		{"first", "first/slipway", "first/shell", "first/capistrano"},
		{"onefile", "onefile/slipway", "onefile/shell", "onefile/capistrano"},
		{"rollback-push", "rollback-push/slipway", "rollback/shell", "rollback/capistrano"},
		{"rollback-ssh", "rollback-ssh/slipway", "rollback/shell", "rollback/capistrano"},
	}
	cell := func(v float64, ok bool, format string) string {
		if !ok {
			return "—"
		}
		return fmt.Sprintf(format, v)
	}
	reported := map[string]bool{}
	var loginLine strings.Builder // Slipway's new connections per host
	for _, r := range rows {
		sw, ok := s.med(r.slipway, secs)
		if !ok {
			continue
		}
		sh, okSh := s.med(r.shell, secs)
		cp, okCap := s.med(r.cap, secs)
		b.ReportMetric(sw, r.name+"-slipway-s")
		ss, _ := s.med(r.slipway, sessions)
		b.ReportMetric(ss, r.name+"-slipway-sessions/host")
		sl, _ := s.med(r.slipway, logins)
		b.ReportMetric(sl, r.name+"-slipway-logins/host")
		fmt.Fprintf(&loginLine, " %s %.1f", r.name, sl)
		shs, _ := s.med(r.shell, sessions)
		cps, _ := s.med(r.cap, sessions)
		// The baselines' rollback is one operation, compared with both of
		// Slipway's: report it once.
		base, _, _ := strings.Cut(r.shell, "/")
		once := !reported[base]
		reported[base] = true
		if okSh {
			b.ReportMetric(sw/sh, r.name+"-÷shell")
			if once {
				b.ReportMetric(sh, base+"-shell-s")
				b.ReportMetric(shs, base+"-shell-sessions/host")
			}
		}
		if okCap {
			b.ReportMetric(sw/cp, r.name+"-÷capistrano")
			if once {
				b.ReportMetric(cp, base+"-capistrano-s")
				b.ReportMetric(cps, base+"-capistrano-sessions/host")
			}
		}
		fmt.Fprintf(&table, "| %s | %d | %.2f | %s | %s | %s | %s | %.1f / %s / %s |\n", r.name, s.opt.hosts, sw,
			cell(sh, okSh, "%.2f"), cell(cp, okCap, "%.2f"), cell(sw/sh, okSh, "%.2f"), cell(sw/cp, okCap, "%.2f"),
			ss, cell(shs, okSh, "%.1f"), cell(cps, okCap, "%.1f"))
	}
	fmt.Fprintf(&table, "\nSlipway's logins (new ssh connections) per host:%s", loginLine.String())
	for _, key := range []string{"first", "onefile"} {
		var push, export, upload []float64
		for _, st := range s.steps[key] {
			push = append(push, st.push.Seconds())
			export = append(export, st.export.Seconds())
			upload = append(upload, st.uploadMax.Seconds())
		}
		if len(export) == 0 {
			continue
		}
		b.ReportMetric(median(push), key+"-push-s")
		b.ReportMetric(median(export), key+"-export-s")
		b.ReportMetric(median(upload), key+"-upload-max-s")
		fmt.Fprintf(&table, "\nSlipway's %s deploy: push until the release line %.2fs; from its log: export %.2fs, slowest host's upload %.2fs", key, median(push), median(export), median(upload))
	}
	if s.peakMB > 0 {
		b.ReportMetric(s.peakMB, "serve-peak-MB")
		fmt.Fprintf(&table, "\nslipway serve peak memory (VmHWM): %.1f MB\n", s.peakMB)
	}
	if s.opt.goTree {
		fmt.Fprintf(&table, "tree: %d files; rounds: %d; latency: %v each way\n", goTreeFiles, *roundsFlag, s.opt.latency)
	}
	// Printed, not logged: go test keeps only the first lines of a
	// benchmark's log.
	fmt.Printf("%s: %s", b.Name(), table.String())
}

// BenchmarkGoTree: the Go source tree at 1, 5 and 20 hosts; first deploy,
// one-file deploy and rollback, Slipway against the shell baseline and
// Capistrano.
func BenchmarkGoTree(b *testing.B) {
	for _, n := range []int{1, 5, 20} {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			newScenario(b, scenarioOptions{hosts: n, goTree: true, oneFile: true, rollback: true}).run()
		})
	}
}

// BenchmarkLatency: the Go tree at 5 hosts, each reached through a proxy
// that adds 10 ms each way; one-file deploys.
func BenchmarkLatency(b *testing.B) {
	b.Run("hosts=5", func(b *testing.B) {
		newScenario(b, scenarioOptions{hosts: 5, latency: 10 * time.Millisecond, goTree: true, oneFile: true}).run()
	})
}

// BenchmarkRollback100: rollbacks of 100 hosts, Slipway against the shell
// baseline; the tree is small, since a rollback ships nothing. Capistrano
// is left out: its 20-host rollback already takes minutes.
func BenchmarkRollback100(b *testing.B) {
	newScenario(b, scenarioOptions{hosts: 100, rollback: true, noCap: true}).run()
}
