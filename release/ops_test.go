package release

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/release/host"
	"github.com/slipwayhq/slipway/secrets"
)

func TestCheckLive(t *testing.T) {
	healthy := newMemHost("web-1", "v2", "v1", "v2")
	unhealthy := newMemHost("web-2", "v1", "v1")
	unhealthy.RunFunc = func(_ context.Context, rel, command string, env []string, out io.Writer) error {
		if rel != "v1" || !slices.Contains(env, "SLIPWAY_ACTION=check") || !slices.Contains(env, "SLIPWAY_RELEASE=v1") || !slices.Contains(env, "SLIPWAY_COMMIT=c1") {
			t.Errorf("health check on web-2 ran in %q with %q", rel, env)
		}
		return errors.New("exit status 1")
	}
	empty := newMemHost("web-3", "")
	hanging := newMemHost("web-4", "v2", "v2")
	hanging.OpenFunc = func(ctx context.Context) (host.Info, error) {
		<-ctx.Done()
		return host.Info{}, ctx.Err()
	}
	e := testEngine(t, healthy, unhealthy, empty, hanging)
	env := testEnv(nil, healthy, unhealthy, empty, hanging)
	env.Hosts = append(env.Hosts, "web-5") // not reachable at all
	env.Parallelism = 10

	got := e.CheckLive(context.Background(), &config.App{Name: "shop"}, env, "alice", map[string]string{"v1": "c1"}, 200*time.Millisecond)
	want := []LiveHost{
		{Name: "web-1", Current: "v2", Health: "ok"},
		{Name: "web-2", Current: "v1", Health: "failed: exit status 1"},
		{Name: "web-3", Current: "", Health: "not checked"},
		{Name: "web-4", Health: "not checked", Error: "no answer within 200ms"},
		{Name: "web-5", Health: "not checked", Error: "no route to host web-5"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("CheckLive =\n%+v\nwant\n%+v", got, want)
	}
	for _, h := range []*memHost{healthy, unhealthy} {
		if h.switches != nil || h.removed != nil {
			t.Errorf("%s: a live check changed the host: switches %v, removed %v", h.Name(), h.switches, h.removed)
		}
	}
}

func TestLogs(t *testing.T) {
	lines := func(h *memHost, text string) {
		h.AttachFunc = func(_ context.Context, rel, command string, env []string, out io.Writer) error {
			if rel != "v2" || command != "print-logs" || !slices.Contains(env, "SLIPWAY_LOG_LINES=5") || !slices.Contains(env, "SLIPWAY_ACTION=logs") {
				t.Errorf("%s: logs ran %q in %q with %q", h.Name(), command, rel, env)
			}
			io.WriteString(out, text)
			return nil
		}
	}
	web1 := newMemHost("web-1", "v2", "v2")
	lines(web1, "one\ntwo\x1b[31m red\n")
	web22 := newMemHost("web-22", "v2", "v2")
	lines(web22, "three")
	fresh := newMemHost("web-3", "")
	e := testEngine(t, web1, web22, fresh)
	env := testEnv(nil, web1, web22, fresh)
	env.Logs = "print-logs"
	app := &config.App{Name: "shop"}

	tests := []struct {
		name     string
		req      LogsRequest
		out, err []string // lines, in any order
		is       error
	}{
		{"two hosts", LogsRequest{Hosts: []string{"web-1", "web-22"}, Lines: 5},
			[]string{"web-1  | one", "web-1  | two red", "web-22 | three"}, nil, nil},
		{"one host", LogsRequest{Hosts: []string{"web-1"}, Lines: 5}, []string{"web-1 | one", "web-1 | two red"}, nil, nil},
		{"a host without a release", LogsRequest{Lines: 5},
			[]string{"web-1  | one", "web-1  | two red", "web-22 | three"},
			[]string{"web-3  | ! web-3 runs no release of shop/production yet"}, &LogsError{}},
		{"unknown host", LogsRequest{Hosts: []string{"db-1"}, Lines: 5}, nil, nil, ErrUnknownHost},
		{"no follow command", LogsRequest{Follow: true, Lines: 5}, nil, nil, ErrNoLogsCommand},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.App, tt.req.Env, tt.req.User = app, env, "bob"
			var out, errw bytes.Buffer
			err := e.Logs(context.Background(), tt.req, &out, &errw)
			var le *LogsError
			switch {
			case tt.is == nil && err != nil:
				t.Fatalf("Logs: %v", err)
			case errors.As(tt.is, &le) && !errors.As(err, &le):
				t.Fatalf("Logs = %v, want a *LogsError", err)
			case tt.is != nil && !errors.As(tt.is, &le) && !errors.Is(err, tt.is):
				t.Fatalf("Logs = %v, want %v", err, tt.is)
			}
			if got := sortedLines(out.String()); !slices.Equal(got, sortedLines(strings.Join(tt.out, "\n"))) {
				t.Errorf("out =\n%s\nwant\n%s", out.String(), strings.Join(tt.out, "\n"))
			}
			if got := sortedLines(errw.String()); !slices.Equal(got, sortedLines(strings.Join(tt.err, "\n"))) {
				t.Errorf("errw =\n%s\nwant\n%s", errw.String(), strings.Join(tt.err, "\n"))
			}
		})
	}
}

