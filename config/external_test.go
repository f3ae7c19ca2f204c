package config

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseExternal(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "slipway.toml")
	tests := []struct {
		name  string
		src   string
		check func(t *testing.T, c *Config)
	}{
		{
			name: "no external table",
			src:  ``,
			check: func(t *testing.T, c *Config) {
				if c.External != nil {
					t.Errorf("External = %+v, want nil", c.External)
				}
			},
		},
		{
			name: "gitolite behind its own account, no SSH listener, users without keys",
			src: `
listen = ""
[external]
identity = "gitolite"
os_users = ["git", "1001"]
socket_group = "git"
[[users]]
name = "alice"
[apps.shop]
repository = "/srv/git/./shop.git"
[apps.shop.environments.production]
path = "/srv/shop"
`,
			check: func(t *testing.T, c *Config) {
				want := &External{Identity: "gitolite", OSUsers: []string{"git", "1001"}, SocketGroup: "git",
					Socket: filepath.Join(dir, "slipway-data", "run", "external.sock")}
				if !reflect.DeepEqual(c.External, want) {
					t.Errorf("External = %+v, want %+v", c.External, want)
				}
				if c.Listen != "" {
					t.Errorf("Listen = %q, want none", c.Listen)
				}
				if got := c.Apps["shop"].Repository; got != "/srv/git/shop.git" {
					t.Errorf("Repository = %q", got)
				}
				if len(c.Users) != 1 || len(c.Users[0].PublicKeys) != 0 {
					t.Errorf("users = %+v", c.Users)
				}
			},
		},
		{
			name: "os identity needs no os_users; a relative socket is under the config's directory",
			src: `
[external]
identity = "os"
socket = "run/ext.sock"
`,
			check: func(t *testing.T, c *Config) {
				if c.External.Socket != filepath.Join(dir, "run", "ext.sock") || len(c.External.OSUsers) != 0 {
					t.Errorf("External = %+v", c.External)
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
			tt.check(t, c)
		})
	}
}

// TestParseExternalErrors follows TestParseErrors: the line marked "# <-"
// is where the problem must be reported.
func TestParseExternalErrors(t *testing.T) {
	const env = `
[apps.shop.environments.production]
path = "/srv/shop"
`
	tests := []struct {
		name string
		src  string
		key  string
		msg  string
	}{
		{"identity missing", `
[external] # <-
os_users = ["git"]
`, "external.identity", `is required: which git server runs the hooks`},
		{"identity unknown", `
[external]
identity = "github" # <-
os_users = ["git"]
`, "external.identity", `"github" is not a git server Slipway knows`},
		{"os_users missing", `
[external] # <-
identity = "gitea"
`, "external.os_users", `is required with identity = "gitea"`},
		{"os user invalid", `
[external]
identity = "gitlab"
os_users = ["git", "-x"] # <-
`, "external.os_users[1]", `"-x" is not an OS user name or uid`},
		{"socket group invalid", `
[external]
identity = "os"
socket_group = "a b" # <-
`, "external.socket_group", `"a b" is not a group name or gid`},
		{"unknown key", `
[external]
identity = "os"
identiy = "os" # <-
`, "external.identiy", `did you mean "identity"?`},
		{"listen empty without external", `
listen = "" # <-
`, "listen", `is empty, which turns Slipway's own SSH server off`},
		{"user without keys without external", `
[[users]] # <-
name = "alice"
`, "users[0]", `user "alice" has no keys`},
		{"repository without external", `
[apps.shop]
repository = "/srv/git/shop.git" # <-
` + env, "apps.shop.repository", `needs an [external] table`},
		{"repository relative", `
[external]
identity = "os"
[apps.shop]
repository = "git/shop.git" # <-
` + env, "apps.shop.repository", `"git/shop.git" must be the absolute path of a bare repository`},
		{"repository on the template", `
[external]
identity = "os"
[apps."*"]
repository = "/srv/git/x.git" # <-
[apps."*".environments.production]
path = "/srv/{app}"
`, `apps."*".repository`, `cannot be set on the "*" template`},
		{"repository of two apps", `
[external]
identity = "os"
[apps.shop]
repository = "/srv/git/shop.git"
[apps.shop.environments.production]
path = "/srv/shop"
[apps.blog]
repository = "/srv/git/shop.git/" # <-
[apps.blog.environments.production]
path = "/srv/blog"
`, "apps.blog.repository", `/srv/git/shop.git is already the repository of app "shop"`},
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
			if e.Line != line || e.Key != tt.key || !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("got  %s\nwant slipway.toml:%d: %s: ...%s...", e, line, tt.key, tt.msg)
			}
		})
	}
}
