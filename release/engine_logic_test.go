package release

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/internal/durable"
	"github.com/slipwayhq/slipway/release/host"
)

// healthCommand is the health check the fake hosts run; failHealth makes it
// fail on the named hosts.
const healthCommand = "check-health"

// testEngine returns an Engine whose data directory is a fresh temporary
// directory and whose hosts are the given fakes.
func testEngine(t *testing.T, hosts ...*memHost) *Engine {
	t.Helper()
	byName := map[string]host.Host{}
	for _, h := range hosts {
		byName[h.Name()] = h
	}
	e := &Engine{
		DataDir: t.TempDir(),
		Log:     zerolog.Nop(),
		Connect: func(_ context.Context, _ *config.Environment, name string) (host.Host, error) {
			h, ok := byName[name]
			if !ok {
				return nil, errors.New("no route to host " + name)
			}
			return h, nil
		},
	}
	// Bookkeeping after a verdict writes to DataDir until it is done.
	t.Cleanup(func() { e.Wait("", "") })
	return e
}

// testEnv is shop/production on hosts, switched in waves one host at a
// time within a wave (parallelism 1), so that which host a failure stops
// is certain.
func testEnv(waves []string, hosts ...*memHost) *config.Environment {
	names := make([]string, len(hosts))
	for i, h := range hosts {
		names[i] = h.Name()
	}
	return &config.Environment{
		App: "shop", Name: "production", Branch: "production",
		Hosts: names, Waves: waves, Parallelism: 1,
		Health: &config.Health{Command: healthCommand, Retries: 1, Timeout: config.Duration(time.Minute)},
	}
}

