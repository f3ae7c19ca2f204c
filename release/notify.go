package release

import (
	"time"

	"github.com/slipwayhq/slipway/audit"
	"github.com/slipwayhq/slipway/notify"
)

// noticeFor maps the audit events of a deploy to the notification each
// one sends, if any.
var noticeFor = map[audit.Event]struct{ event, outcome string }{
	audit.EventDeploy:     {"start", "started"},
	audit.EventRollback:   {"start", "started"},
	audit.EventDeployed:   {"success", OutcomeLive},
	audit.EventRolledBack: {"rollback", OutcomeLive},
	audit.EventFailed:     {"failure", OutcomeFailed},
	audit.EventStaged:     {"approval", OutcomePending},
}

// notify queues the notification for the audit event of d, if it has
// one. It never blocks: delivery is the dispatcher's business.
func (d *deploy) notify(auditEvent audit.Event, detail string) {
	n, ok := noticeFor[auditEvent]
	if !ok || d.e.Notify == nil {
		return
	}
	switch auditEvent {
	case audit.EventDeploy:
		detail = "" // the commit, which the event carries already
	case audit.EventRollback:
		detail = "rollback, replacing " + orNone(d.from)
	}
	d.e.Notify.Send(notify.Event{
		Event: n.event, App: d.req.App.Name, Env: d.req.Env.Name, Release: d.rel, Commit: d.req.Commit,
		User: d.req.User, Outcome: n.outcome, Detail: detail, Time: time.Now().UTC(),
		Hosts: append([]string{}, d.req.Env.Hosts...),
	})
}
