package release

import (
	"errors"
	"testing"
	"time"

	"github.com/slipwayhq/slipway/config"
)

func TestCheckApproved(t *testing.T) {
	at := time.Date(2026, 11, 23, 16, 41, 0, 0, time.UTC)
	ev := func(outcome, detail string) Event {
		return Event{Release: "v2", Env: "production", Outcome: outcome, Time: at, User: "bob", Detail: detail}
	}
	tests := []struct {
		name     string
		approval bool
		rel      Release
		state    string // "" when allowed
	}{
		{"no approval: a staged release may be forced", false,
			Release{Outcome: OutcomePending, Events: []Event{ev(OutcomePending, "staged on 1 host")}}, ""},
		{"was live before", true,
			Release{Outcome: OutcomeRolledBack, LiveAt: at, Events: []Event{ev(OutcomeLive, "deployed in 1s"), ev(OutcomeRolledBack, "replaced by v1")}}, ""},
		{"approved, then failed its health check", true,
			Release{Outcome: OutcomeFailed, ApprovedBy: "alice", Events: []Event{ev(OutcomePending, "staged"), ev(EventApproved, "pushed by bob"), ev(OutcomeFailed, "health check failed on local")}}, ""},
		{"waiting for approval", true,
			Release{Outcome: OutcomePending, Events: []Event{ev(OutcomePending, "staged on 1 host, waiting for approval")}}, "waiting"},
		{"rejected", true,
			Release{Outcome: OutcomeFailed, Events: []Event{ev(OutcomePending, "staged"), ev(OutcomeFailed, "not approved: rejected by alice: not on a Friday")}}, "rejected"},
		{"expired", true,
			Release{Outcome: OutcomeFailed, Events: []Event{ev(OutcomePending, "staged"), ev(OutcomeFailed, "not approved: expired at 2026-11-24T16:41:00Z")}}, "rejected"},
		{"failed before it was staged", true,
			Release{Outcome: OutcomeFailed, Events: []Event{ev(OutcomeFailed, "upload failed on web-1: connection refused")}}, "never"},
		{"no line at all", true, Release{Outcome: OutcomePending}, "never"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := &config.Environment{Name: "production", Approval: tt.approval}
			rel := tt.rel
			rel.Name, rel.Env, rel.User = "v2", "production", "bob"
			err := checkApproved("shop", env, &rel)
			if tt.state == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ne *NotApprovedError
			if !errors.As(err, &ne) || !errors.Is(err, ErrNotApproved) {
				t.Fatalf("got %v, want a NotApprovedError", err)
			}
			if ne.State != tt.state {
				t.Errorf("state %q, want %q (%v)", ne.State, tt.state, err)
			}
		})
	}
}
