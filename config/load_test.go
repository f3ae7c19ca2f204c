package config

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	gossh "golang.org/x/crypto/ssh"
)

const aliceUser = `
[[users]]
name = "alice"
keys = ["KEY1"]
`

func TestParseValid(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "slipway.toml")
	tests := []struct {
		name  string
		src   string
		check func(t *testing.T, c *Config)
	}{
		{
			name: "empty file gets every default",
			src:  ``,
			check: func(t *testing.T, c *Config) {
				want := &Config{
					Listen:      "127.0.0.1:2222",
					DataDir:     filepath.Join(dir, "slipway-data"),
					LogFormat:   "auto",
					LogLevel:    "info",
					SSH:         SSH{ConnectTimeout: Duration(10 * time.Second)},
					MaxPushSize: 1 << 30, MaxReleaseSize: 2 << 30, MaxConnections: 64,
					Hosts: map[string]*Host{},
					Apps:  map[string]*App{},
					File:  file,
				}
				if !reflect.DeepEqual(c, want) {
					t.Errorf("got %+v\nwant %+v", c, want)
				}
			},
		},
		{
			name: "size limits with units and in bytes",
			src: `
max_push_size    = 4194304
max_release_size = "64MB"
`,
			check: func(t *testing.T, c *Config) {
				if c.MaxPushSize != 4<<20 || c.MaxReleaseSize != 64e6 {
					t.Errorf("max_push_size = %d, max_release_size = %d; want %d, %d", c.MaxPushSize, c.MaxReleaseSize, 4<<20, int64(64e6))
				}
			},
		},
		{
			name: "environment defaults",
			src: `
[apps.shop.environments.production]
path = "/srv/shop"
`,
			check: func(t *testing.T, c *Config) {
				a, ok := c.App("shop")
				if !ok {
					t.Fatal("app shop missing")
				}
				if a.Name != "shop" || a.KeepReleases != 5 {
					t.Errorf("app = %+v", a)
				}
				want := &Environment{
					Name:            "production",
					App:             "shop",
					Branch:          "production",
					Hosts:           []string{"local"},
					Path:            "/srv/shop",
					Waves:           []string{"1", "50%", "100%"},
					Parallelism:     10,
					Hooks:           Hooks{Timeout: Duration(10 * time.Minute)},
					ApprovalTimeout: Duration(24 * time.Hour),
				}
				if got := a.Environments["production"]; !reflect.DeepEqual(got, want) {
					t.Errorf("got %+v\nwant %+v", got, want)
				}
			},
		},
		{
			name: "subdir",
			src: `
[apps.shop.environments.api]
path   = "/srv/api"
subdir = "services/api"
[apps.shop.environments.web]
path   = "/srv/web"
`,
			check: func(t *testing.T, c *Config) {
				envs := c.Apps["shop"].Environments
				if got := envs["api"].Subdir; got != "services/api" {
					t.Errorf("api subdir = %q, want services/api", got)
				}
				if got := envs["web"].Subdir; got != "" {
					t.Errorf("web subdir = %q, want none (the whole tree)", got)
				}
			},
		},
		{
			name: "logs commands",
			src: `
[apps.shop.environments.production]
path        = "/srv/shop"
logs        = 'journalctl -u shop -n "$SLIPWAY_LOG_LINES" --no-pager'
logs_follow = 'journalctl -u shop -n "$SLIPWAY_LOG_LINES" -f --no-pager'
[apps.shop.environments.staging]
path = "/srv/staging"
`,
			check: func(t *testing.T, c *Config) {
				envs := c.Apps["shop"].Environments
				if got := envs["production"].Logs; got != `journalctl -u shop -n "$SLIPWAY_LOG_LINES" --no-pager` {
					t.Errorf("logs = %q", got)
				}
				if got := envs["production"].LogsFollow; got != `journalctl -u shop -n "$SLIPWAY_LOG_LINES" -f --no-pager` {
					t.Errorf("logs_follow = %q", got)
				}
				if got := envs["staging"].Logs + envs["staging"].LogsFollow; got != "" {
					t.Errorf("staging logs = %q, want none", got)
				}
			},
		},
		{
			name: "health defaults",
			src: `
[apps.shop.environments.production]
path = "/srv/shop"
health = { command = "true" }
`,
			check: func(t *testing.T, c *Config) {
				want := &Health{Command: "true", Timeout: Duration(10 * time.Second), Retries: 3, Interval: Duration(time.Second), Expect: 200}
				if got := c.Apps["shop"].Environments["production"].Health; !reflect.DeepEqual(got, want) {
					t.Errorf("got %+v, want %+v", got, want)
				}
			},
		},
		{
			name: "explicit values",
			src: `
listen = ":22022"
data_dir = "/var/lib/slipway"
log_format = "json"
log_level = "debug"
[apps.shop]
keep_releases = 2
[apps.shop.environments.prod]
branch = "release/prod"
hosts = ["web-1", "deploy@10.0.0.9:2222"]
path = "/srv/shop"
waves = ["2", "100%"]
parallelism = 1
[apps.shop.environments.prod.health]
command = "curl -fsS localhost:8080"
timeout = "1m30s"
retries = 1
interval = "0s"
[hosts.web-1]
address = "10.0.0.1:22"
user = "deploy"
`,
			check: func(t *testing.T, c *Config) {
				if c.Listen != ":22022" || c.DataDir != "/var/lib/slipway" || c.LogFormat != "json" || c.LogLevel != "debug" {
					t.Errorf("server settings = %+v", c)
				}
				e := c.Apps["shop"].Environments["prod"]
				if e.Branch != "release/prod" || e.Parallelism != 1 || !reflect.DeepEqual(e.Waves, []string{"2", "100%"}) {
					t.Errorf("environment = %+v", e)
				}
				if h := e.Health; h.Timeout.Std() != 90*time.Second || h.Retries != 1 || h.Interval != 0 {
					t.Errorf("health = %+v", h)
				}
				if h := c.Host("web-1"); *h != (Host{Name: "web-1", Address: "10.0.0.1:22", User: "deploy"}) {
					t.Errorf("web-1 = %+v", h)
				}
			},
		},
		{
			name: "relative paths resolve against the file and data_dir",
			src: `
data_dir = "state"
[apps.shop.environments.production]
path = "deploy/{app}/{env}"
`,
			check: func(t *testing.T, c *Config) {
				if want := filepath.Join(dir, "state"); c.DataDir != want {
					t.Errorf("data_dir = %q, want %q", c.DataDir, want)
				}
				if got, want := c.Apps["shop"].Environments["production"].Path, filepath.Join(dir, "state", "deploy", "shop", "production"); got != want {
					t.Errorf("path = %q, want %q", got, want)
				}
			},
		},
		{
			name: "template instantiated for any valid name",
			src: `
data_dir = "/data"
[apps."*"]
keep_releases = 3
[apps."*".environments.staging]
branch = "main"
path = "deploy/{app}/{env}"
health = { command = "test -f {app}" }
[apps."*".environments.production]
hosts = ["web-1"]
path = "/srv/{app}"
`,
			check: func(t *testing.T, c *Config) {
				a, ok := c.App("anything")
				if !ok {
					t.Fatal("App(anything) = false")
				}
				if a.Name != "anything" || a.KeepReleases != 3 || len(a.Environments) != 2 {
					t.Errorf("app = %+v", a)
				}
				e, ok := a.EnvironmentForBranch("main")
				if !ok || e.Name != "staging" || e.App != "anything" || e.Path != "/data/deploy/anything/staging" {
					t.Errorf("EnvironmentForBranch(main) = %+v, %v", e, ok)
				}
				if e.Health.Command != "test -f {app}" {
					t.Errorf("health command changed: %q", e.Health.Command)
				}
				p, ok := a.Environment("production")
				if !ok || p.Branch != "production" || p.Path != "/srv/anything" {
					t.Errorf("Environment(production) = %+v, %v", p, ok)
				}
				// Each instance is a copy: changing it leaves the template alone.
				p.Hosts[0] = "changed"
				e.Health.Retries = 99
				b, _ := c.App("other")
				if b.Environments["production"].Hosts[0] != "web-1" || b.Environments["staging"].Health.Retries != 3 {
					t.Error("instance shares state with the template")
				}
				if got := c.Apps["*"].Environments["staging"].Path; got != "/data/deploy/{app}/staging" {
					t.Errorf("template path = %q", got)
				}
				for _, name := range []string{"*", "", "../etc", "x.git", "a/b"} {
					if _, ok := c.App(name); ok {
						t.Errorf("App(%q) = true", name)
					}
				}
			},
		},
		{
			name: "listed app wins over the template",
			src: `
[apps.shop.environments.live]
path = "/srv/{app}-{env}"
[apps."*".environments.staging]
path = "/srv/{app}"
`,
			check: func(t *testing.T, c *Config) {
				a, _ := c.App("shop")
				if _, ok := a.Environment("staging"); ok || a.Environments["live"].Path != "/srv/shop-live" {
					t.Errorf("shop = %+v", a.Environments)
				}
			},
		},
		{
			name: "no template",
			src: `
[apps.shop.environments.production]
path = "/srv/shop"
`,
			check: func(t *testing.T, c *Config) {
				if _, ok := c.App("blog"); ok {
					t.Error("App(blog) = true without a template")
				}
			},
		},
		{
			name: "users and keys",
			src: aliceUser + `
[[users]]
name = "bob"
keys = ["KEY2", "KEY3", "KEY2"]
`,
			check: func(t *testing.T, c *Config) {
				if len(c.Users) != 2 || len(c.Users[0].PublicKeys) != 1 || len(c.Users[1].PublicKeys) != 2 {
					t.Fatalf("users = %+v", c.Users)
				}
				for seed, want := range map[byte]string{1: "alice", 2: "bob", 3: "bob"} {
					pk, _ := testKey(t, seed)
					if u, ok := c.UserForKey(pk); !ok || u.Name != want {
						t.Errorf("UserForKey(key %d) = %v, %v; want %s", seed, u, ok, want)
					}
				}
				stranger, _ := testKey(t, 9)
				if u, ok := c.UserForKey(stranger); ok {
					t.Errorf("UserForKey(stranger) = %v", u)
				}
			},
		},
		{
			name: "an artifact-only deployer",
			src: aliceUser + `
[[users]]
name = "ci"
keys = ["KEY2"]
artifact_only = true
`,
			check: func(t *testing.T, c *Config) {
				if c.ArtifactOnly("alice") || !c.ArtifactOnly("ci") || !c.CanPush("ci") {
					t.Errorf("ArtifactOnly(alice) = %v, ArtifactOnly(ci) = %v, CanPush(ci) = %v; want false, true, true",
						c.ArtifactOnly("alice"), c.ArtifactOnly("ci"), c.CanPush("ci"))
				}
			},
		},
		{
			name: "notify defaults and events",
			src: `
[[notify]]
url = "https://hooks.example.com/services/T0/B0/secret"
[[notify]]
url = "http://127.0.0.1:9000/hook"
events = ["failure", "rollback"]
timeout = "2s"
`,
			check: func(t *testing.T, c *Config) {
				if len(c.Notify) != 2 {
					t.Fatalf("Notify = %d entries, want 2", len(c.Notify))
				}
				if n := c.Notify[0]; !slices.Equal(n.Events, NotifyEvents) || n.Timeout.Std() != 10*time.Second {
					t.Errorf("notify[0] = %+v, want every event and 10s", n)
				}
				if n := c.Notify[1]; !n.Wants("failure") || n.Wants("start") || n.Timeout.Std() != 2*time.Second {
					t.Errorf("notify[1] = %+v, want failure and rollback in 2s", n)
				}
			},
		},
		{
			name: "host paths and synthesized hosts",
			src: `
[hosts.web-1]
path = "/opt/{app}/{env}"
[apps.shop.environments.production]
hosts = ["web-1", "web-2", "local"]
path = "/srv/shop"
`,
			check: func(t *testing.T, c *Config) {
				e := c.Apps["shop"].Environments["production"]
				for host, want := range map[string]string{"web-1": "/opt/shop/production", "web-2": "/srv/shop", "local": "/srv/shop"} {
					if got := e.PathOn(c.Host(host)); got != want {
						t.Errorf("PathOn(%s) = %q, want %q", host, got, want)
					}
				}
				if h := c.Host("web-1"); h.Address != "web-1" {
					t.Errorf("web-1 address = %q, want its name", h.Address)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(withKeys(t, tt.src)), file)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if c.File != file {
				t.Errorf("File = %q, want %q", c.File, file)
			}
			tt.check(t, c)
		})
	}
}

