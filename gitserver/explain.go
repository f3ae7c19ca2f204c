package gitserver

import (
	"errors"
	"fmt"

	"github.com/slipwayhq/slipway/release"
)

// channel is how a user reached the engine. The engine's errors carry
// facts; what to do next depends on the channel, so the hints are added
// here, once, for both.
type channel int

const (
	viaPush channel = iota // git push: hints name git push and its options
	viaSSH                 // an ssh command: hints name ssh commands and flags
)

// refusal is an engine error as a user reads it: Detail, the sentence
// written to the session's output (a remote: line for a push), and Short,
// the reason git shows in `! [remote rejected] REF (...)` or an ssh
// command prints after "slipway:". Internal marks an error the user
// cannot act on, which the caller logs in full.
type refusal struct {
	Detail   string
	Short    string
	Internal bool
}

// explainTarget is what a refusal may name besides the error's own fields.
type explainTarget struct {
	App, Env, Branch string
	Rollback         string // the release a rollback asked for, "" for a deploy
}

// explain turns an error of the deploy engine into the refusal a user of
// channel ch reads. Every kind of engine error is listed here; anything
// else is an internal error whose text stays in the server log.
func explain(err error, ch channel, t explainTarget) refusal {
	var (
		locked      *release.LockedError
		failed      *release.DeployError
		notApproved *release.NotApprovedError
		pending     *release.PendingError
		neverLive   *release.NeverLiveError
		liveRel     *release.LiveReleaseError
		damaged     *release.FileError
		frozen      *release.FrozenError
		noSubdir    *release.SubdirError
		artGone     *release.ArtifactGoneError
	)
	again := "push again"
	if ch == viaSSH {
		again = "try again"
	}
	switch {
	case errors.As(err, &frozen):
		short := frozen.Error() + "; deploys resume after ssh <server> unlock " + frozen.Freeze.App + " " + frozen.Freeze.Env
		detail := short + "; rollbacks still run: " + pick(ch, "git push deploy +vN:rollback", "ssh <server> rollback "+t.App+" "+t.Env)
		if frozen.Forceable {
			detail += "; as an admin you may deploy anyway with git push -o force (it is recorded)"
		}
		return refusal{Detail: detail, Short: short}
	case errors.As(err, &locked):
		return refusal{
			Detail: fmt.Sprintf("%s is being deployed by %s since %s (%s); %s when it has finished",
				locked.Env, locked.Holder.User, locked.Holder.Since.UTC().Format("15:04:05 MST"), locked.Holder.Release, again),
			Short: fmt.Sprintf("%s is locked by %s's deploy", locked.Env, locked.Holder.User),
		}
	case errors.As(err, &noSubdir):
		return refusal{Detail: noSubdir.Error(), Short: noSubdir.Short()}
	case errors.Is(err, release.ErrBranchMoved):
		return refusal{
			Detail: fmt.Sprintf("branch %s moved while you %s; %s", t.Branch, pick(ch, "pushed", "asked"), pick(ch, "fetch, then push again", "try again")),
			Short:  "branch moved; " + pick(ch, "fetch and push again", "try again"),
		}
	case errors.As(err, &failed):
		what := "deploy failed: "
		if t.Rollback != "" {
			what = "rollback failed: "
		}
		// The deploy's own lines have said what happened, host by host.
		return refusal{Short: what + failed.Reason()}
	case errors.As(err, &damaged):
		return refusal{Detail: damaged.Error(), Short: fmt.Sprintf("the %s file of %s is damaged; an operator must fix or remove it", damaged.Kind, t.Env)}
	case errors.Is(err, release.ErrUnsettled):
		return refusal{Detail: err.Error() + "; " + again + " once every host is reachable (slipway check shows which is not)", Short: "an earlier deploy is not rolled back on every host yet"}
	case errors.As(err, &pending):
		p := pending.Pending
		return refusal{
			Detail: fmt.Sprintf("%s; approve or reject it first: ssh <server> approve|reject %s %s %s", pending.Error(), p.App, p.Env, p.Release),
			Short:  "a release waits for approval in " + p.Env,
		}
	case errors.As(err, &notApproved):
		var hint string
		switch notApproved.State {
		case "waiting":
			hint = fmt.Sprintf("an approver other than %s must run ssh <server> approve %s %s %s", notApproved.Pusher, notApproved.App, notApproved.Env, notApproved.Release)
		case "rejected":
			hint = fmt.Sprintf("push its commit again and have an approver run ssh <server> approve %s %s", notApproved.App, notApproved.Env)
		default:
			hint = fmt.Sprintf("push it again and have an approver run ssh <server> approve %s %s", notApproved.App, notApproved.Env)
		}
		return refusal{Detail: notApproved.Error() + "; " + hint, Short: notApproved.Short()}
	case errors.As(err, &neverLive):
		force := pick(ch, "push with -o force", "add --force")
		return refusal{
			Detail: neverLive.Error() + "; " + force + " to roll back to it anyway",
			Short:  neverLive.Release + " never went live; force it with " + pick(ch, "git push -o force", "rollback --force"),
		}
	case errors.As(err, &artGone):
		return refusal{
			Detail: artGone.Error() + "; ship that artifact again with ssh <server> artifact " + artGone.App + " " + t.Env + " --commit COMMIT",
			Short:  "the artifact of " + artGone.Release + " is no longer kept",
		}
	case errors.As(err, &liveRel):
		r := refusal{Detail: liveRel.Error(), Short: liveRel.Error()}
		if liveRel.Live {
			r.Detail += fmt.Sprintf("; to take it off, roll back: %s", pick(ch, "git push deploy +vN:rollback/"+liveRel.Env, "ssh <server> rollback "+liveRel.App+" "+liveRel.Env))
		}
		return r
	case errors.Is(err, release.ErrNotApprover), errors.Is(err, release.ErrNoPending):
		return refusal{Detail: err.Error(), Short: err.Error()}
	}
	if t.Rollback != "" {
		// A rollback's refusals are facts about the history (no such
		// release, it was deployed elsewhere, it runs already).
		return refusal{Detail: "rollback refused: " + err.Error(), Short: "rollback refused"}
	}
	return refusal{
		Detail:   fmt.Sprintf("deploy of %s could not start: %v", t.Env, err),
		Short:    "deploy failed: internal error; see the server log",
		Internal: true,
	}
}

// pick returns the words for the channel.
func pick(ch channel, push, ssh string) string {
	if ch == viaSSH {
		return ssh
	}
	return push
}

// refuse writes an ssh command's refusal to its stderr: the sentence, or
// for an error the user cannot act on, the error itself, which also goes
// to the server log.
func (c *command) refuse(err error, r refusal) {
	switch {
	case r.Internal:
		c.s.Log.Error().Err(err).Str("user", c.id.User).Msg("command failed")
		fmt.Fprintf(c.errw, "slipway: %v\n", err)
	case r.Detail != "":
		fmt.Fprintf(c.errw, "slipway: %s\n", r.Detail)
	default:
		fmt.Fprintf(c.errw, "slipway: %s\n", r.Short)
	}
}
