package config

import (
	"net/url"
	"slices"
	"strings"
	"time"
)

// Notify is a webhook that receives a JSON POST for each deploy event it
// asks for. Its URL is a secret (an incoming-webhook URL carries its
// token): Slipway shows only its scheme and host (see RedactURL).
type Notify struct {
	URL     string   `toml:"url"`     // http or https; required
	Events  []string `toml:"events"`  // from NotifyEvents; default: all of them
	Timeout Duration `toml:"timeout"` // per attempt; default 10s; more than 0
}

// NotifyEvents are the events a [[notify]] entry may ask for: a deploy or
// rollback started, a deploy went live, a deploy or rollback failed, a
// rollback went live, a release was staged and waits for approval.
var NotifyEvents = []string{"start", "success", "failure", "rollback", "approval"}

// Wants reports whether n asks for event.
func (n *Notify) Wants(event string) bool { return slices.Contains(n.Events, event) }

// RedactURL returns the scheme and host of a webhook URL with the rest
// replaced by ***, so that logs and messages never show its token.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "***"
	}
	return u.Scheme + "://" + u.Host + "/***"
}

// notify decodes the [[notify]] entries.
func (d *decoder) notify(c *Config, v any, p keyPath) {
	for _, nt := range d.tableArray(p, v, "[[notify]]") {
		n := &Notify{Events: slices.Clone(NotifyEvents), Timeout: Duration(10 * time.Second)}
		c.Notify = append(c.Notify, n)
		if nt != nil {
			nt.str("url", &n.URL)
			nt.stringList("events", &n.Events)
			nt.duration("timeout", &n.Timeout)
			nt.finish(nil)
		}
	}
}

// checkNotify checks each [[notify]] entry's URL, events and timeout.
func (d *decoder) checkNotify(c *Config) {
	for i, n := range c.Notify {
		np := keyPath{{name: "notify"}}.index(i)
		u, err := url.Parse(n.URL)
		switch {
		case n.URL == "":
			d.errorf(np.key("url"), `is required: the webhook to POST to, such as "https://hooks.slack.com/services/..."`)
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil:
			d.errorf(np.key("url"), "must be an http:// or https:// URL with a host and no user (got %s)", RedactURL(n.URL))
		}
		if len(n.Events) == 0 && !d.badUnder(np.key("events")) {
			d.errorf(np.key("events"), "must name at least one event: %s", strings.Join(NotifyEvents, ", "))
		}
		for j, ev := range n.Events {
			if !slices.Contains(NotifyEvents, ev) {
				d.errorf(np.key("events").index(j), "%q is not an event: use %s", ev, strings.Join(NotifyEvents, ", "))
			} else if slices.Index(n.Events, ev) != j {
				d.errorf(np.key("events").index(j), "%q is listed twice", ev)
			}
		}
		if n.Timeout <= 0 && !d.badUnder(np.key("timeout")) {
			d.errorf(np.key("timeout"), "must be more than 0, such as \"10s\"")
		}
	}
}