// TestParseErrors has one case per problem. The line marked "# <-" is
// where the problem must be reported, with key and a part of the message.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		key  string
		msg  string
	}{
		{"unknown key with suggestion", `
[apps.shop.environments.production]
path = "/srv"
hots = ["web-1"] # <-
`, "apps.shop.environments.production.hots", `unknown key "hots"; did you mean "hosts"?`},
		{"unknown key without suggestion", `
colour = "blue" # <-
`, "colour", `unknown key "colour"; allowed keys here are listen, data_dir`},
		{"environment outside environments", `
[apps.shop.production] # <-
path = "/srv"
[apps.shop.environments.staging]
path = "/srv/staging"
`, "apps.shop.production", `an environment is declared as [apps.shop.environments.production]`},
		{"wrong type", `
listen = 2222 # <-
`, "listen", `must be a string (got the integer 2222)`},
		{"wrong type in array", `
[apps.shop.environments.production]
path = "/srv"
hosts = [
  "web-1",
  2, # <-
]
`, "apps.shop.environments.production.hosts[1]", `must be a string (got the integer 2)`},
		{"keys not an array", `
[[users]]
name = "alice"
keys = "KEY1" # <-
`, "users[0].keys", `must be an array of strings (got a string)`},
		{"environment not a table", `
[apps.shop.environments]
production = "/srv" # <-
`, "apps.shop.environments.production", `must be a table (got the string "/srv")`},
		{"users not an array", `
[users] # <-
name = "alice"
`, "users", `must be an array of tables, written [[users]]`},
		{"notify url missing", `
[[notify]] # <-
events = ["start"]
`, "notify[0].url", `is required`},
		{"notify url not http", `
[[notify]]
url = "ftp://files.example.com/secret-token" # <-
`, "notify[0].url", `must be an http:// or https:// URL with a host and no user (got ftp://files.example.com/***)`},
		{"notify unknown event", `
[[notify]]
url = "https://hooks.example.com/x"
events = [
  "success",
  "deployed", # <-
]
`, "notify[0].events[1]", `"deployed" is not an event: use start, success, failure, rollback, approval`},
		{"notify no events", `
[[notify]]
url = "https://hooks.example.com/x"
events = [] # <-
`, "notify[0].events", `must name at least one event`},
		{"notify zero timeout", `
[[notify]]
url = "https://hooks.example.com/x"
timeout = "0s" # <-
`, "notify[0].timeout", `must be more than 0`},
		{"notify unknown key", `
[[notify]]
url = "https://hooks.example.com/x"
event = ["start"] # <-
`, "notify[0].event", `unknown key "event"; did you mean "events"?`},
		{"notify not an array", `
[notify] # <-
url = "https://hooks.example.com/x"
`, "notify", `must be an array of tables, written [[notify]]`},
		{"listen without port", `
listen = "localhost" # <-
`, "listen", `must be host:port`},
		{"listen with bad port", `
listen = "127.0.0.1:ssh" # <-
`, "listen", `has the port "ssh": a port is a number from 0 to 65535`},
		{"log format", `
log_format = "text" # <-
`, "log_format", `must be "auto", "json" or "console" (got "text")`},
		{"log level", `
log_level = "verbose" # <-
`, "log_level", `must be "debug", "info", "warn" or "error" (got "verbose")`},
		{"empty data_dir", `
data_dir = "" # <-
`, "data_dir", `must not be empty`},
		{"user name invalid", `
[[users]]
name = "Alice" # <-
keys = ["KEY1"]
`, "users[0].name", `"Alice" is not a valid user name`},
		{"user name missing", `
[[users]] # <-
keys = ["KEY1"]
`, "users[0].name", `is required`},
		{"user name duplicate", aliceUser + `
[[users]]
name = "alice" # <-
keys = ["KEY2"]
`, "users[1].name", `user "alice" is already declared at users[0] (line 2)`},
		{"artifact_only not a boolean", `
[[users]]
name = "ci"
keys = ["KEY1"]
artifact_only = "yes" # <-
`, "users[0].artifact_only", `must be true or false (got the string "yes")`},
		{"artifact_only for an admin", `
[[users]]
name = "ci"
keys = ["KEY1"]
role = "admin"
artifact_only = true # <-
`, "users[0].artifact_only", `is for deployers only: user "ci" has role "admin"`},
		{"user without keys", `
[[users]]
name = "alice"
keys = ["KEY1"]
[[users]] # <-
name = "bob"
keys = []
`, "users[1]", `user "bob" has no keys`},
		{"key does not parse", `
[[users]]
name = "alice"
keys = [
  "KEY1",
  "ssh-ed25519 not-base64", # <-
]
`, "users[0].keys[1]", `key of user "alice" cannot be parsed`},
		{"key with options", `
[[users]]
name = "alice"
keys = ['from="10.0.0.0/8" KEY1'] # <-
`, "users[0].keys[0]", `has authorized_keys options (from="10.0.0.0/8")`},
		{"two keys in one entry", `
[[users]]
name = "alice"
keys = ["KEY1\nKEY2"] # <-
`, "users[0].keys[0]", `holds more than one line`},
		{"key of two users", aliceUser + `
[[users]]
name = "bob"
keys = ["KEY2", "KEY1"] # <-
`, "users[1].keys[1]", `of user "bob" also belongs to user "alice" (users[0].keys[0], line 4)`},
		{"keys_file missing", `
[[users]]
name = "alice"
keys_file = "does-not-exist.pub" # <-
`, "users[0].keys_file", `cannot read the keys of user "alice" from `},
		{"app name invalid", `
[apps."shop.git".environments.production] # <-
path = "/srv"
`, `apps."shop.git"`, `"shop.git" is not a valid app name`},
		{"app without environments", `
[apps.shop] # <-
keep_releases = 3
`, "apps.shop.environments", `app "shop" has no environments`},
		{"keep_releases too small", `
[apps.shop]
keep_releases = 1 # <-
[apps.shop.environments.production]
path = "/srv"
`, "apps.shop.keep_releases", `must be at least 2 (got 1)`},
		{"environment name invalid", `
[apps.shop.environments."-prod"] # <-
branch = "prod"
path = "/srv"
`, "apps.shop.environments.-prod", `"-prod" is not a valid environment name`},
		{"branch invalid", `
[apps.shop.environments.production]
branch = "feature..x" # <-
path = "/srv"
`, "apps.shop.environments.production.branch", `"feature..x" is not a valid git branch name`},
		{"branch defaulted from an invalid branch name", `
[apps.shop.environments."x.lock"] # <-
path = "/srv"
`, `apps.shop.environments."x.lock".branch`, `"x.lock" is not a valid git branch name`},
		{"branch duplicate", `
[apps.shop.environments.staging]
branch = "main"
path = "/srv/staging"
[apps.shop.environments.production]
branch = "main" # <-
path = "/srv/production"
`, "apps.shop.environments.production.branch", `branch "main" already deploys apps.shop.environments.staging (line 2)`},
		{"hosts empty", `
[apps.shop.environments.production]
hosts = [] # <-
path = "/srv"
`, "apps.shop.environments.production.hosts", `must list at least one host`},
		{"host invalid", `
[apps.shop.environments.production]
hosts = ["web-1", "-oProxyCommand=sh"] # <-
path = "/srv"
`, "apps.shop.environments.production.hosts[1]", `"-oProxyCommand=sh" is not a valid host`},
		{"host duplicate", `
[apps.shop.environments.production]
hosts = [
  "web-1",
  "web-1", # <-
]
path = "/srv"
`, "apps.shop.environments.production.hosts[1]", `host "web-1" is listed twice`},
		{"undeclared host with bad port", `
[apps.shop.environments.production]
hosts = ["web-1:http"] # <-
path = "/srv"
`, "apps.shop.environments.production.hosts[0]", `host "web-1:http" is not declared in [hosts], so it is used as an SSH address, but "web-1:http" has the port "http"`},
		{"path missing", `
[apps.shop.environments.production] # <-
hosts = ["local"]
`, "apps.shop.environments.production.path", `is required`},
		{"path with unknown placeholder", `
[apps.shop.environments.production]
path = "/srv/{name}" # <-
`, "apps.shop.environments.production.path", `"/srv/{name}" has an unknown placeholder`},
		{"path with tilde", `
[apps.shop.environments.production]
path = "~/srv" # <-
`, "apps.shop.environments.production.path", `starts with ~`},
		{"template path without app", `
[apps."*".environments.production]
path = "/srv/www" # <-
`, `apps."*".environments.production.path`, `"/srv/www" must contain {app}`},
		{"template on a host path without app", `
[hosts.web-1]
path = "/srv/www"
[apps."*".environments.production]
hosts = ["web-1"] # <-
path = "/srv/{app}"
`, `apps."*".environments.production.hosts[0]`, `host "web-1" has the path "/srv/www" without {app}`},
		{"two apps in one directory", `
[apps.shop.environments.production]
path = "/srv/www"
[apps.blog.environments.production]
path = "/srv/www" # <-
`, "apps.blog.environments.production.path", `deploys to /srv/www on host "local", as apps.shop.environments.production does (line 2)`},
		{"two environments on one host path", `
[hosts.web-1]
path = "/srv/{app}"
[apps.shop.environments.staging]
hosts = ["web-1"]
path = "/srv/shop/staging"
[apps.shop.environments.production]
hosts = ["web-1"]
path = "/srv/shop/production" # <-
`, "apps.shop.environments.production.path", `deploys to /srv/shop (from hosts.web-1.path) on host "web-1"`},
		{"wave invalid", `
[apps.shop.environments.production]
path = "/srv"
waves = ["1", "150%"] # <-
`, "apps.shop.environments.production.waves[1]", `"150%" is not a wave size`},
		{"waves empty", `
[apps.shop.environments.production]
path = "/srv"
waves = [] # <-
`, "apps.shop.environments.production.waves", `must list at least one wave`},
		{"parallelism", `
[apps.shop.environments.production]
path = "/srv"
parallelism = 0 # <-
`, "apps.shop.environments.production.parallelism", `must be at least 1 (got 0)`},
		{"health without command", `
[apps.shop.environments.production]
path = "/srv"
[apps.shop.environments.production.health] # <-
timeout = "5s"
`, "apps.shop.environments.production.health.command", `is required when [health] is present`},
		{"health timeout zero", `
[apps.shop.environments.production]
path = "/srv"
health = { command = "true", timeout = "0s" } # <-
`, "apps.shop.environments.production.health.timeout", `must be more than 0 (got 0s)`},
		{"health timeout not a duration", `
[apps.shop.environments.production]
path = "/srv"
[apps.shop.environments.production.health]
command = "true"
timeout = 10 # <-
`, "apps.shop.environments.production.health.timeout", `must be a duration such as "10s" or "1m30s" (got the integer 10)`},
		{"health timeout bad duration", `
[apps.shop.environments.production]
path = "/srv"
[apps.shop.environments.production.health]
command = "true"
timeout = "ten" # <-
`, "apps.shop.environments.production.health.timeout", `invalid duration "ten"`},
		{"health retries", `
[apps.shop.environments.production]
path = "/srv"
[apps.shop.environments.production.health]
command = "true"
retries = 0 # <-
`, "apps.shop.environments.production.health.retries", `must be at least 1 (got 0)`},
		{"health interval", `
[apps.shop.environments.production]
path = "/srv"
[apps.shop.environments.production.health]
command = "true"
interval = "-1s" # <-
`, "apps.shop.environments.production.health.interval", `must not be negative (got -1s)`},
		{"host named local", `
[hosts.local] # <-
address = "127.0.0.1"
`, "hosts.local", `"local" is reserved for this machine`},
		{"host name invalid", `
[hosts."web 1"] # <-
address = "10.0.0.1"
`, `hosts."web 1"`, `"web 1" is not a valid host name`},
		{"host address empty", `
[hosts.web-1]
address = "" # <-
`, "hosts.web-1.address", `must not be empty: use "host" or "host:port"`},
		{"host address with user", `
[hosts.web-1]
address = "root@10.0.0.1" # <-
`, "hosts.web-1.address", `contains a user name`},
		{"host address with bad port", `
[hosts.web-1]
address = "10.0.0.1:0" # <-
`, "hosts.web-1.address", `has the port "0": a port is a number from 1 to 65535`},
		{"host address option", `
[hosts.web-1]
address = "-oProxyCommand=x" # <-
`, "hosts.web-1.address", `is not a valid address`},
		{"host user invalid", `
[hosts.web-1]
user = "-l root" # <-
`, "hosts.web-1.user", `is not a valid SSH user name`},
		{"release size not a size", `
max_release_size = "lots" # <-
`, "max_release_size", `"lots" is not a size: write bytes, or a number with KiB, MiB, GiB, KB, MB or GB`},
		{"release size wrong type", `
max_release_size = 1.5 # <-
`, "max_release_size", `must be a size such as "512MiB"`},
		{"release size too small", `
max_release_size = "512KiB" # <-
`, "max_release_size", `must be at least 1MiB (got 524288 bytes)`},
		{"release size zero", `
max_release_size = 0 # <-
`, "max_release_size", `must be at least 1MiB (got 0 bytes)`},
		{"host path relative", `
[hosts.web-1]
path = "srv/{app}" # <-
`, "hosts.web-1.path", `must be an absolute path on the host`},
		{"logs not a string", `
[apps.shop.environments.production]
path = "/srv/shop"
logs = ["journalctl"] # <-
`, "apps.shop.environments.production.logs", `must be a string`},
		{"subdir absolute", `
[apps.shop.environments.api]
path = "/srv/api"
subdir = "/services/api" # <-
`, "apps.shop.environments.api.subdir", `"/services/api" must be a directory of the pushed tree, relative and clean, without ".." (such as "services/api"); did you mean "services/api"?`},
		{"subdir with a trailing slash", `
[apps.shop.environments.api]
path = "/srv/api"
subdir = "services/api/" # <-
`, "apps.shop.environments.api.subdir", `did you mean "services/api"?`},
		{"subdir not clean", `
[apps.shop.environments.api]
path = "/srv/api"
subdir = "services//./api" # <-
`, "apps.shop.environments.api.subdir", `did you mean "services/api"?`},
		{"subdir leaves the tree", `
[apps.shop.environments.api]
path = "/srv/api"
subdir = "services/../../etc" # <-
`, "apps.shop.environments.api.subdir", `"services/../../etc" must be a directory of the pushed tree, relative and clean, without ".."`},
		{"subdir dot", `
[apps.shop.environments.api]
path = "/srv/api"
subdir = "." # <-
`, "apps.shop.environments.api.subdir", `"." must be a directory of the pushed tree`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := withKeys(t, tt.src)
			line := markedLine(src)
			if line == 0 {
				t.Fatal("test case has no # <- marker")
			}
			_, err := Parse([]byte(src), "slipway.toml")
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse error = %v (%T), want Errors", err, err)
			}
			if len(errs) != 1 {
				t.Errorf("got %d problems, want 1:\n%v", len(errs), errs)
			}
			e := errs[0]
			if e.File != "slipway.toml" || e.Line != line || e.Key != tt.key || !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("got  %s\nwant slipway.toml:%d: %s: ...%s...", e, line, tt.key, tt.msg)
			}
			if prefix := fmt.Sprintf("slipway.toml:%d: %s: ", line, tt.key); !strings.HasPrefix(e.Error(), prefix) {
				t.Errorf("Error() = %q, want prefix %q", e.Error(), prefix)
			}
		})
	}
}

