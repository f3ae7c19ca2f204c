package gitserver

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anmitsu/go-shlex"
	"github.com/rs/zerolog"

	"github.com/slipwayhq/slipway/audit"
	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/release"
	"github.com/slipwayhq/slipway/release/transport"
	"github.com/slipwayhq/slipway/secrets"
)

// newCommandServer is a Server that can run commands (no listener).
func newCommandServer(t testing.TB) *Server {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(`
[[users]]
name = "alice"
keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPo1uwDdN2ww/L8nD+lFJ46m78iwAn/BJhHwNR10ZfPq alice"]
role = "admin"
[apps.shop.environments.production]
path = "srv"
`), filepath.Join(dir, "slipway.toml"))
	if err != nil {
		t.Fatal(err)
	}
	engine := &release.Engine{DataDir: cfg.DataDir, Log: zerolog.Nop(), Connect: transport.Connector(func() *config.Config { return cfg }, transport.Options{}),
		Audit: audit.Open(filepath.Join(dir, "audit.log")), Secrets: secrets.Open(filepath.Join(dir, "secrets"))}
	s := NewServer(cfg, newSigner(t), engine, zerolog.Nop())
	s.ctx = context.Background()
	return s
}

func TestCommandUsageErrors(t *testing.T) {
	s := newCommandServer(t)
	alice := identity{User: "alice", Key: "SHA256:x"}
	tests := []struct {
		line    string
		code    int
		message string
	}{
		{"help", 0, ""},
		{"status; rm -rf /", 2, "unknown command"},
		{"$(reboot)", 2, "unknown command"},
		{"status --bogus", 2, "flag provided but not defined"},
		{"status nosuchapp", 2, `no app "nosuchapp"`},
		{"status ../../etc", 2, "no app"},
		{"releases shop extra", 2, "unexpected argument"},
		{"rollback shop", 2, "usage: rollback"},
		{"rollback shop nosuchenv", 2, "no environment"},
		{"secrets set shop production BAD-NAME", 2, "secret name"},
		{"log -n notanumber", 2, "invalid value"},
		{"whoami " + strings.Repeat("x", 300), 2, "too long"},
		{"status --live --timeout 0s", 2, "--timeout must be more than 0 and at most 5m0s"},
		{"status --live --timeout 1h", 2, "--timeout must be"},
		{"status --live nosuchapp", 2, `no app "nosuchapp"`},
		{"logs", 2, "usage: logs APP ENV [--host H] [-n N] [-f]"},
		{"logs shop", 2, "usage: logs APP ENV"},
		{"logs shop production extra", 2, "unexpected argument"},
		{"logs shop nosuchenv", 2, `shop has no environment "nosuchenv"`},
		{"logs shop production -n 0", 2, "-n must be from 1 to 100000"},
		{"logs shop production -n many", 2, "invalid value"},
		{"logs shop production --host", 2, "flag needs an argument"},
		{"logs shop production -f", 2, "shop/production has no logs_follow command; set logs_follow in [apps.shop.environments.production] of the configuration"},
		{"artifact shop production", 2, "usage: artifact APP ENV --commit COMMIT"},
		{"artifact shop --commit abcdef0", 2, "usage: artifact"},
		{"artifact shop production --commit HEAD~1", 2, "is not a commit id"},
		{"artifact shop production --commit 'abc;id'", 2, "is not a commit id"},
		{"artifact shop nosuchenv --commit abcdef0", 2, "no environment"},
		{"artifact shop production --commit abcdef0", 1, "commit abcdef0 is not on the server; push it first"},
	}
	for _, tt := range tests {
		args, err := shlex.Split(tt.line, true)
		if err != nil {
			t.Fatal(err)
		}
		var out, errw bytes.Buffer
		code := s.command(context.Background(), alice, args, strings.NewReader(""), &out, &errw)
		if code != tt.code || !strings.Contains(errw.String(), tt.message) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d and %q", tt.line, code, errw.String(), tt.code, tt.message)
		}
	}
}

// FuzzCommand feeds command lines, split as the SSH server splits them,
// to the command dispatcher: it must never panic, and must answer with a
// documented exit status.
func FuzzCommand(f *testing.F) {
	for _, seed := range []string{"help", "status --json", "releases shop -n 3 --env production", "log shop -n 1",
		"rollback shop production v1 --force", "secrets list shop production", "approve shop production v9",
		"reject shop production v9 --reason=\"x\"", "lock shop production --reason x", "unlock shop production", "artifact shop production --commit abcdef0", "status; rm -rf /", "$(id)", "status --live --timeout 1s", "logs shop production -n 5 --host local -f", "whoami", "version", "-n", "--json"} {
		f.Add(seed)
	}
	s := newCommandServer(f)
	f.Fuzz(func(t *testing.T, line string) {
		args, err := shlex.Split(line, true)
		if err != nil || len(args) == 0 {
			return
		}
		var out, errw bytes.Buffer
		code := s.command(context.Background(), identity{User: "alice", Key: "SHA256:x"}, args, strings.NewReader("v"), &out, &errw)
		if code < 0 || code > 2 {
			t.Fatalf("%q: exit status %d", line, code)
		}
	})
}

// TestCommandTable checks that the one table of ssh commands feeds help
// and dispatch alike: every row is listed in help with each of its forms,
// every name reaches its own command, and a wrong call of a command that
// takes arguments answers with that row's forms.
func TestCommandTable(t *testing.T) {
	s := newCommandServer(t)
	alice := identity{User: "alice", Key: "SHA256:x"}
	help := helpText()
	seen := map[string]bool{}
	for _, sc := range sshCommands {
		if seen[sc.name] {
			t.Errorf("%s is in the table twice", sc.name)
		}
		seen[sc.name] = true
		if len(sc.usage) == 0 || sc.run == nil {
			t.Errorf("%s has no usage or no function", sc.name)
		}
		for _, u := range sc.usage {
			if !strings.HasPrefix(u.form, sc.name) {
				t.Errorf("%s: form %q does not start with its name", sc.name, u.form)
			}
			if !strings.Contains(help, "  "+u.form) {
				t.Errorf("help lacks %q", u.form)
			}
		}
		var out, errw bytes.Buffer
		s.command(context.Background(), alice, []string{sc.name, "--bogus-flag-for-the-table-test"}, strings.NewReader(""), &out, &errw)
		if strings.Contains(errw.String(), "unknown command") {
			t.Errorf("%s does not reach its command: %s", sc.name, errw.String())
		}
	}
	var errw bytes.Buffer
	if code := s.command(context.Background(), alice, []string{"approve", "shop"}, strings.NewReader(""), new(bytes.Buffer), &errw); code != exitUsage ||
		errw.String() != "slipway: usage: approve APP ENV vN\n" {
		t.Errorf("approve shop: exit %d, %q", code, errw.String())
	}
	errw.Reset()
	s.command(context.Background(), alice, []string{"secrets"}, strings.NewReader(""), new(bytes.Buffer), &errw)
	if want := "slipway: usage: secrets set APP ENV NAME < VALUE | secrets set APP ENV NAME=VALUE... | secrets list APP ENV | secrets unset APP ENV NAME\n"; errw.String() != want {
		t.Errorf("secrets: %q, want %q", errw.String(), want)
	}
}
