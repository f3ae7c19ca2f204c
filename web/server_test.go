package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/release"
)

func TestAuthorize(t *testing.T) {
	const token = "4f9c2e7a1b6d3f8e0a5c"
	tests := []struct {
		name   string
		token  string // configured
		host   string
		header string
		cookie string
		want   int
	}{
		{name: "loopback, no token configured", host: "127.0.0.1:8080", want: 200},
		{name: "localhost through a tunnel", host: "localhost:8080", want: 200},
		{name: "ipv6 loopback", host: "[::1]:8080", want: 200},
		{name: "a rebound name is refused", host: "attacker.example:8080", want: http.StatusMisdirectedRequest},
		{name: "token missing", token: token, host: "127.0.0.1:8080", want: 401},
		{name: "bearer", token: token, host: "ci.example:8080", header: "Bearer " + token, want: 200},
		{name: "wrong bearer", token: token, host: "127.0.0.1:8080", header: "Bearer " + token[:len(token)-1] + "X", want: 401},
		{name: "cookie", token: token, host: "127.0.0.1:8080", cookie: cookieValue(token), want: 200},
		{name: "the token itself is no cookie", token: token, host: "127.0.0.1:8080", cookie: token, want: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config.Config{HTTP: config.HTTP{Listen: "127.0.0.1:8080", Token: tt.token}}
			src := &Source{Config: func() *config.Config { return cfg }, Engine: &release.Engine{DataDir: t.TempDir()}, DataDir: t.TempDir()}
			s := NewServer(src, NewHub(), NewMetrics(src, nil), zerolog.Nop(), "test")
			req := httptest.NewRequest("GET", "/", nil)
			req.Host = tt.host
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			if tt.cookie != "" {
				req.AddCookie(&http.Cookie{Name: cookieName, Value: tt.cookie})
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.want, rec.Body)
			}
			if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Fatalf("Content-Security-Policy = %q", csp)
			}
			if strings.Contains(rec.Body.String(), token) {
				t.Fatal("the token appears in the response")
			}
		})
	}
}