// testDeploy is a deploy of rel to env that has shipped rel to every host
// and learned what each ran before, as ship leaves it. The repository does
// not exist: the outcome notes fail and are only logged.
func testDeploy(t *testing.T, e *Engine, env *config.Environment, rel string, keep int, hosts ...*memHost) (*deploy, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	req := Request{
		App:    &config.App{Name: env.App, KeepReleases: keep},
		Env:    env,
		Repo:   filepath.Join(t.TempDir(), "absent.git"),
		Commit: strings.Repeat("0", 40),
		User:   "alice",
	}
	d, done, err := e.newDeploy(req, &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(done)
	d.rel = rel
	d.prev = map[string]string{}
	for _, h := range hosts {
		cur, _, _, _ := h.state()
		d.prev[h.Name()] = cur
		d.hosts = append(d.hosts, h)
		if _, err := h.Upload(context.Background(), "", rel, cur, nil); err != nil {
			t.Fatal(err)
		}
	}
	d.j = &journal{App: env.App, Env: env.Name, Release: rel, Commit: req.Commit, User: req.User,
		Hosts: env.Hosts, Prev: d.prev, Phase: "switch", Started: d.start}
	if err := e.writeJournal(d.j); err != nil {
		t.Fatal(err)
	}
	return d, &out
}

// failHealth makes the health check fail on h.
func failHealth(h *memHost) {
	h.RunFunc = func(_ context.Context, _, command string, _ []string, out io.Writer) error {
		if command == healthCommand {
			if out != nil {
				io.WriteString(out, "503 Service Unavailable\n")
			}
			return errFake
		}
		return nil
	}
}

func fourHosts() []*memHost {
	return []*memHost{
		newMemHost("web-1", "v2", "v1", "v2"),
		newMemHost("web-2", "v2", "v1", "v2"),
		newMemHost("web-3", "v2", "v1", "v2"),
		newMemHost("web-4", "v2", "v1", "v2"),
	}
}

func TestWaveFailureRollsBackExactlyTheSwitchedHosts(t *testing.T) {
	waves := []string{"1", "50%", "100%"} // [web-1] [web-2] [web-3 web-4]
	tests := []struct {
		name   string
		breaks func(hosts []*memHost)
		// switches is what each host was asked to switch to, in order.
		switches map[string][]string
		step     string // of the DeployError
		host     string
		live     []string // DeployError.Live
	}{
		{
			name:   "health fails on the canary",
			breaks: func(hs []*memHost) { failHealth(hs[0]) },
			switches: map[string][]string{
				"web-1": {"v3", "v2"},
			},
			step: "health", host: "web-1",
			live: []string{"web-1: v2", "web-2: v2", "web-3: v2", "web-4: v2"},
		},
		{
			name:   "health fails in the second wave",
			breaks: func(hs []*memHost) { failHealth(hs[1]) },
			switches: map[string][]string{
				"web-1": {"v3", "v2"},
				"web-2": {"v3", "v2"},
			},
			step: "health", host: "web-2",
			live: []string{"web-1: v2", "web-2: v2", "web-3: v2", "web-4: v2"},
		},
		{
			name:   "health fails on the first host of the last wave; the next is not started",
			breaks: func(hs []*memHost) { failHealth(hs[2]) },
			switches: map[string][]string{
				"web-1": {"v3", "v2"},
				"web-2": {"v3", "v2"},
				"web-3": {"v3", "v2"},
			},
			step: "health", host: "web-3",
			live: []string{"web-1: v2", "web-2: v2", "web-3: v2", "web-4: v2"},
		},
		{
			name: "a switch that errors is rolled back",
			breaks: func(hs []*memHost) {
				h := hs[1]
				h.SwitchFunc = func(ctx context.Context, rel string, keep int) (host.SwitchResult, error) {
					if res, err := h.doSwitch(ctx, rel, keep); err != nil || rel != "v3" {
						return res, err
					}
					return host.SwitchResult{}, errFake // the rename happened, its answer was lost
				}
			},
			switches: map[string][]string{
				"web-1": {"v3", "v2"},
				"web-2": {"v3", "v2"},
			},
			step: "switch", host: "web-2",
			live: []string{"web-1: v2", "web-2: v2", "web-3: v2", "web-4: v2"},
		},
		{
			name: "a switch that errors before the rename is switched back harmlessly",
			breaks: func(hs []*memHost) {
				h := hs[0]
				h.SwitchFunc = func(ctx context.Context, rel string, keep int) (host.SwitchResult, error) {
					if rel == "v3" {
						return host.SwitchResult{}, errFake
					}
					return h.doSwitch(ctx, rel, keep)
				}
			},
			switches: map[string][]string{
				"web-1": {"v2"},
			},
			step: "switch", host: "web-1",
			live: []string{"web-1: v2", "web-2: v2", "web-3: v2", "web-4: v2"},
		},
		{
			name: "a host that cannot be switched back is reported, the others are back",
			breaks: func(hs []*memHost) {
				failHealth(hs[1])
				h := hs[0]
				h.SwitchFunc = func(ctx context.Context, rel string, keep int) (host.SwitchResult, error) {
					if rel == "v2" {
						h.mu.Lock()
						h.switches = append(h.switches, rel)
						h.mu.Unlock()
						return host.SwitchResult{}, errFake
					}
					return h.doSwitch(ctx, rel, keep)
				}
			},
			switches: map[string][]string{
				"web-1": {"v3", "v2"},
				"web-2": {"v3", "v2"},
			},
			step: "health", host: "web-2",
			live: []string{"web-1: state unknown", "web-2: v2", "web-3: v2", "web-4: v2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hosts := fourHosts()
			tt.breaks(hosts)
			e := testEngine(t, hosts...)
			env := testEnv(waves, hosts...)
			d, out := testDeploy(t, e, env, "v3", 5, hosts...)

			err := d.switchWaves(context.Background())
			if err == nil {
				t.Fatal("switchWaves succeeded; want a failure")
			}
			err = d.fail(context.Background(), err)
			var de *DeployError
			if !errors.As(err, &de) {
				t.Fatalf("fail returned %v (%T), want a *DeployError", err, err)
			}
			if de.Step != tt.step || de.Host != tt.host || de.Release != "v3" {
				t.Errorf("DeployError is step %q host %q release %q, want %q %q v3", de.Step, de.Host, de.Release, tt.step, tt.host)
			}
			if !slices.Equal(de.Live, tt.live) {
				t.Errorf("Live = %q, want %q", de.Live, tt.live)
			}
			for _, h := range hosts {
				cur, rels, switches, _ := h.state()
				if want := tt.switches[h.Name()]; !slices.Equal(switches, want) {
					t.Errorf("%s was switched to %q, want %q", h.Name(), switches, want)
				}
				stuck := slices.Contains(tt.live, h.Name()+": state unknown")
				switch {
				case stuck && cur != "v3":
					t.Errorf("%s runs %q; its switch back failed, so it still runs v3", h.Name(), cur)
				case !stuck && cur != "v2":
					t.Errorf("%s runs %q after the rollback, want v2", h.Name(), cur)
				}
				// The failed release is removed wherever it is not live.
				if has := slices.Contains(rels, "v3"); has != stuck {
					t.Errorf("%s holds %q after the failed deploy", h.Name(), rels)
				}
			}
			if !strings.Contains(out.String(), "release v3 FAILED") {
				t.Errorf("output does not say the release failed:\n%s", out)
			}
			// The journal is kept exactly when a host is not back.
			_, jerr := readJournal(e.journalFile("shop", "production"))
			stuck := slices.ContainsFunc(tt.live, func(s string) bool { return strings.HasSuffix(s, "state unknown") })
			if kept := jerr == nil; kept != stuck {
				t.Errorf("journal kept = %v (%v), want %v", kept, jerr, stuck)
			}
		})
	}
}

func TestFailedFirstDeployRemovesCurrent(t *testing.T) {
	h := newMemHost("web-1", "")
	failHealth(h)
	e := testEngine(t, h)
	d, out := testDeploy(t, e, testEnv(nil, h), "v1", 5, h)
	err := d.fail(context.Background(), d.switchWaves(context.Background()))
	var de *DeployError
	if !errors.As(err, &de) || !slices.Equal(de.Live, []string{"web-1: nothing"}) {
		t.Fatalf("fail = %v, want a DeployError with web-1: nothing", err)
	}
	cur, rels, switches, _ := h.state()
	if cur != "" || len(rels) != 0 || !slices.Equal(switches, []string{"v1", ""}) {
		t.Errorf("web-1 runs %q, holds %q, was switched to %q; want nothing, nothing, [v1 \"\"]", cur, rels, switches)
	}
	if !strings.Contains(out.String(), "current removed (this was the first release)") {
		t.Errorf("output does not say current was removed:\n%s", out)
	}
}

func TestPruneKeepsReleasesAndNeverTheLiveOne(t *testing.T) {
	tests := []struct {
		name     string
		keep     int
		releases []string // on the host, oldest first; rel is the last
		prev     string   // what the host ran before the deploy
		failOn   string   // Remove of this release fails
		staged   string   // a release waiting for approval in the environment
		left     []string
	}{
		{name: "keeps the newest N", keep: 3, releases: []string{"v1", "v2", "v3", "v4", "v5", "v6"}, prev: "v5", left: []string{"v4", "v5", "v6"}},
		{name: "fewer than N: nothing removed", keep: 5, releases: []string{"v1", "v2", "v3"}, prev: "v2", left: []string{"v1", "v2", "v3"}},
		{name: "keep below 2 counts as 2", keep: 0, releases: []string{"v1", "v2", "v3", "v4"}, prev: "v3", left: []string{"v3", "v4"}},
		{name: "the release it replaced stays however old", keep: 2, releases: []string{"v1", "v2", "v3", "v4"}, prev: "v1", left: []string{"v1", "v4"}},
		{name: "a release that cannot be removed is skipped", keep: 3, releases: []string{"v1", "v2", "v3", "v4", "v5"}, prev: "v4", failOn: "v1", left: []string{"v1", "v4", "v5"}},
		{name: "nothing is removed while a release waits for approval", keep: 2, releases: []string{"v1", "v2", "v3", "v4"}, prev: "v3", staged: "v1", left: []string{"v1", "v2", "v3", "v4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rel := tt.releases[len(tt.releases)-1]
			h := newMemHost("web-1", tt.prev, tt.releases...)
			if tt.failOn != "" {
				h.RemoveFunc = func(ctx context.Context, r string) error {
					if r == tt.failOn {
						return errFake
					}
					return h.remove(ctx, r)
				}
			}
			e := testEngine(t, h)
			d, _ := testDeploy(t, e, testEnv(nil, h), rel, tt.keep, h)
			d.staged = tt.staged
			if err := d.switchHosts(context.Background(), PhaseSwitch, d.hosts); err != nil {
				t.Fatal(err)
			}
			cur, rels, _, removed := h.state()
			if !slices.Equal(rels, tt.left) {
				t.Errorf("host holds %q after prune (removed %q), want %q", rels, removed, tt.left)
			}
			if cur != rel || slices.Contains(removed, rel) || slices.Contains(removed, tt.prev) {
				t.Errorf("prune removed %q with %s live and %s before it", removed, rel, tt.prev)
			}
			// saveState learns the releases from the switch, without asking again.
			if seen := d.seen["web-1"]; seen.Current != rel || !slices.Equal(seen.Releases, tt.left) {
				t.Errorf("switch recorded %+v, want current %s and releases %q", seen, rel, tt.left)
			}
		})
	}
}

func TestSettleFinishesAnUnfinishedRollback(t *testing.T) {
	tests := []struct {
		name     string
		rollback bool   // the journal is a rollback's: its release stays
		offline  string // a host Connect cannot reach
		wantErr  bool
		current  map[string]string // after settle
		v3Left   map[string]bool   // which hosts still hold v3
		kept     bool              // the journal is still there
	}{
		{
			name:    "every host reachable: the stuck one goes back, v3 goes",
			current: map[string]string{"web-1": "v2", "web-2": "v2"},
			v3Left:  map[string]bool{},
		},
		{
			name:     "a rollback's target stays on the hosts",
			rollback: true,
			current:  map[string]string{"web-1": "v2", "web-2": "v2"},
			v3Left:   map[string]bool{"web-1": true, "web-2": true},
		},
		{
			name:    "a host still out of reach: refused, journal kept",
			offline: "web-1",
			wantErr: true,
			current: map[string]string{"web-1": "v3", "web-2": "v2"},
			v3Left:  map[string]bool{"web-1": true},
			kept:    true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A failed deploy of v3 could not switch web-1 back.
			web1 := newMemHost("web-1", "v3", "v1", "v2", "v3")
			web2 := newMemHost("web-2", "v2", "v1", "v2")
			if tt.rollback {
				web2 = newMemHost("web-2", "v2", "v1", "v2", "v3")
			}
			reachable := []*memHost{web1, web2}
			if tt.offline == "web-1" {
				reachable = []*memHost{web2}
			}
			e := testEngine(t, reachable...)
			env := testEnv(nil, web1, web2)
			j := &journal{App: "shop", Env: "production", Release: "v3", Hosts: env.Hosts,
				Prev: map[string]string{"web-1": "v2", "web-2": "v2"}, Phase: "failed", Rollback: tt.rollback}
			if err := e.writeJournal(j); err != nil {
				t.Fatal(err)
			}

			err := e.settle(context.Background(), env)
			if (err != nil) != tt.wantErr {
				t.Fatalf("settle = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrUnsettled) || !strings.Contains(err.Error(), "bring the hosts back, then push again") {
					t.Errorf("settle = %q, want ErrUnsettled saying what to do", err)
				}
			}
			for _, h := range []*memHost{web1, web2} {
				cur, rels, _, _ := h.state()
				if cur != tt.current[h.Name()] {
					t.Errorf("%s runs %q after settle, want %q", h.Name(), cur, tt.current[h.Name()])
				}
				if has := slices.Contains(rels, "v3"); has != tt.v3Left[h.Name()] {
					t.Errorf("%s holds %q after settle", h.Name(), rels)
				}
			}
			_, jerr := readJournal(e.journalFile("shop", "production"))
			if kept := jerr == nil; kept != tt.kept {
				t.Errorf("journal kept = %v (%v), want %v", kept, jerr, tt.kept)
			}
		})
	}
}

