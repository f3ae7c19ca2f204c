package release

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/lifecycle"
	"github.com/slipwayhq/slipway/release/transport/local"
)

// urlCheck runs one attempt of a URL health check as a deploy does.
func urlCheck(t *testing.T, hc config.Health, secrets ...string) lifecycle.Result {
	t.Helper()
	if hc.Expect == 0 {
		hc.Expect = 200
	}
	d := &deploy{req: Request{Env: &config.Environment{Name: "production", Health: &hc}}, p: newPrinter(nil)}
	d.p.secrets = secrets
	return lifecycle.Check(context.Background(), lifecycle.Policy{Attempts: 1}, d.checkRunner(local.New(t.TempDir(), nil)), nil)
}

func TestURLHealthCheckDoesNotFollowRedirects(t *testing.T) {
	// An address only the server can reach, with something the pusher
	// must not see.
	inside := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "internal-marker: admin token 42")
	}))
	defer inside.Close()
	var hits int
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		http.Redirect(w, r, inside.URL+"/admin", http.StatusFound)
	}))
	defer app.Close()

	tests := []struct {
		name    string
		expect  int
		wantErr string
	}{
		{"a redirect fails the check", 200, "answered 302, a redirect to " + inside.URL + "/admin, want 200"},
		{"unless the redirect is what is expected", 302, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := urlCheck(t, config.Health{URL: app.URL + "/health", Expect: tt.expect})
			if tt.wantErr == "" {
				if res.Err != nil {
					t.Fatalf("Err = %v, want nil", res.Err)
				}
				return
			}
			if res.Err == nil || !strings.Contains(res.Err.Error(), tt.wantErr) {
				t.Fatalf("Err = %v, want one that says %q", res.Err, tt.wantErr)
			}
			tail := strings.Join(res.Tail, "\n")
			if !strings.Contains(tail, "302 Found") || !strings.Contains(tail, "Location: "+inside.URL+"/admin") {
				t.Errorf("Tail = %q, want the status and the Location", res.Tail)
			}
			if strings.Contains(tail, "internal-marker") || strings.Contains(res.Err.Error(), "internal-marker") {
				t.Errorf("the redirect target's body shows: %q", res.Tail)
			}
		})
	}
	if hits != len(tests) {
		t.Errorf("the health URL was asked %d times, want %d", hits, len(tests))
	}
}

func TestURLHealthCheckReadsABoundedBody(t *testing.T) {
	secret := "pa55-word"
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		// A secret on a whole line, then one cut by the read limit, then
		// far more than the limit.
		fmt.Fprintf(w, "db password %s\n", secret)
		fmt.Fprint(w, strings.Repeat("y", maxHealthBody-len("db password \n")-len(secret)-4))
		fmt.Fprint(w, secret)
		for range 200 {
			fmt.Fprint(w, strings.Repeat("z", 1<<14)+"\n")
		}
	}))
	defer app.Close()

	res := urlCheck(t, config.Health{URL: app.URL}, secret)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "answered 503, want 200") {
		t.Fatalf("Err = %v, want a 503", res.Err)
	}
	tail := strings.Join(res.Tail, "\n")
	for _, part := range []string{secret, secret[:4], "zzz"} {
		if strings.Contains(tail, part) {
			t.Errorf("Tail shows %q: %q", part, res.Tail)
		}
	}
	if want := []string{"503 Service Unavailable", "db password ***", "(body cut at 64 KiB)"}; strings.Join(res.Tail, "|") != strings.Join(want, "|") {
		t.Errorf("Tail = %q, want %q", res.Tail, want)
	}
}
