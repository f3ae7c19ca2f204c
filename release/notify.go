package release

import (
	"time"

	"github.com/slipwayhq/slipway/notify"
)

// noticeFor maps the audit events of a deploy to the notification each
// one sends, if any.
var noticeFor = map[string]struct{ event, outcome string }{
	"deploy":      {"start", "started"},
	"rollback":    {"start", "started"},
	"deployed":    {"success", OutcomeLive},
	"rolled-back": {"rollback", OutcomeLive},
	"failed":      {"failure", OutcomeFailed},
	"staged":      {"approval", OutcomePending},
}

// notify queues the notification for the audit event of d, if it has
// one. It never blocks: delivery is the dispatcher's business.
func (d *deploy) notify(auditEvent, detail string) {
	n, ok := noticeFor[auditEvent]
	if !ok || d.e.Notify == nil {
		return
	}
	switch auditEvent {
	case "deploy":
		detail = "" // the commit, which the event carries already
	case "rollback":
		detail = "rollback, replacing " + orNone(d.from)
	}
	d.e.Notify.Send(notify.Event{
		Event: n.event, App: d.req.App.Name, Env: d.req.Env.Name, Release: d.rel, Commit: d.req.Commit,
		User: d.req.User, Outcome: n.outcome, Detail: detail, Time: time.Now().UTC(),
		Hosts: append([]string{}, d.req.Env.Hosts...),
	})
}