func TestSettleWithoutJournalTouchesNoHost(t *testing.T) {
	h := newMemHost("web-1", "v2", "v1", "v2")
	h.OpenFunc = func(context.Context) (host.Info, error) {
		t.Error("settle asked a host what it runs although no deploy was unfinished")
		return host.Info{}, errFake
	}
	e := testEngine(t, h)
	if err := e.settle(context.Background(), testEnv(nil, h)); err != nil {
		t.Fatalf("settle = %v", err)
	}
}

// A failed deploy that leaves a host stuck is finished by the next one:
// fail keeps the journal, settle puts the host back once it answers.
func TestFailThenSettle(t *testing.T) {
	hosts := fourHosts()
	failHealth(hosts[1])
	web1 := hosts[0]
	down := true
	web1.SwitchFunc = func(ctx context.Context, rel string, keep int) (host.SwitchResult, error) {
		if rel == "v2" && down {
			return host.SwitchResult{}, errFake
		}
		return web1.doSwitch(ctx, rel, keep)
	}
	e := testEngine(t, hosts...)
	env := testEnv([]string{"1", "50%", "100%"}, hosts...)
	d, _ := testDeploy(t, e, env, "v3", 5, hosts...)
	_ = d.fail(context.Background(), d.switchWaves(context.Background()))
	if cur, _, _, _ := web1.state(); cur != "v3" {
		t.Fatalf("web-1 runs %q; the test needs it stuck on v3", cur)
	}
	j, err := readJournal(e.journalFile("shop", "production"))
	if err != nil || j.Phase != "failed" {
		t.Fatalf("journal after the failed deploy: %+v, %v; want phase failed", j, err)
	}

	down = false
	if err := e.settle(context.Background(), env); err != nil {
		t.Fatalf("settle = %v", err)
	}
	for _, h := range hosts {
		if cur, rels, _, _ := h.state(); cur != "v2" || slices.Contains(rels, "v3") {
			t.Errorf("%s runs %q and holds %q after settle, want v2 without v3", h.Name(), cur, rels)
		}
	}
	if _, err := readJournal(e.journalFile("shop", "production")); err == nil {
		t.Error("journal still there after settle")
	}
}