func TestLogsStopsEveryHostWhenTheUserGoes(t *testing.T) {
	hosts := []*memHost{newMemHost("web-1", "v1", "v1"), newMemHost("web-2", "v1", "v1")}
	started := make(chan string, len(hosts))
	for _, h := range hosts {
		h.AttachFunc = func(ctx context.Context, _, _ string, env []string, out io.Writer) error {
			if !slices.Contains(env, "SLIPWAY_LOG_FOLLOW=1") {
				t.Errorf("%s: SLIPWAY_LOG_FOLLOW not set: %q", h.Name(), env)
			}
			fmt.Fprintf(out, "started on %s\n", h.Name())
			started <- h.Name()
			<-ctx.Done()
			return nil
		}
	}
	e := testEngine(t, hosts...)
	env := testEnv(nil, hosts...)
	env.LogsFollow = "follow-logs"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		done <- e.Logs(ctx, LogsRequest{App: &config.App{Name: "shop"}, Env: env, Lines: 10, Follow: true}, &out, io.Discard)
	}()
	<-started
	<-started
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Logs after the user went: %v", err)
	}
	if got := sortedLines(out.String()); !slices.Equal(got, []string{"web-1 | started on web-1", "web-2 | started on web-2"}) {
		t.Errorf("out = %q", got)
	}
}

// A logs command that outlives the hooks timeout is stopped, and the host
// reported as failed rather than as done.
func TestLogsReportsATimeout(t *testing.T) {
	h := newMemHost("web-1", "v1", "v1")
	h.AttachFunc = func(ctx context.Context, _, _ string, _ []string, out io.Writer) error {
		io.WriteString(out, "first\n")
		<-ctx.Done()
		return nil // as Host.Attach does once ctx ends
	}
	e := testEngine(t, h)
	env := testEnv(nil, h)
	env.Logs = "tail -f app.log"
	env.Hooks.Timeout = config.Duration(time.Millisecond)
	var out, errw bytes.Buffer
	err := e.Logs(context.Background(), LogsRequest{App: &config.App{Name: "shop"}, Env: env, Lines: 1}, &out, &errw)
	var le *LogsError
	if !errors.As(err, &le) || le.Hosts["web-1"] == nil {
		t.Fatalf("Logs = %v, want web-1 failed", err)
	}
	if want := "web-1 | ! the logs command did not finish within 1ms (the hooks timeout)"; !strings.HasPrefix(errw.String(), want) {
		t.Errorf("errw = %q, want %q...", errw.String(), want)
	}
	if out.String() != "web-1 | first\n" {
		t.Errorf("out = %q", out.String())
	}
}

func TestLogsMasksSecrets(t *testing.T) {
	h := newMemHost("web-1", "v1", "v1")
	h.AttachFunc = func(_ context.Context, _, _ string, env []string, out io.Writer) error {
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, "TOKEN="); ok {
				fmt.Fprintf(out, "token=%s\nsplit %s", v[:3], v[3:]+" end\n")
				fmt.Fprintf(out, "whole %s\n", v)
			}
		}
		return nil
	}
	e := testEngine(t, h)
	e.Secrets = newSecretStore(t, "shop", "production", map[string]string{"TOKEN": "s3cr3t-value"})
	env := testEnv(nil, h)
	env.Logs = "print-logs"
	var out bytes.Buffer
	if err := e.Logs(context.Background(), LogsRequest{App: &config.App{Name: "shop"}, Env: env, Lines: 1}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "s3cr3t-value") || !strings.Contains(out.String(), "web-1 | whole ***") {
		t.Errorf("out = %q, want the secret masked", out.String())
	}
}

func sortedLines(s string) []string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

func newSecretStore(t *testing.T, app, env string, values map[string]string) *secrets.Store {
	t.Helper()
	s := secrets.Open(t.TempDir())
	if err := s.SetAll(app, env, values); err != nil {
		t.Fatal(err)
	}
	return s
}
