package notify

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipwayhq/slipway/config"
)

// syncBuffer is a log sink the senders and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// hook is a webhook that answers each request with the next status of
// answers (200 once they run out) and keeps the bodies it was sent.
type hook struct {
	mu      sync.Mutex
	answers []int
	bodies  [][]byte
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.bodies = append(h.bodies, body)
	status := http.StatusOK
	if len(h.answers) > 0 {
		status, h.answers = h.answers[0], h.answers[1:]
	}
	h.mu.Unlock()
	w.WriteHeader(status)
}

func TestDeliveryRetries(t *testing.T) {
	tests := []struct {
		name     string
		answers  []int
		requests int    // the webhook sees this many
		logged   string // the last attempt's log message
	}{
		{"ok at once", nil, 1, "notification sent"},
		{"500 then ok", []int{500}, 2, "notification sent"},
		{"429 and 503 then ok", []int{429, 503}, 3, "notification sent"},
		{"always 500", []int{500, 500, 500, 500, 500}, 3, "notification not delivered; giving up"},
		{"404 is not retried", []int{404}, 1, "notification refused by the webhook; not retried"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &hook{answers: tt.answers}
			srv := httptest.NewServer(h)
			defer srv.Close()
			url := srv.URL + "/services/T000/B000/s3cr3t-token"
			var logs syncBuffer
			d := New(func() []*config.Notify {
				return []*config.Notify{{URL: url, Events: config.NotifyEvents, Timeout: config.Duration(time.Minute)}}
			}, zerolog.New(&logs), 8)
			d.Attempts, d.Backoff = 3, time.Millisecond
			d.Send(Event{Event: "success", App: "shop", Env: "production", Release: "v7", Commit: "0123456789abcdef", User: "alice", Outcome: "live", Detail: "live in 3.4s"})
			d.Close(time.Minute)

			h.mu.Lock()
			defer h.mu.Unlock()
			if len(h.bodies) != tt.requests {
				t.Fatalf("webhook got %d requests, want %d; log:\n%s", len(h.bodies), tt.requests, logs.String())
			}
			var ev Event
			if err := json.Unmarshal(h.bodies[len(h.bodies)-1], &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Text != "shop/production: v7 (0123456) by alice is live: live in 3.4s" || ev.Release != "v7" || ev.Hosts == nil {
				t.Errorf("body = %+v", ev)
			}
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			if len(lines) != tt.requests {
				t.Errorf("%d log lines for %d attempts:\n%s", len(lines), tt.requests, logs.String())
			}
			if !strings.Contains(lines[len(lines)-1], tt.logged) {
				t.Errorf("last log line %s, want %q", lines[len(lines)-1], tt.logged)
			}
			if strings.Contains(logs.String(), "s3cr3t") || strings.Contains(logs.String(), "/services") {
				t.Errorf("the log shows the webhook's path:\n%s", logs.String())
			}
		})
	}
}

func TestUnreachableWebhookIsNotLogged(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/hook/s3cr3t-token"
	srv.Close() // nothing listens there any more
	var logs syncBuffer
	d := New(func() []*config.Notify {
		return []*config.Notify{{URL: url, Events: []string{"failure"}, Timeout: config.Duration(time.Minute)}}
	}, zerolog.New(&logs), 8)
	d.Attempts, d.Backoff = 2, time.Millisecond
	d.Send(Event{Event: "start", App: "shop"}) // not asked for
	d.Send(Event{Event: "failure", App: "shop"})
	d.Close(time.Minute)
	out := logs.String()
	if strings.Count(out, "\n") != 2 || !strings.Contains(out, "giving up") {
		t.Errorf("want two attempts of the failure only:\n%s", out)
	}
	if strings.Contains(out, "s3cr3t") || !strings.Contains(out, `"url":"http://127.0.0.1:`) {
		t.Errorf("the log must show the host and not the path:\n%s", out)
	}
}

func TestFullQueueDrops(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	var logs syncBuffer
	d := New(func() []*config.Notify {
		return []*config.Notify{{URL: srv.URL, Events: config.NotifyEvents, Timeout: config.Duration(time.Minute)}}
	}, zerolog.New(&logs), 1)
	// The sender holds at most one, the queue one more: of three, one at
	// least is dropped, and Send never waits.
	for range 3 {
		d.Send(Event{Event: "start", App: "shop"})
	}
	close(release)
	d.Close(time.Minute)
	if !strings.Contains(logs.String(), "notification dropped: the queue is full") {
		t.Errorf("no drop logged:\n%s", logs.String())
	}
}

func TestText(t *testing.T) {
	tests := []struct {
		ev   Event
		want string
	}{
		{Event{Event: "start", App: "shop", Env: "production", Release: "v7", Commit: "0123456789", User: "alice", Hosts: []string{"web-1", "web-2"}},
			"shop/production: v7 (0123456) by alice started on 2 hosts"},
		{Event{Event: "failure", App: "shop", Env: "production", Release: "v7", Commit: "0123456789", User: "alice", Detail: "health check failed on web-1: <html> & more"},
			"shop/production: v7 (0123456) by alice FAILED: health check failed on web-1: &lt;html&gt; &amp; more"},
		{Event{Event: "rollback", App: "shop", Env: "production", Release: "v4", Commit: "abc", User: "bob", Detail: "live again in 1.2s"},
			"shop/production: rolled back to v4 (abc) by bob: live again in 1.2s"},
		{Event{Event: "approval", App: "shop", Env: "production", Release: "v8", Commit: "abc", User: "bob"},
			"shop/production: v8 (abc) by bob waits for approval: ssh &lt;server&gt; approve shop production v8"},
	}
	for _, tt := range tests {
		if got := Text(tt.ev); got != tt.want {
			t.Errorf("Text(%s) =\n  %q, want\n  %q", tt.ev.Event, got, tt.want)
		}
	}
}

func TestNilDispatcher(t *testing.T) {
	var d *Dispatcher
	d.Send(Event{Event: "start"})
	d.Close(time.Second)
}