// watch checks every switched host at least once, even when the window
// has passed by the time the loop starts (a busy server): a window too
// short to check anything must not pass a failing release.
func TestWatchChecksAtLeastOnce(t *testing.T) {
	h := newMemHost("web-1", "v2", "v1", "v2")
	failHealth(h)
	e := testEngine(t, h)
	env := testEnv(nil, h)
	env.Health.Watch = config.Duration(time.Nanosecond)
	d, out := testDeploy(t, e, env, "v3", 5, h)
	d.switched = []host.Host{h}
	err := d.watch(context.Background())
	var he *HostError
	if !errors.As(err, &he) || he.Step != "watch" || he.Host != "web-1" {
		t.Fatalf("watch = %v, want a HostError for watch on web-1\n%s", err, out)
	}
}

// A rollback switches every host at once, whatever parallelism says: each
// host's switch waits here until all of them have started.
func TestRollbackSwitchesEveryHostAtOnce(t *testing.T) {
	hosts := fourHosts()
	var started sync.WaitGroup
	started.Add(len(hosts))
	all := make(chan struct{})
	go func() { started.Wait(); close(all) }()
	for _, h := range hosts {
		h.SwitchFunc = func(ctx context.Context, rel string, keep int) (host.SwitchResult, error) {
			started.Done()
			select {
			case <-all:
			case <-time.After(time.Minute): // only a broken run waits this long
				return host.SwitchResult{}, errors.New("the other hosts' switches did not start alongside")
			}
			return h.doSwitch(ctx, rel, keep)
		}
	}
	e := testEngine(t, hosts...)
	env := testEnv([]string{"1", "50%", "100%"}, hosts...) // parallelism 1, three waves
	d, out := testDeploy(t, e, env, "v1", 5, hosts...)
	d.req.Rollback = "v1"
	if err := d.switchWaves(context.Background()); err != nil {
		t.Fatalf("switchWaves = %v\n%s", err, out)
	}
	for _, h := range hosts {
		if cur, _, _, _ := h.state(); cur != "v1" {
			t.Errorf("%s runs %q, want v1", h.Name(), cur)
		}
		if d.prev[h.Name()] != "v2" {
			t.Errorf("prev of %s = %q, want v2 as its switch told", h.Name(), d.prev[h.Name()])
		}
	}
	if strings.Contains(out.String(), "wave") {
		t.Errorf("a rollback went in waves:\n%s", out)
	}
}

