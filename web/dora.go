package web

import (
	"slices"
	"strings"
	"time"

	"github.com/slipwayhq/slipway/release"
)

// doraWindow is how far back the DORA measures look.
const doraWindow = 30 * 24 * time.Hour

// dora is the four DORA measures of one environment over doraWindow,
// derived from its release history:
//
//   - deploys: deploys that went live (rollbacks are not deploys);
//   - lead time: median time from the released commit to its going live;
//   - change failure rate: failed changes over all changes, where a
//     change is a deploy that went live or one that failed or was cut
//     short, and it failed if it did not go live or was rolled back
//     later (a rejected or expired approval is no change);
//   - time to restore: median time from a failed change's start to the
//     environment being back on a good release: the deploy's start to its
//     `failed` line, or its going live to the rollback that replaced it.
type dora struct {
	Deploys        int
	Changes        int
	Failures       int
	LeadTime       time.Duration // 0 when there is no deploy
	TimeToRestore  time.Duration // 0 when there is no failure
	hasLead        bool
	hasRestoreTime bool
}

// FailureRate is Failures/Changes; ok is false without changes.
func (d dora) FailureRate() (float64, bool) {
	if d.Changes == 0 {
		return 0, false
	}
	return float64(d.Failures) / float64(d.Changes), true
}

// doraByEnv computes the measures for each environment of an app from its
// history; commits maps a commit id to its committer time.
func doraByEnv(rels []*release.Release, commits map[string]time.Time, now time.Time) map[string]dora {
	since := now.Add(-doraWindow)
	type acc struct {
		d        dora
		leads    []time.Duration
		restores []time.Duration
	}
	byEnv := map[string]*acc{}
	get := func(env string) *acc {
		a := byEnv[env]
		if a == nil {
			a = &acc{}
			byEnv[env] = a
		}
		return a
	}
	for _, rel := range rels {
		var deployedAt time.Time // its own deploy went live
		failed := false
		for _, ev := range rel.Events {
			switch {
			case ev.Outcome == release.OutcomeLive && strings.HasPrefix(ev.Detail, "deployed in "):
				deployedAt = ev.Time
				if !ev.Time.Before(since) {
					a := get(rel.Env)
					a.d.Deploys++
					a.d.Changes++
					if ct, ok := commits[rel.Commit]; ok && !ev.Time.Before(ct) {
						a.leads = append(a.leads, ev.Time.Sub(ct))
					}
				}
			case ev.Outcome == release.OutcomeRolledBack && !deployedAt.IsZero():
				if !ev.Time.Before(since) {
					a := get(rel.Env)
					a.d.Failures++
					a.restores = append(a.restores, ev.Time.Sub(deployedAt))
				}
				deployedAt = time.Time{}
			case (ev.Outcome == release.OutcomeFailed || ev.Outcome == release.OutcomeInterrupted) && !failed &&
				deployedAt.IsZero() && !strings.HasPrefix(ev.Detail, "not approved") && !strings.HasPrefix(ev.Detail, "rollback to it"):
				failed = true
				if !ev.Time.Before(since) {
					a := get(rel.Env)
					a.d.Changes++
					a.d.Failures++
					if !ev.Time.Before(rel.Time) {
						a.restores = append(a.restores, ev.Time.Sub(rel.Time))
					}
				}
			}
		}
	}
	out := make(map[string]dora, len(byEnv))
	for env, a := range byEnv {
		if len(a.leads) > 0 {
			a.d.LeadTime, a.d.hasLead = median(a.leads), true
		}
		if len(a.restores) > 0 {
			a.d.TimeToRestore, a.d.hasRestoreTime = median(a.restores), true
		}
		out[env] = a.d
	}
	return out
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
