package gitserver

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/slipwayhq/slipway/release"
)

// TestExplain lists every kind of error the engine returns and what a
// pusher and an ssh user read for it: the hints name the user's own
// channel and never the other one.
func TestExplain(t *testing.T) {
	since := time.Date(2026, 12, 2, 6, 40, 0, 0, time.UTC)
	target := explainTarget{App: "shop", Env: "production", Branch: "production"}
	rollback := target
	rollback.Rollback = "v4"
	tests := []struct {
		name   string
		err    error
		t      explainTarget
		ch     channel
		detail []string // substrings of Detail, in order
		short  string   // Short, exactly
		lacks  []string // not in Detail or Short
	}{
		{
			name: "frozen, push, admin", ch: viaPush, t: target,
			err:    &release.FrozenError{Freeze: release.Freeze{App: "shop", Env: "production", User: "alice", Reason: "incident 512", Since: since}, Forceable: true},
			detail: []string{"shop/production is locked by alice since 2026-12-02 06:40 UTC: incident 512; deploys resume after ssh <server> unlock shop production", "rollbacks still run: git push deploy +vN:rollback", "git push -o force"},
			short:  "shop/production is locked by alice since 2026-12-02 06:40 UTC: incident 512; deploys resume after ssh <server> unlock shop production",
		},
		{
			name: "frozen, ssh", ch: viaSSH, t: target,
			err:    &release.FrozenError{Freeze: release.Freeze{App: "shop", Env: "production", User: "alice", Reason: "incident 512", Since: since}},
			detail: []string{"ssh <server> unlock shop production", "rollbacks still run: ssh <server> rollback shop production"},
			short:  "shop/production is locked by alice since 2026-12-02 06:40 UTC: incident 512; deploys resume after ssh <server> unlock shop production",
			lacks:  []string{"git push"},
		},
		{
			name: "busy, push", ch: viaPush, t: target,
			err:    &release.LockedError{App: "shop", Env: "production", Holder: release.Lock{User: "bob", Release: "v7", Since: since}},
			detail: []string{"production is being deployed by bob since 06:40:00 UTC (v7); push again when it has finished"},
			short:  "production is locked by bob's deploy",
		},
		{
			name: "busy, ssh", ch: viaSSH, t: target,
			err:    &release.LockedError{App: "shop", Env: "production", Holder: release.Lock{User: "bob", Release: "v7", Since: since}},
			detail: []string{"try again when it has finished"},
			short:  "production is locked by bob's deploy",
			lacks:  []string{"push again"},
		},
		{
			name: "branch moved, push", ch: viaPush, t: target,
			err:    fmt.Errorf("move: %w", release.ErrBranchMoved),
			detail: []string{"branch production moved while you pushed; fetch, then push again"},
			short:  "branch moved; fetch and push again",
		},
		{
			name: "branch moved, ssh", ch: viaSSH, t: rollback,
			err:    release.ErrBranchMoved,
			detail: []string{"branch production moved while you asked; try again"},
			short:  "branch moved; try again",
			lacks:  []string{"fetch", "push"},
		},
		{
			name: "deploy failed", ch: viaPush, t: target,
			err:   &release.DeployError{Release: "v3", Step: "health", Host: "web-2", Err: errors.New("exit status 1")},
			short: "deploy failed: health check failed on web-2",
		},
		{
			name: "rollback failed", ch: viaSSH, t: rollback,
			err:   &release.DeployError{Release: "v4", Step: "health", Host: "web-2", Err: errors.New("exit status 1")},
			short: "rollback failed: health check failed on web-2",
		},
		{
			name: "damaged file", ch: viaPush, t: target,
			err:    &release.FileError{Path: "/data/pending/shop/production.json", Kind: release.KindPending, App: "shop", Env: "production", Err: errors.New("unexpected end of JSON input")},
			detail: []string{"/data/pending/shop/production.json"},
			short:  "the pending release file of production is damaged; an operator must fix or remove it",
		},
		{
			name: "unsettled", ch: viaPush, t: target,
			err:    fmt.Errorf("%w: web-3 still runs v5", release.ErrUnsettled),
			detail: []string{"web-3 still runs v5", "push again once every host is reachable"},
			short:  "an earlier deploy is not rolled back on every host yet",
		},
		{
			name: "pending approval", ch: viaPush, t: target,
			err:    &release.PendingError{Pending: release.Pending{App: "shop", Env: "production", Release: "v9", User: "bob", StagedAt: since}},
			detail: []string{"v9 by bob since 2026-12-02 06:40 UTC waits for approval in production", "ssh <server> approve|reject shop production v9"},
			short:  "a release waits for approval in production",
		},
		{
			name: "not approved, waiting", ch: viaPush, t: rollback,
			err:    &release.NotApprovedError{App: "shop", Env: "production", Release: "v9", Pusher: "bob", State: "waiting"},
			detail: []string{"v9 is waiting for approval in production", "an approver other than bob must run ssh <server> approve shop production v9"},
			short:  "v9 waits for approval in production",
		},
		{
			name: "not approved, rejected", ch: viaSSH, t: rollback,
			err:    &release.NotApprovedError{App: "shop", Env: "production", Release: "v8", State: "rejected", Detail: "rejected by carol: broken"},
			detail: []string{"v8 was not approved for production (rejected by carol: broken)", "push its commit again"},
			short:  "v8 was never approved for production",
		},
		{
			name: "never live, push", ch: viaPush, t: rollback,
			err:    &release.NeverLiveError{Release: "v4", Outcome: "failed", Time: since, Reason: "health check failed on web-2"},
			detail: []string{"v4 failed on 2026-12-02: health check failed on web-2", "push with -o force to roll back to it anyway"},
			short:  "v4 never went live; force it with git push -o force",
			lacks:  []string{"--force"},
		},
		{
			name: "never live, ssh", ch: viaSSH, t: rollback,
			err:    &release.NeverLiveError{Release: "v4", Outcome: "failed", Time: since},
			detail: []string{"v4 failed on 2026-12-02: none", "add --force to roll back to it anyway"},
			short:  "v4 never went live; force it with rollback --force",
			lacks:  []string{"-o force", "git push"},
		},
		{
			name: "artifact gone", ch: viaPush, t: rollback,
			err:    &release.ArtifactGoneError{App: "shop", Release: "v4", SHA256: "9c1e0f3a5b7d9e1f3a5b7d9e1f3a5b7d9e1f3a5b7d9e1f3a5b7d9e1f3a5b7d9e"},
			detail: []string{"v4 was shipped from an artifact (sha256 9c1e", "that was removed with its release from the hosts; ship that artifact again with ssh <server> artifact shop production --commit COMMIT"},
			short:  "the artifact of v4 is no longer kept",
		},
		{
			name: "reject a live release", ch: viaSSH, t: target,
			err:    &release.LiveReleaseError{App: "shop", Env: "production", Release: "v6", Live: true},
			detail: []string{"v6 is live in production, so it cannot be rejected", "to take it off, roll back: ssh <server> rollback shop production"},
			short:  "v6 is live in production, so it cannot be rejected",
		},
		{
			name: "reject a release that was live", ch: viaSSH, t: target,
			err:    &release.LiveReleaseError{App: "shop", Env: "production", Release: "v5"},
			detail: []string{"v5 has been live in production already, so it cannot be rejected; only a release waiting for approval can"},
			short:  "v5 has been live in production already, so it cannot be rejected; only a release waiting for approval can",
			lacks:  []string{"roll back"},
		},
		{
			name: "not an approver", ch: viaSSH, t: target,
			err:    fmt.Errorf("%w: bob pushed v9", release.ErrNotApprover),
			detail: []string{"bob pushed v9"},
			short:  release.ErrNotApprover.Error() + ": bob pushed v9",
		},
		{
			name: "rollback refused for a reason of the history", ch: viaPush, t: rollback,
			err:    errors.New("production already runs v4"),
			detail: []string{"rollback refused: production already runs v4"},
			short:  "rollback refused",
		},
		{
			name: "anything else is internal", ch: viaPush, t: target,
			err:    errors.New("open /data/repos/shop.git: permission denied"),
			detail: []string{"deploy of production could not start: open /data/repos/shop.git: permission denied"},
			short:  "deploy failed: internal error; see the server log",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := explain(tt.err, tt.ch, tt.t)
			rest := r.Detail
			for _, want := range tt.detail {
				i := strings.Index(rest, want)
				if i < 0 {
					t.Fatalf("Detail = %q\nwant it to contain, in order, %q", r.Detail, want)
				}
				rest = rest[i+len(want):]
			}
			if len(tt.detail) == 0 && r.Detail != "" {
				t.Errorf("Detail = %q, want none", r.Detail)
			}
			if r.Short != tt.short {
				t.Errorf("Short = %q, want %q", r.Short, tt.short)
			}
			for _, no := range tt.lacks {
				if strings.Contains(r.Detail+r.Short, no) {
					t.Errorf("%q in %q / %q", no, r.Detail, r.Short)
				}
			}
			if want := tt.name == "anything else is internal"; r.Internal != want {
				t.Errorf("Internal = %v, want %v", r.Internal, want)
			}
		})
	}
}
