package release

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Rollback refusals callers match with errors.Is.
var (
	// ErrNeverLive means the rollback target never went live; Force allows it.
	ErrNeverLive = errors.New("release never went live")
	// ErrNothingToRollBack means there is no earlier live release.
	ErrNothingToRollBack = errors.New("no earlier release to roll back to")
)

// NeverLiveError refuses a rollback to a release that never went live,
// unless the request forces it.
type NeverLiveError struct {
	Release string
	Outcome string    // what became of it: "failed", "rejected", ...
	Time    time.Time // when
	Reason  string    // why, as recorded; "" if nothing was
}

func (e *NeverLiveError) Error() string {
	return fmt.Sprintf("%s %s on %s: %s", e.Release, e.Outcome, e.Time.UTC().Format(time.DateOnly), orNone(e.Reason))
}

func (e *NeverLiveError) Is(target error) bool { return target == ErrNeverLive }

// checkRollback validates a rollback request and returns the live release
// it replaces ("" if none is live).
func (e *Engine) checkRollback(ctx context.Context, req Request) (string, error) {
	rels, err := History(ctx, req.Repo)
	if err != nil {
		return "", err
	}
	var target *Release
	for _, r := range rels {
		if r.Name == req.Rollback {
			target = r
		}
	}
	if target == nil {
		return "", fmt.Errorf("there is no release %s of %s", req.Rollback, req.App.Name)
	}
	if target.Env != req.Env.Name {
		return "", fmt.Errorf("%s was deployed to %s, not to %s; to deploy it to %s, push %s:%s", target.Name, target.Env, req.Env.Name, req.Env.Name, target.Name, req.Env.Branch)
	}
	if target.Commit != req.Commit {
		return "", fmt.Errorf("%s is commit %s, not %s", target.Name, short(target.Commit), short(req.Commit))
	}
	var from string
	if live := LiveRelease(rels, req.Env.Name); live != nil {
		from = live.Name
		if live.Name == target.Name {
			return "", fmt.Errorf("%s already runs %s", req.Env.Name, target.Name)
		}
	}
	// Before Force: force overrides "never went live", never a missing approval.
	if err := checkApproved(req.App.Name, req.Env, target); err != nil {
		return "", err
	}
	if !target.WentLive() && !req.Force {
		return "", &NeverLiveError{Release: target.Name, Outcome: target.Outcome, Time: target.Time, Reason: target.Reason}
	}
	return from, nil
}

// PreviousLive returns the release that was live in env before the live
// one, for a rollback that names no release.
func PreviousLive(rels []*Release, env string) (*Release, error) {
	live := LiveRelease(rels, env)
	var best *Release
	for _, r := range rels {
		if r.Env != env || !r.WentLive() || r == live || r.Outcome == OutcomeRolledBack {
			continue
		}
		if best == nil || r.LiveAt.After(best.LiveAt) {
			best = r
		}
	}
	if best == nil {
		return nil, fmt.Errorf("%w in %s", ErrNothingToRollBack, env)
	}
	return best, nil
}
