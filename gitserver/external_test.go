package gitserver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayhq/slipway/config"
)

func TestExternalPusher(t *testing.T) {
	gitolite := &config.External{Identity: config.IdentityGitolite, OSUsers: []string{"git"}}
	tests := []struct {
		name   string
		x      *config.External
		uid    string
		osName string
		vars   map[string]string
		want   string // pusher, or a part of the refusal
		ok     bool
	}{
		{"gitolite names the pusher", gitolite, "998", "git", map[string]string{"GL_USER": "alice"}, "alice", true},
		{"os_users by uid", &config.External{Identity: config.IdentityGitolite, OSUsers: []string{"998"}}, "998", "", map[string]string{"GL_USER": "alice"}, "alice", true},
		{"another account's hook is refused", gitolite, "1000", "mallory", map[string]string{"GL_USER": "alice"}, "run as mallory (uid 1000), which Slipway does not accept", false},
		{"only the configured server's variable counts", gitolite, "998", "git", map[string]string{"GITEA_PUSHER_NAME": "alice", "GL_USERNAME": "alice"}, "GL_USER is not set", false},
		{"gitea, case folded", &config.External{Identity: config.IdentityGitea, OSUsers: []string{"git"}}, "998", "git", map[string]string{"GITEA_PUSHER_NAME": "Alice", "GL_USER": "bob"}, "alice", true},
		{"gitlab", &config.External{Identity: config.IdentityGitLab, OSUsers: []string{"git"}}, "998", "git", map[string]string{"GL_USERNAME": "carol"}, "carol", true},
		{"gitolite keeps case, and such a name is no Slipway user", gitolite, "998", "git", map[string]string{"GL_USER": "Alice"}, `"Alice" cannot be a Slipway user name`, false},
		{"os: the account is the pusher, whatever the variables say", &config.External{Identity: config.IdentityOS}, "1001", "alice", map[string]string{"GL_USER": "root"}, "alice", true},
		{"os with os_users restricts the accounts", &config.External{Identity: config.IdentityOS, OSUsers: []string{"alice"}}, "1002", "bob", nil, "run as bob (uid 1002)", false},
		{"os without a user name", &config.External{Identity: config.IdentityOS}, "4242", "", nil, "uid 4242 has no user name", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := externalPusher(tt.x, tt.uid, tt.osName, tt.vars)
			switch {
			case tt.ok && (err != nil || got != tt.want):
				t.Errorf("externalPusher = %q, %v; want %q", got, err, tt.want)
			case !tt.ok && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("externalPusher = %q, %v; want a refusal with %q", got, err, tt.want)
			}
		})
	}
}

func TestSameRepository(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "shop.git")
	other := filepath.Join(dir, "evil.git")
	for _, d := range []string{repo, other} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(dir, "link.git")
	if err := os.Symlink(repo, link); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		claimed string
		want    bool
	}{
		{repo, true},
		{repo + "/.", true},
		{link, true}, // the same directory by another name
		{other, false},
		{filepath.Join(dir, "missing.git"), false},
	} {
		if got := sameRepository(tt.claimed, repo); got != tt.want {
			t.Errorf("sameRepository(%s) = %v, want %v", tt.claimed, got, tt.want)
		}
	}
}
