package web

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/release"
)

// now is the clock of the metrics tests; every time in their history is
// relative to it.
var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func runGit(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir, "GIT_AUTHOR_NAME=A", "GIT_AUTHOR_EMAIL=a@example.com",
		"GIT_COMMITTER_NAME=A", "GIT_COMMITTER_EMAIL=a@example.com")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// releaseHistory makes DATA/repos/shop.git with releases tagged and
// noted as the engine records them.
type releaseHistory struct {
	t    *testing.T
	repo string
	work string
}

func newReleaseHistory(t *testing.T, dataDir string) *releaseHistory {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not found")
	}
	h := &releaseHistory{t: t, repo: filepath.Join(dataDir, "repos", "shop.git"), work: t.TempDir()}
	if err := os.MkdirAll(h.repo, 0o755); err != nil {
		t.Fatal(err)
	}
	runGit(t, h.repo, nil, "init", "-q", "--bare")
	runGit(t, h.work, nil, "init", "-q", "-b", "production")
	return h
}

// commit makes a commit at the given time and returns its id.
func (h *releaseHistory) commit(msg string, at time.Time) string {
	date := "GIT_COMMITTER_DATE=" + at.Format(time.RFC3339)
	runGit(h.t, h.work, []string{date, "GIT_AUTHOR_DATE=" + at.Format(time.RFC3339)}, "commit", "-q", "--allow-empty", "-m", msg)
	id := runGit(h.t, h.work, nil, "rev-parse", "HEAD")
	runGit(h.t, h.work, nil, "push", "-q", h.repo, "HEAD:refs/heads/production")
	return id
}

func (h *releaseHistory) tag(n int, commit string, at time.Time) {
	if err := release.CreateTag(h.repo, n, commit, "shop", "production", "alice", at); err != nil {
		h.t.Fatal(err)
	}
}

func (h *releaseHistory) note(commit, rel, outcome string, at time.Time, detail string) {
	ev := release.Event{Release: rel, Env: "production", Outcome: outcome, Time: at, User: "alice", Detail: detail}
	if err := release.AppendNote(context.Background(), h.repo, commit, ev.String()); err != nil {
		h.t.Fatal(err)
	}
}

func testSource(t *testing.T, dataDir string) *Source {
	cfg := &config.Config{DataDir: dataDir, Apps: map[string]*config.App{"shop": {Name: "shop", Environments: map[string]*config.Environment{
		"production": {Name: "production", App: "shop", Branch: "production", Hosts: []string{"web-1", "web-2"}},
	}}}}
	return &Source{Config: func() *config.Config { return cfg }, Engine: &release.Engine{DataDir: dataDir, Log: zerolog.Nop()}, DataDir: dataDir}
}

