package gitserver_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/slipwayhq/slipway/gitserver"
)

func TestAppFromPathAccepts(t *testing.T) {
	long := strings.Repeat("a", 100)
	tests := []struct {
		path string
		want string
	}{
		{"/shop", "shop"},
		{"shop", "shop"},
		{"/shop.git", "shop"},
		{"shop.git", "shop"},
		{"~/shop", "shop"},
		{"~/shop.git", "shop"},
		{"shop/", "shop"},
		{"/shop.git/", "shop"},
		{"/Shop_2.web-x", "Shop_2.web-x"},
		{"/" + long + ".git", long},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := gitserver.AppFromPath(tt.path)
			if err != nil {
				t.Fatalf("AppFromPath(%q): %v", tt.path, err)
			}
			if got != tt.want {
				t.Errorf("AppFromPath(%q) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

func TestAppFromPathRefuses(t *testing.T) {
	tests := []struct {
		name string
		path string
	}{
		{"parent", ".."},
		{"absolute parent", "/../etc"},
		{"climbing out of an app", "/shop/../../etc"},
		{"two components", "a/b"},
		{"two components with .git", "/a/b.git"},
		{"empty", ""},
		{"root", "/"},
		{"dot", "."},
		{"home only", "~"},
		{"only .git", ".git"},
		{"only .git absolute", "/.git"},
		{"double .git", "/shop.git.git"},
		{"option", "-rf"},
		{"option with .git", "/-rf.git"},
		{"leading dot", ".shop"},
		{"dotdot inside", "sh..op"},
		{"NUL", "sh\x00op"},
		{"space", "sh op"},
		{"semicolon", "shop;rm -rf /"},
		{"command substitution", "$(id)"},
		{"backtick", "`id`"},
		{"newline", "shop\nrm"},
		{"carriage return", "shop\r"},
		{"escape sequence", "\x1b[31mshop"},
		{"DEL", "shop\x7f"},
		{"unicode letter", "shöp"},
		{"right-to-left override", "shop\u202egnp"},
		{"C1 control", "shop\u0085x"},
		{"invalid UTF-8", "shop\xff"},
		{"101 characters", strings.Repeat("a", 101)},
		{"101 characters with .git", "/" + strings.Repeat("a", 101) + ".git"},
		{"backslash", `..\etc`},
		{"tilde user", "~root/shop"},
		{"URL", "ssh://host/shop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := gitserver.AppFromPath(tt.path)
			if err == nil {
				t.Fatalf("AppFromPath(%q) = %q, want an error", tt.path, got)
			}
			checkBadRepoNameError(t, tt.path, err)
		})
	}
}

// checkBadRepoNameError checks what a pusher sees when their repository
// path is refused: it says what is wrong, and shows the path without
// anything a terminal would interpret.
func checkBadRepoNameError(tb testing.TB, path string, err error) {
	tb.Helper()
	if !errors.Is(err, gitserver.ErrBadRepoName) {
		tb.Errorf("AppFromPath(%q): error %v does not wrap ErrBadRepoName", path, err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "bad repository name") {
		tb.Errorf("AppFromPath(%q): error %q does not say \"bad repository name\"", path, msg)
	}
	for _, r := range msg {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			tb.Errorf("AppFromPath(%q): error %q holds the control character %U", path, msg, r)
			break
		}
	}
}

// FuzzAppFromPath checks that whatever AppFromPath accepts names exactly
// one directory entry inside the repositories directory.
func FuzzAppFromPath(f *testing.F) {
	const root = "/srv/slipway/repos"
	f.Fuzz(func(t *testing.T, path string) {
		name, err := gitserver.AppFromPath(path)
		if err != nil {
			if name != "" {
				t.Errorf("AppFromPath(%q) = %q with error %v", path, name, err)
			}
			checkBadRepoNameError(t, path, err)
			return
		}
		if name == "" || name == "." || name == ".." {
			t.Fatalf("AppFromPath(%q) = %q", path, name)
		}
		for _, c := range []byte(name) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				t.Fatalf("AppFromPath(%q) = %q, which holds %q", path, name, c)
			}
		}
		dir := filepath.Join(root, name+".git")
		if filepath.Dir(dir) != root || filepath.Base(dir) != name+".git" {
			t.Fatalf("AppFromPath(%q) = %q, whose repository %s is not directly in %s", path, name, dir, root)
		}
		if again, err := gitserver.AppFromPath(name); err != nil || again != name {
			t.Fatalf("AppFromPath(%q) = %q, but AppFromPath(%q) = %q, %v", path, name, name, again, err)
		}
	})
}
