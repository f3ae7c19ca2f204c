package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"shop", true},
		{"Shop_2.web-x", true},
		{"0", true},
		{strings.Repeat("a", 100), true},
		{strings.Repeat("a", 101), false},
		{"", false},
		{"-shop", false},
		{".shop", false},
		{"_shop", false},
		{"shop.git", false},
		{"a..b", false},
		{"a/b", false},
		{"a b", false},
		{"*", false},
		{"shöp", false},
	}
	for _, tt := range tests {
		if got := ValidName(tt.name); got != tt.want {
			t.Errorf("ValidName(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestValidUserName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"alice", true},
		{"a.b_c-9", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"Alice", false},
		{"9lives", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := ValidUserName(tt.name); got != tt.want {
			t.Errorf("ValidUserName(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestValidBranch(t *testing.T) {
	tests := []struct {
		branch string
		want   bool
	}{
		{"main", true},
		{"release/2024-01", true},
		{"feature/x.y", true},
		{"v1", true},
		{"a@b", true},
		{"über", true},
		{strings.Repeat("a", 200), true},
		{strings.Repeat("a", 201), false},
		{"", false},
		{"-main", false},
		{"/main", false},
		{"main/", false},
		{"main.", false},
		{"a..b", false},
		{"a//b", false},
		{"main.lock", false},
		{"a.lock/b", false},
		{".hidden", false},
		{"a/.b", false},
		{"a b", false},
		{"a~1", false},
		{"a^", false},
		{"a:b", false},
		{"a?", false},
		{"a*", false},
		{"a[1]", false},
		{`a\b`, false},
		{"a\tb", false},
		{"a\x7fb", false},
		{"a@{1}", false},
		{"@", false},
		{"HEAD", false},
		{"\xff", false},
	}
	for _, tt := range tests {
		if got := ValidBranch(tt.branch); got != tt.want {
			t.Errorf("ValidBranch(%q) = %v, want %v", tt.branch, got, tt.want)
		}
	}
}

func TestValidWave(t *testing.T) {
	tests := []struct {
		wave string
		want bool
	}{
		{"1", true}, {"25", true}, {"1%", true}, {"50%", true}, {"100%", true},
		{"0", false}, {"-1", false}, {"+1", false}, {"0%", false}, {"101%", false},
		{"%", false}, {"", false}, {"1.5", false}, {"50 %", false}, {"half", false},
	}
	for _, tt := range tests {
		if got := validWave(tt.wave); got != tt.want {
			t.Errorf("validWave(%q) = %v, want %v", tt.wave, got, tt.want)
		}
	}
}

func TestDurationText(t *testing.T) {
	tests := []struct {
		text string
		want time.Duration
		out  string // MarshalText of the result
	}{
		{"10s", 10 * time.Second, "10s"},
		{"1m30s", 90 * time.Second, "1m30s"},
		{"90s", 90 * time.Second, "1m30s"},
		{"500ms", 500 * time.Millisecond, "500ms"},
		{"0s", 0, "0s"},
		{"0", 0, "0s"},
		{"-1s", -time.Second, "-1s"},
		{"2h", 2 * time.Hour, "2h0m0s"},
	}
	for _, tt := range tests {
		var d Duration
		if err := d.UnmarshalText([]byte(tt.text)); err != nil {
			t.Errorf("UnmarshalText(%q): %v", tt.text, err)
			continue
		}
		if d.Std() != tt.want {
			t.Errorf("UnmarshalText(%q) = %v, want %v", tt.text, d.Std(), tt.want)
		}
		out, err := d.MarshalText()
		if err != nil || string(out) != tt.out {
			t.Errorf("MarshalText(%v) = %q, %v; want %q", d, out, err, tt.out)
		}
		var back Duration
		if err := back.UnmarshalText(out); err != nil || back != d {
			t.Errorf("round trip of %q = %v, %v", tt.text, back, err)
		}
	}
	for _, bad := range []string{"", "10", "ten", "1x", "s"} {
		var d Duration
		if err := d.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q) = %v, want an error", bad, d)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	cause := errors.New("cause")
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{File: "slipway.toml", Line: 12, Key: "apps.shop.environments.production.hosts", Msg: `unknown host "web-9"`},
			`slipway.toml:12: apps.shop.environments.production.hosts: unknown host "web-9"`},
		{&Error{File: "slipway.toml", Key: "listen", Msg: "m"}, "slipway.toml: listen: m"},
		{&Error{File: "slipway.toml", Msg: "m", Err: cause}, "slipway.toml: m"},
		{&Error{Line: 3, Key: "k", Msg: "m"}, "line 3: k: m"},
		{&Error{Key: "users", Msg: "m"}, "users: m"},
		{&Error{Msg: "m"}, "m"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	if !errors.Is(tests[2].err, cause) {
		t.Error("Error does not unwrap to its cause")
	}
	es := Errors{tests[0].err, tests[1].err}
	if got, want := es.Error(), tests[0].want+"\n"+tests[1].want; got != want {
		t.Errorf("Errors.Error() = %q, want %q", got, want)
	}
}

func TestHost(t *testing.T) {
	c := &Config{Hosts: map[string]*Host{"web-1": {Name: "web-1", Address: "10.0.0.1", User: "deploy"}}}
	tests := []struct {
		name string
		want Host
	}{
		{"web-1", Host{Name: "web-1", Address: "10.0.0.1", User: "deploy"}},
		{"local", Host{Name: "local"}},
		{"web-2.example.com", Host{Name: "web-2.example.com", Address: "web-2.example.com"}},
		{"web-3:2222", Host{Name: "web-3:2222", Address: "web-3:2222"}},
		{"root@web-4:2222", Host{Name: "root@web-4:2222", Address: "web-4:2222", User: "root"}},
	}
	for _, tt := range tests {
		h := c.Host(tt.name)
		if *h != tt.want {
			t.Errorf("Host(%q) = %+v, want %+v", tt.name, *h, tt.want)
		}
		if h.IsLocal() != (tt.name == "local") {
			t.Errorf("Host(%q).IsLocal() = %v", tt.name, h.IsLocal())
		}
	}
	if c.Host("web-1") != c.Hosts["web-1"] {
		t.Error("Host does not return the declared host")
	}
}

func TestKeyPathString(t *testing.T) {
	tests := []struct {
		path keyPath
		want string
	}{
		{keyPath{{name: "listen"}}, "listen"},
		{keyPath{{name: "users"}}.index(1).key("keys").index(0), "users[1].keys[0]"},
		{keyPath{{name: "apps"}, {name: "*"}, {name: "environments"}, {name: "x.y"}}, `apps."*".environments."x.y"`},
		{keyPath{{name: "hosts"}, {name: ""}}, `hosts.""`},
	}
	for _, tt := range tests {
		if got := tt.path.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestTemplateAppCannotTakeAListedAppsDirectory(t *testing.T) {
	cfg, err := Parse([]byte(`
[apps.shop.environments.production]
path = "/srv/legacy/production"
[apps."*".environments.production]
path = "/srv/{app}/{env}"
`), "slipway.toml")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.App("legacy"); ok {
		t.Error(`App("legacy") from the template deploys into shop's directory and was allowed`)
	}
	if a, ok := cfg.App("blog"); !ok || a.Environments["production"].Path != "/srv/blog/production" {
		t.Errorf(`App("blog") = %v, %v; want the template at /srv/blog/production`, a, ok)
	}
}
