package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipwayhq/slipway/config"
)

// Event is one deploy event as a webhook receives it.
type Event struct {
	Event   string    `json:"event"` // one of config.NotifyEvents
	App     string    `json:"app"`
	Env     string    `json:"env"`
	Release string    `json:"release"`
	Commit  string    `json:"commit"`
	User    string    `json:"user"`
	Outcome string    `json:"outcome"` // started, live, failed, pending
	Detail  string    `json:"detail"`
	Time    time.Time `json:"time"`
	Hosts   []string  `json:"hosts"`
	// Text is a one-line summary; with it, a Slack incoming-webhook URL
	// works as it is.
	Text string `json:"text"`
}

// Defaults of a Dispatcher.
const (
	DefaultQueue    = 256 // deliveries waiting, per webhook
	DefaultAttempts = 4
	DefaultBackoff  = time.Second
	maxBackoff      = 30 * time.Second
)

// Dispatcher sends events to the webhooks that ask for them, in the
// background. Each webhook has its own bounded queue and one sender, so
// it receives events in the order they happened and a slow one delays
// no other. Create it with New; a nil *Dispatcher drops every event.
type Dispatcher struct {
	// Targets returns the webhooks in force; it is called for each event,
	// so a reloaded configuration applies from the next one.
	Targets func() []*config.Notify
	Log     zerolog.Logger
	// Attempts per delivery (at least 1) and the wait before the first
	// retry, doubled for each next one.
	Attempts int
	Backoff  time.Duration

	size   int
	client *http.Client
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	queues map[string]chan delivery // by URL
	closed bool
}

type delivery struct {
	target *config.Notify
	ev     Event
	body   []byte
}

// New returns a dispatcher whose queues hold up to size deliveries each.
func New(targets func() []*config.Notify, log zerolog.Logger, size int) *Dispatcher {
	if size < 1 {
		size = DefaultQueue
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Dispatcher{
		Targets:  targets,
		Log:      log,
		Attempts: DefaultAttempts,
		Backoff:  DefaultBackoff,
		size:     size,
		// Redirects are not followed: a webhook answers where it is.
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		ctx:    ctx,
		cancel: cancel,
		queues: map[string]chan delivery{},
	}
}

// Send queues ev for every webhook that asks for its kind and returns at
// once. When a webhook's queue is full the delivery is dropped, with a
// log line.
func (d *Dispatcher) Send(ev Event) {
	if d == nil || d.Targets == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	if ev.Hosts == nil {
		ev.Hosts = []string{}
	}
	ev.Text = Text(ev)
	body, err := json.Marshal(ev)
	if err != nil {
		d.Log.Error().Err(err).Msg("cannot encode a notification")
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	for _, t := range d.Targets() {
		if !t.Wants(ev.Event) {
			continue
		}
		q, ok := d.queues[t.URL]
		if !ok {
			q = make(chan delivery, d.size)
			d.queues[t.URL] = q
			d.wg.Add(1)
			go d.work(q)
		}
		select {
		case q <- delivery{target: t, ev: ev, body: body}:
		default:
			d.Log.Warn().Str("url", config.RedactURL(t.URL)).Str("event", ev.Event).Str("app", ev.App).Str("env", ev.Env).
				Str("release", ev.Release).Int("queue", d.size).Msg("notification dropped: the queue is full")
		}
	}
}

// Close stops taking events and waits up to timeout for the queued ones
// to be delivered; those still waiting then are dropped.
func (d *Dispatcher) Close(timeout time.Duration) {
	if d == nil {
		return
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	for _, q := range d.queues {
		close(q)
	}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		d.cancel()
		<-done
	}
	d.cancel()
}

func (d *Dispatcher) work(q chan delivery) {
	defer d.wg.Done()
	for dl := range q {
		if d.ctx.Err() != nil {
			d.Log.Warn().Str("url", config.RedactURL(dl.target.URL)).Str("event", dl.ev.Event).Str("release", dl.ev.Release).
				Msg("notification dropped: slipway is stopping")
			continue
		}
		d.deliver(dl)
	}
}

// deliver posts one event, retrying network errors, 429 and 5xx answers
// with backoff, at most Attempts times. Every attempt is logged.
func (d *Dispatcher) deliver(dl delivery) {
	attempts := max(d.Attempts, 1)
	wait := d.Backoff
	log := d.Log.With().Str("url", config.RedactURL(dl.target.URL)).Str("event", dl.ev.Event).
		Str("app", dl.ev.App).Str("env", dl.ev.Env).Str("release", dl.ev.Release).Logger()
	for n := 1; ; n++ {
		status, err := d.post(dl)
		retry := err != nil || status == http.StatusTooManyRequests || status >= 500
		switch {
		case err == nil && status < 300:
			log.Info().Int("attempt", n).Int("status", status).Msg("notification sent")
			return
		case !retry:
			log.Warn().Int("attempt", n).Int("status", status).Msg("notification refused by the webhook; not retried")
			return
		case n >= attempts:
			log.Warn().Int("attempt", n).Int("status", status).AnErr("error", err).Msg("notification not delivered; giving up")
			return
		}
		log.Warn().Int("attempt", n).Int("status", status).AnErr("error", err).Dur("retry_in", wait).Msg("notification failed; retrying")
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-d.ctx.Done():
			t.Stop()
			log.Warn().Int("attempt", n).Msg("notification dropped: slipway is stopping")
			return
		}
		wait = min(wait*2, maxBackoff)
	}
}

// post makes one attempt. Its error never holds the URL.
func (d *Dispatcher) post(dl delivery) (int, error) {
	ctx, cancel := context.WithTimeout(d.ctx, dl.target.Timeout.Std())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dl.target.URL, bytes.NewReader(dl.body))
	if err != nil {
		return 0, errors.New("invalid webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "slipway")
	resp, err := d.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error's text repeats the whole URL
		}
		return 0, fmt.Errorf("post: %s", strings.ReplaceAll(err.Error(), dl.target.URL, config.RedactURL(dl.target.URL)))
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Text is the one-line summary of ev for chat: Slack's control
// characters (&, <, >) in it are escaped.
func Text(ev Event) string {
	where := ev.App + "/" + ev.Env
	commit := ev.Commit
	if len(commit) > 7 {
		commit = commit[:7]
	}
	var s string
	switch ev.Event {
	case "start":
		hosts := fmt.Sprintf("%d hosts", len(ev.Hosts))
		if len(ev.Hosts) == 1 {
			hosts = "1 host"
		}
		s = fmt.Sprintf("%s: %s (%s) by %s started on %s", where, ev.Release, commit, ev.User, hosts)
		if ev.Detail != "" {
			s += ": " + ev.Detail
		}
	case "success":
		s = fmt.Sprintf("%s: %s (%s) by %s is live: %s", where, ev.Release, commit, ev.User, ev.Detail)
	case "failure":
		s = fmt.Sprintf("%s: %s (%s) by %s FAILED: %s", where, ev.Release, commit, ev.User, ev.Detail)
	case "rollback":
		s = fmt.Sprintf("%s: rolled back to %s (%s) by %s: %s", where, ev.Release, commit, ev.User, ev.Detail)
	case "approval":
		s = fmt.Sprintf("%s: %s (%s) by %s waits for approval: ssh <server> approve %s %s %s", where, ev.Release, commit, ev.User, ev.App, ev.Env, ev.Release)
	default:
		s = fmt.Sprintf("%s: %s %s by %s: %s", where, ev.Release, ev.Outcome, ev.User, ev.Detail)
	}
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