func TestParseReportsEveryProblemInFileOrder(t *testing.T) {
	src := `
log_level = "loud"
[apps.shop.environments.production]
parallelism = 0
[[users]]
name = "Bob"
`
	_, err := Parse([]byte(src), "slipway.toml")
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v, want Errors", err)
	}
	want := []string{
		"slipway.toml:2: log_level: ",
		"slipway.toml:3: apps.shop.environments.production.path: ",
		"slipway.toml:4: apps.shop.environments.production.parallelism: ",
		"slipway.toml:5: users[0]: ",
		"slipway.toml:6: users[0].name: ",
	}
	lines := strings.Split(errs.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(lines), len(want), errs)
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("problem %d = %q, want prefix %q", i, lines[i], want[i])
		}
	}
	var first *Error
	if !errors.As(err, &first) || first != errs[0] {
		t.Errorf("errors.As(*Error) = %v, want the first problem", first)
	}
}

func TestParseSyntaxError(t *testing.T) {
	tests := []struct {
		name string
		src  string
	}{
		{"unterminated string", "listen = \"127.0.0.1:2222\n# <-"},
		{"missing value", "\n\nlisten = # <-\n"},
		{"duplicate key", "listen = \"a:1\"\n\nlisten = \"b:2\" # <-\n"},
		{"duplicate table", "[apps.shop]\n[apps.shop] # <-\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), "slipway.toml")
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("err = %v (%T), want *Error", err, err)
			}
			want := markedLine(tt.src)
			if tt.name == "unterminated string" {
				want = 1
			}
			if e.Line != want || e.File != "slipway.toml" || !strings.HasPrefix(e.Msg, "invalid TOML: ") {
				t.Errorf("got %q (line %d), want line %d", e, e.Line, want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slipway.toml")
	_, err := Load(path)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want *Error", err, err)
	}
	if e.File != path || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want an error naming %s that is fs.ErrNotExist", err, path)
	}
	if want := path + ": cannot read the config file: no such file or directory"; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
}

func TestLoadKeysFile(t *testing.T) {
	_, key1 := testKey(t, 1)
	pk2, key2 := testKey(t, 2)
	tests := []struct {
		name    string
		keys    string // content of keys/alice.pub; "" leaves the file out
		wantErr string
		wantN   int
	}{
		{
			name:  "comments and blank lines are skipped",
			keys:  "# alice's laptop\n\n" + key1 + "\n   \n" + key2 + "\n" + key1 + "\n",
			wantN: 2,
		},
		{
			name:    "missing file",
			wantErr: `slipway.toml:4: users[0].keys_file: cannot read the keys of user "alice" from ` + filepath.Join("DIR", "keys", "alice.pub") + ": no such file or directory",
		},
		{
			name:    "bad line names the keys file line",
			keys:    key1 + "\n# x\nnot a key\n",
			wantErr: `slipway.toml:4: users[0].keys_file: ` + filepath.Join("DIR", "keys", "alice.pub") + `:3: key of user "alice" cannot be parsed`,
		},
		{
			name:    "empty file",
			keys:    "# nothing yet\n",
			wantErr: `slipway.toml:2: users[0]: user "alice" has no keys`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "slipway.toml")
			src := "\n[[users]]\nname = \"alice\"\nkeys_file = \"keys/alice.pub\"\n"
			if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			if tt.keys != "" {
				if err := os.Mkdir(filepath.Join(dir, "keys"), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "keys", "alice.pub"), []byte(tt.keys), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c, err := Load(file)
			if tt.wantErr != "" {
				want := file[:len(file)-len("slipway.toml")] + strings.ReplaceAll(tt.wantErr, "DIR", dir)
				if err == nil || !strings.HasPrefix(err.Error(), want) {
					t.Fatalf("err = %v\nwant %s", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			u := c.Users[0]
			if u.KeysFile != filepath.Join(dir, "keys", "alice.pub") || len(u.PublicKeys) != tt.wantN {
				t.Errorf("user = %+v", u)
			}
			if got, ok := c.UserForKey(pk2); !ok || got != u {
				t.Errorf("UserForKey = %v, %v", got, ok)
			}
		})
	}
}

func TestParseCertificateKey(t *testing.T) {
	pk, _ := testKey(t, 1)
	signer, err := gossh.NewSignerFromKey(testPrivateKey(2))
	if err != nil {
		t.Fatal(err)
	}
	cert := &gossh.Certificate{Key: pk, CertType: gossh.UserCert, ValidPrincipals: []string{"alice"}, ValidBefore: gossh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, signer); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf("[[users]]\nname = \"alice\"\nkeys = [%q]\n", bytes.TrimSpace(gossh.MarshalAuthorizedKey(cert)))
	_, err = Parse([]byte(src), "slipway.toml")
	if err == nil || !strings.Contains(err.Error(), "slipway.toml:3: users[0].keys[0]: key of user \"alice\" is a certificate") {
		t.Errorf("err = %v", err)
	}
}

func TestExampleParses(t *testing.T) {
	c, err := Parse(Example(), filepath.Join(t.TempDir(), "slipway.toml"))
	if err != nil {
		t.Fatalf("Parse(Example()): %v", err)
	}
	if len(c.Users) != 1 || len(c.Users[0].PublicKeys) != 1 {
		t.Errorf("users = %+v", c.Users)
	}
	if _, ok := c.App("shop"); !ok {
		t.Error("no app shop")
	}
	a, ok := c.App("anything")
	if !ok {
		t.Fatal("no template")
	}
	if e, ok := a.EnvironmentForBranch("main"); !ok || !strings.HasSuffix(e.Path, "/deploy/anything/staging") {
		t.Errorf("staging = %+v", e)
	}
	if e := c.Apps["shop"].Environments["production"]; e.Health == nil || e.Path != "/srv/shop/production" {
		t.Errorf("shop production = %+v", e)
	}
	// Example returns a copy.
	Example()[0] = 'x'
	if Example()[0] == 'x' {
		t.Error("Example shares its buffer")
	}
}

// TestEncodeRoundTrip keeps the toml tags and the decoder in agreement: a
// Config written by the TOML encoder must parse back to the same Config.
func TestEncodeRoundTrip(t *testing.T) {
	dir := t.TempDir()
	c, err := Parse(Example(), filepath.Join(dir, "slipway.toml"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(c); err != nil {
		t.Fatal(err)
	}
	c2, err := Parse(buf.Bytes(), c.File)
	if err != nil {
		t.Fatalf("Parse(encoded): %v\n%s", err, buf.Bytes())
	}
	if !reflect.DeepEqual(c, c2) {
		t.Errorf("round trip changed the config:\n%s", buf.Bytes())
	}
}

func FuzzParse(f *testing.F) {
	f.Add(Example())
	f.Add([]byte(withKeys(f, aliceUser)))
	f.Add([]byte("[apps.\"*\".environments.x]\npath = \"{app}\"\nhealth = { command = \"x\" }\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.toml")
		if err == nil {
			c.App("x")
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error %v (%T) is not an *Error", err, err)
		}
		var errs Errors
		if errors.As(err, &errs) {
			for i, e := range errs {
				if e.Line == 0 {
					t.Fatalf("problem without a line: %v", e)
				}
				if i > 0 && errs[i-1].Line > e.Line {
					t.Fatalf("problems out of order:\n%v", errs)
				}
			}
		}
	})
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		ok   bool
	}{
		{"1048576", 1 << 20, true},
		{"512MiB", 512 << 20, true},
		{"2GB", 2_000_000_000, true},
		{"1 GiB", 1 << 30, true},
		{"100k", 100_000, true},
		{"-1", 0, false},
		{"lots", 0, false},
		{"1.5GiB", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestExampleWithDataDir(t *testing.T) {
	text, err := ExampleWithDataDir("/var/lib/slipway")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(text, filepath.Join(t.TempDir(), "slipway.toml"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.DataDir != "/var/lib/slipway" {
		t.Errorf("data_dir = %q, want /var/lib/slipway", c.DataDir)
	}
	for _, bad := range []string{"", `a"b`, `a\b`, "a\nb"} {
		if _, err := ExampleWithDataDir(bad); err == nil {
			t.Errorf("ExampleWithDataDir(%q) accepted", bad)
		}
	}
}