func TestCollectorReadsStateAndDORAFromHistory(t *testing.T) {
	data := t.TempDir()
	h := newReleaseHistory(t, data)
	d := 24 * time.Hour

	// v1 went live 40 days ago: outside the window.
	c1 := h.commit("one", now.Add(-40*d-time.Hour))
	h.tag(1, c1, now.Add(-40*d))
	h.note(c1, "v1", release.OutcomeLive, now.Add(-40*d), "deployed in 3.0s")
	// v2: live 5 days ago, 3h after its commit; rolled back 30m later.
	c2 := h.commit("two", now.Add(-5*d-3*time.Hour))
	h.tag(2, c2, now.Add(-5*d-time.Minute))
	h.note(c2, "v2", release.OutcomeLive, now.Add(-5*d), "deployed in 60.0s")
	h.note(c1, "v1", release.OutcomeLive, now.Add(-5*d+30*time.Minute), "rolled back from v2")
	h.note(c2, "v2", release.OutcomeRolledBack, now.Add(-5*d+30*time.Minute), "replaced by v1")
	// v3: failed 10 minutes after it started.
	c3 := h.commit("three", now.Add(-2*d-2*time.Hour))
	h.tag(3, c3, now.Add(-2*d))
	h.note(c3, "v3", release.OutcomeFailed, now.Add(-2*d+10*time.Minute), "health check failed on web-2: exit status 1")
	// v4: staged, then rejected: no change at all.
	c4 := h.commit("four", now.Add(-d-time.Hour))
	h.tag(4, c4, now.Add(-d))
	h.note(c4, "v4", release.OutcomePending, now.Add(-d), "staged on 2 hosts, waiting for approval")
	h.note(c4, "v4", release.OutcomeFailed, now.Add(-d+time.Minute), "not approved: rejected by bob")
	// v5: live an hour ago, 2h after its commit.
	c5 := h.commit("five", now.Add(-3*time.Hour))
	h.tag(5, c5, now.Add(-time.Hour-time.Minute))
	h.note(c5, "v5", release.OutcomeLive, now.Add(-time.Hour), "deployed in 2.0s")

	state := `{"hosts": {
  "web-1": {"current": "v5", "health": "ok", "seen": "2026-11-20T11:00:00Z"},
  "web-2": {"current": "v5", "health": "failed: exit status 1", "seen": "2026-11-20T11:00:00Z"}}}`
	if err := os.MkdirAll(filepath.Join(data, "state", "shop"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "state", "shop", "production.json"), []byte(state), 0o644); err != nil {
		t.Fatal(err)
	}

	src := testSource(t, data)
	c := &stateCollector{src: src, now: func() time.Time { return now }}
	want := `
# HELP slipway_dora_change_failure_ratio DORA change failure rate over the last 30 days: changes that failed or were rolled back, over all changes (rejected approvals are no change).
# TYPE slipway_dora_change_failure_ratio gauge
slipway_dora_change_failure_ratio{app="shop",env="production"} 0.6666666666666666
# HELP slipway_dora_deployment_frequency_per_day DORA deployment frequency: deploys that went live in the last 30 days, per day (from the history; rollbacks are not deploys).
# TYPE slipway_dora_deployment_frequency_per_day gauge
slipway_dora_deployment_frequency_per_day{app="shop",env="production"} 0.06666666666666667
# HELP slipway_dora_lead_time_seconds DORA lead time for changes: median time from commit to live over the last 30 days.
# TYPE slipway_dora_lead_time_seconds gauge
slipway_dora_lead_time_seconds{app="shop",env="production"} 9000
# HELP slipway_dora_time_to_restore_seconds DORA time to restore service: median over the last 30 days of a failed deploy's start to its rollback, or a bad release's going live to the rollback that replaced it.
# TYPE slipway_dora_time_to_restore_seconds gauge
slipway_dora_time_to_restore_seconds{app="shop",env="production"} 1200
# HELP slipway_host_healthy The last health check of a host: 1 ok, 0 failed; absent when not checked.
# TYPE slipway_host_healthy gauge
slipway_host_healthy{app="shop",env="production",host="web-1"} 1
slipway_host_healthy{app="shop",env="production",host="web-2"} 0
# HELP slipway_hosts Hosts of an environment by the release their current points to, as last seen (DATA/state); release is "none" or "unknown" when there is none or it could not be read.
# TYPE slipway_hosts gauge
slipway_hosts{app="shop",env="production",release="v5"} 2
# HELP slipway_live_release The number N of the live release vN of an environment; absent before its first.
# TYPE slipway_live_release gauge
slipway_live_release{app="shop",env="production"} 5
# HELP slipway_releases Releases in the history, by their outcome now (live, superseded, failed, rolled-back, interrupted, pending).
# TYPE slipway_releases gauge
slipway_releases{app="shop",env="production",outcome="failed"} 2
slipway_releases{app="shop",env="production",outcome="live"} 1
slipway_releases{app="shop",env="production",outcome="rolled-back"} 1
slipway_releases{app="shop",env="production",outcome="superseded"} 1
`
	names := []string{"slipway_dora_change_failure_ratio", "slipway_dora_deployment_frequency_per_day", "slipway_dora_lead_time_seconds",
		"slipway_dora_time_to_restore_seconds", "slipway_host_healthy", "slipway_hosts", "slipway_live_release", "slipway_releases"}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}

	// The history is read again once a note is added, not before.
	first := src.cache["shop"]
	testutil.CollectAndCount(c)
	if src.cache["shop"] != first {
		t.Fatal("the history was read again although no tag or note changed")
	}
	h.note(c5, "v5", release.OutcomeRolledBack, now.Add(-time.Minute), "replaced by v1")
	h.note(c1, "v1", release.OutcomeLive, now.Add(-time.Minute), "rolled back from v5")
	wantAfter := `
# HELP slipway_live_release The number N of the live release vN of an environment; absent before its first.
# TYPE slipway_live_release gauge
slipway_live_release{app="shop",env="production"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(wantAfter), "slipway_live_release"); err != nil {
		t.Fatal(err)
	}
}

func TestCollectorWithoutHistory(t *testing.T) {
	src := testSource(t, t.TempDir())
	c := &stateCollector{src: src, now: func() time.Time { return now }}
	want := `
# HELP slipway_dora_deployment_frequency_per_day DORA deployment frequency: deploys that went live in the last 30 days, per day (from the history; rollbacks are not deploys).
# TYPE slipway_dora_deployment_frequency_per_day gauge
slipway_dora_deployment_frequency_per_day{app="shop",env="production"} 0
# HELP slipway_deploy_in_progress 1 while a deploy or rollback holds the environment's lock.
# TYPE slipway_deploy_in_progress gauge
slipway_deploy_in_progress{app="shop",env="production"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "slipway_dora_deployment_frequency_per_day",
		"slipway_deploy_in_progress", "slipway_live_release", "slipway_dora_lead_time_seconds", "slipway_hosts"); err != nil {
		t.Fatal(err)
	}
}

func TestObserveCountsByOutcome(t *testing.T) {
	m := NewMetrics(testSource(t, t.TempDir()), func() time.Time { return now })
	for _, o := range []release.Observation{
		{App: "shop", Env: "production", Kind: release.ObserveDeploy, Outcome: release.OutcomeLive, Duration: time.Second},
		{App: "shop", Env: "production", Kind: release.ObserveDeploy, Outcome: release.OutcomeFailed, Duration: time.Second},
		{App: "shop", Env: "production", Kind: release.ObserveDeploy, Outcome: release.OutcomeLive, Rollback: true},
		{App: "shop", Env: "production", Kind: release.ObserveStep, Step: "upload", Duration: 2 * time.Second},
		{App: "shop", Env: "production", Kind: release.ObserveHealth, Host: "web-1", Outcome: "ok"},
	} {
		m.Observe(o)
	}
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"deploys live", testutil.ToFloat64(m.deploys.WithLabelValues("shop", "production", "live")), 1},
		{"deploys failed", testutil.ToFloat64(m.deploys.WithLabelValues("shop", "production", "failed")), 1},
		{"rollbacks live", testutil.ToFloat64(m.rollbacks.WithLabelValues("shop", "production", "live")), 1},
		{"health ok", testutil.ToFloat64(m.health.WithLabelValues("shop", "production", "ok")), 1},
		{"upload steps", float64(testutil.CollectAndCount(m.steps)), 1},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}
