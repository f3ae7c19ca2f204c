package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeHome points HOME at a temporary directory with the given files under
// ~/.ssh, and clears the variables that would choose another data directory.
func fakeHome(t *testing.T, files map[string]string) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("SLIPWAY_DATA_DIR", "")
	t.Setenv("XDG_STATE_HOME", "")
	if len(files) > 0 {
		if err := os.Mkdir(filepath.Join(home, ".ssh"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(home, ".ssh", name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return home
}

func TestDefault(t *testing.T) {
	pk1, key1 := testKey(t, 1)
	pk2, key2 := testKey(t, 2)
	pk3, key3 := testKey(t, 3)
	home := fakeHome(t, map[string]string{
		"id_ed25519.pub":  key1 + "\n",
		"id_other.pub":    key2 + "\n" + key1 + "\n",
		"authorized_keys": "# mine\n" + key1 + "\nnot a key\nrestrict,command=\"backup\" " + key3 + "\n",
		"id_ed25519":      "-----BEGIN OPENSSH PRIVATE KEY-----\n",
	})
	t.Setenv("SLIPWAY_DATA_DIR", filepath.Join(home, "data"))

	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:2222" || c.DataDir != filepath.Join(home, "data") || c.File != "" {
		t.Errorf("config = %+v", c)
	}
	if len(c.Users) != 1 || !ValidUserName(c.Users[0].Name) {
		t.Fatalf("users = %+v", c.Users)
	}
	if n := len(c.Users[0].PublicKeys); n != 2 {
		t.Errorf("got %d keys, want 2 (duplicates and restricted keys left out)", n)
	}
	if _, ok := c.UserForKey(pk1); !ok {
		t.Error("key 1 not accepted")
	}
	if _, ok := c.UserForKey(pk2); !ok {
		t.Error("key 2 not accepted")
	}
	if _, ok := c.UserForKey(pk3); ok {
		t.Error("key with authorized_keys options accepted")
	}

	a, ok := c.App("blog")
	if !ok {
		t.Fatal("no template app")
	}
	tests := []struct {
		branch, env, path string
	}{
		{"main", "staging", filepath.Join(home, "data", "deploy", "blog", "staging")},
		{"production", "production", filepath.Join(home, "data", "deploy", "blog", "production")},
	}
	for _, tt := range tests {
		e, ok := a.EnvironmentForBranch(tt.branch)
		if !ok || e.Name != tt.env || e.Path != tt.path || e.Health != nil || len(e.Hosts) != 1 || e.Hosts[0] != "local" {
			t.Errorf("EnvironmentForBranch(%q) = %+v, %v", tt.branch, e, ok)
		}
	}
}

func TestDefaultDataDir(t *testing.T) {
	_, key := testKey(t, 1)
	tests := []struct {
		name     string
		slipway  string
		xdgState string
		want     func(home string) string
	}{
		{"SLIPWAY_DATA_DIR first", "/srv/slipway", "/xdg", func(string) string { return "/srv/slipway" }},
		{"XDG_STATE_HOME next", "", "/xdg", func(string) string { return "/xdg/slipway" }},
		{"relative XDG_STATE_HOME ignored", "", "xdg", func(h string) string { return filepath.Join(h, ".local", "state", "slipway") }},
		{"home last", "", "", func(h string) string { return filepath.Join(h, ".local", "state", "slipway") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := fakeHome(t, map[string]string{"id_ed25519.pub": key})
			t.Setenv("SLIPWAY_DATA_DIR", tt.slipway)
			t.Setenv("XDG_STATE_HOME", tt.xdgState)
			c, err := Default()
			if err != nil {
				t.Fatal(err)
			}
			if want := tt.want(home); c.DataDir != want {
				t.Errorf("DataDir = %q, want %q", c.DataDir, want)
			}
		})
	}
}

func TestDefaultWithoutKeys(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
	}{
		{"no .ssh directory", nil},
		{"only unusable keys", map[string]string{
			"authorized_keys": "# none\n\nnot a key\n",
			"broken.pub":      "ssh-ed25519 !!!\n",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fakeHome(t, tt.files)
			c, err := Default()
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Default() = %v, %v; want an *Error", c, err)
			}
			if !strings.Contains(e.Msg, "ssh-keygen -t ed25519") {
				t.Errorf("message %q does not say how to make a key", e.Msg)
			}
		})
	}
}

func TestUserName(t *testing.T) {
	if name := osUserName(); !ValidUserName(name) {
		t.Errorf("osUserName() = %q, not a valid user name", name)
	}
	tests := []struct {
		account, want string
	}{
		{"alice", "alice"},
		{"Alice Smith", "alice-smith"},
		{`CORP\Bob`, "bob"},
		{"jörg", "j-rg"},
		{strings.Repeat("x", 80), strings.Repeat("x", 64)},
		{"1234", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := userNameFrom(tt.account); got != tt.want {
			t.Errorf("userNameFrom(%q) = %q, want %q", tt.account, got, tt.want)
		}
	}
}
