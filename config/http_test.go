package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHTTP(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("token", "0123456789abcdef0123\n")
	short := write("short", "secret\n")
	tests := []struct {
		name     string
		src      string
		listen   string
		token    string
		key, msg string // the expected problem, if any
		loopback bool
	}{
		{name: "off by default", src: ``},
		{name: "loopback without token", src: `[http]
listen = "127.0.0.1:8080"`, listen: "127.0.0.1:8080", loopback: true},
		{name: "localhost without token", src: `[http]
listen = "localhost:8080"`, listen: "localhost:8080", loopback: true},
		{name: "ipv6 loopback", src: `[http]
listen = "[::1]:8080"`, listen: "[::1]:8080", loopback: true},
		{name: "every address with token", src: `[http]
listen = ":8080"
token_file = "` + good + `"`, listen: ":8080", token: "0123456789abcdef0123"},
		{name: "every address without token", src: `[http]
listen = "0.0.0.0:8080"`, key: "http.listen", msg: `"0.0.0.0:8080" is reachable from other machines: set http.token_file`},
		{name: "empty host without token", src: `[http]
listen = ":8080"`, key: "http.listen", msg: "reachable from other machines"},
		{name: "short token", src: `[http]
listen = "127.0.0.1:8080"
token_file = "` + short + `"`, key: "http.token_file", msg: "at least 16 characters"},
		{name: "missing token file", src: `[http]
listen = "127.0.0.1:8080"
token_file = "` + filepath.Join(dir, "nope") + `"`, key: "http.token_file", msg: "no such file or directory"},
		{name: "bad listen", src: `[http]
listen = "8080"`, key: "http.listen", msg: "must be host:port"},
		{name: "unknown key", src: `[http]
listn = "127.0.0.1:8080"`, key: "http.listn", msg: `did you mean "listen"?`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.src), filepath.Join(dir, "slipway.toml"))
			if tt.key != "" {
				var ce *Error
				if !errors.As(err, &ce) {
					t.Fatalf("Parse: want a problem at %s, got %v", tt.key, err)
				}
				if ce.Key != tt.key || !strings.Contains(ce.Msg, tt.msg) {
					t.Fatalf("Parse: got %s: %s; want %s: ...%s...", ce.Key, ce.Msg, tt.key, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if c.HTTP.Listen != tt.listen || c.HTTP.Token != tt.token || c.HTTP.Loopback() != tt.loopback {
				t.Fatalf("got listen %q token %q loopback %v; want %q %q %v",
					c.HTTP.Listen, c.HTTP.Token, c.HTTP.Loopback(), tt.listen, tt.token, tt.loopback)
			}
		})
	}
}

func TestDefaultServesDashboardOnLoopback(t *testing.T) {
	_, line := testKey(t, 1)
	fakeHome(t, map[string]string{"id_ed25519.pub": line + "\n"})
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Listen != DefaultHTTPListen || !c.HTTP.Loopback() {
		t.Fatalf("default http.listen = %q, want %q on loopback", c.HTTP.Listen, DefaultHTTPListen)
	}
}