// An artifact is kept while some host keeps its release: pruning on one
// host leaves it, pruning on every host removes it.
func TestPruneRemovesArtifactsNoHostKeeps(t *testing.T) {
	h1 := newMemHost("web-1", "v4", "v1", "v2", "v3", "v4", "v5")
	h2 := newMemHost("web-2", "v4", "v2", "v3", "v4", "v5") // lost v1 already
	h2.RemoveFunc = func(ctx context.Context, r string) error {
		if r == "v2" {
			return errFake // web-2 keeps v2
		}
		return h2.remove(ctx, r)
	}
	e := testEngine(t, h1, h2)
	for _, rel := range []string{"v1", "v2", "v3", "v5"} {
		if err := durable.WriteFile(e.artifactFile("shop", rel), []byte("tar"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d, _ := testDeploy(t, e, testEnv(nil, h1, h2), "v5", 3, h1, h2)
	if err := d.switchHosts(context.Background(), PhaseSwitch, d.hosts); err != nil {
		t.Fatal(err)
	}
	d.pruneArtifacts()
	for rel, kept := range map[string]bool{"v1": false, "v2": true, "v3": true, "v5": true} {
		if _, err := os.Stat(e.artifactFile("shop", rel)); (err == nil) != kept {
			t.Errorf("artifact of %s: kept = %v, want %v", rel, err == nil, kept)
		}
	}
}
