package config_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayhq/slipway/config"
)

// FuzzParseInvariants checks what an operator can rely on from Parse
// whatever the file holds: it returns, every problem it reports points at
// a line of the file, and a config it accepts keeps the promises that the
// rest of Slipway builds on. (FuzzParse in load_test.go checks the order of
// the problems.)
func FuzzParseInvariants(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		const file = "fuzz.toml"
		c, err := config.Parse(data, file)
		if err != nil {
			if c != nil {
				t.Errorf("Parse returned a config with the error %v", err)
			}
			checkProblems(t, data, file, err)
			return
		}
		checkConfig(t, data, c)
	})
}

// checkProblems checks that err is an *Error or a non-empty Errors, and
// that every problem names the file and a line that exists in data.
func checkProblems(t *testing.T, data []byte, file string, err error) {
	t.Helper()
	lines := bytes.Count(data, []byte("\n")) + 1
	var problems []*config.Error
	var one *config.Error
	var many config.Errors
	switch {
	case errors.As(err, &many):
		if len(many) == 0 {
			t.Fatalf("Parse returned an empty Errors")
		}
		problems = many
	case errors.As(err, &one):
		problems = []*config.Error{one}
	default:
		t.Fatalf("Parse returned %v (%T), neither an *Error nor Errors", err, err)
	}
	for _, e := range problems {
		if e == nil {
			t.Fatalf("Parse returned a nil problem in %v", err)
		}
		if e.File != file {
			t.Errorf("problem %q names the file %q, want %q", e, e.File, file)
		}
		if e.Msg == "" {
			t.Errorf("problem %q has no message", e)
		}
		if e.Line < 0 || e.Line > lines {
			t.Errorf("problem %q is on line %d of a file with %d lines", e, e.Line, lines)
		}
	}
}

// checkConfig checks the promises of a config that Parse accepted.
func checkConfig(t *testing.T, data []byte, c *config.Config) {
	t.Helper()
	if !filepath.IsAbs(c.DataDir) {
		t.Errorf("data_dir %q is not absolute", c.DataDir)
	}
	for _, u := range c.Users {
		if !config.ValidUserName(u.Name) {
			t.Errorf("user %q has an invalid name", u.Name)
		}
		if len(u.PublicKeys) == 0 {
			t.Errorf("user %q has no keys", u.Name)
		}
	}
	for name, a := range c.Apps {
		if a.Name != name {
			t.Errorf("apps.%q has Name %q", name, a.Name)
		}
		if name != config.TemplateApp && !config.ValidName(name) {
			t.Errorf("app %q has an invalid name", name)
		}
		checkApp(t, c, a)
	}
	if tmpl, ok := c.Apps[config.TemplateApp]; ok {
		checkTemplate(t, c, tmpl)
	}
}

func checkApp(t *testing.T, c *config.Config, a *config.App) {
	t.Helper()
	if a.KeepReleases < 2 {
		t.Errorf("app %q keeps %d releases", a.Name, a.KeepReleases)
	}
	if len(a.Environments) == 0 {
		t.Errorf("app %q has no environments", a.Name)
	}
	branches := map[string]string{}
	for name, e := range a.Environments {
		where := a.Name + "/" + name
		if e.Name != name || e.App != a.Name {
			t.Errorf("environment %s is called %s/%s", where, e.App, e.Name)
		}
		if !config.ValidName(name) {
			t.Errorf("environment %s has an invalid name", where)
		}
		if e.Branch == "" || !config.ValidBranch(e.Branch) {
			t.Errorf("environment %s has the branch %q", where, e.Branch)
		}
		if prev, dup := branches[e.Branch]; dup {
			t.Errorf("branch %q deploys both %s and %s", e.Branch, prev, name)
		}
		branches[e.Branch] = name
		if len(e.Hosts) == 0 {
			t.Errorf("environment %s has no hosts", where)
		}
		if !filepath.IsAbs(e.Path) {
			t.Errorf("environment %s has the path %q, which is not absolute", where, e.Path)
		}
		if len(e.Waves) == 0 || e.Parallelism < 1 {
			t.Errorf("environment %s has waves %q and parallelism %d", where, e.Waves, e.Parallelism)
		}
		if h := e.Health; h != nil && (strings.TrimSpace(h.Command) == "" || h.Timeout <= 0 || h.Retries < 1 || h.Interval < 0) {
			t.Errorf("environment %s has the health check %+v", where, *h)
		}
		for _, name := range e.Hosts {
			if h := c.Host(name); !h.IsLocal() && h.Address == "" {
				t.Errorf("environment %s deploys to host %q, which has no address", where, name)
			}
		}
	}
}

// checkTemplate checks that two apps made from the "*" template deploy
// into different directories on every host.
func checkTemplate(t *testing.T, c *config.Config, tmpl *config.App) {
	t.Helper()
	const appA, appB = "fuzz-app-a", "fuzz-app-b"
	if _, listed := c.Apps[appA]; listed {
		return
	}
	if _, listed := c.Apps[appB]; listed {
		return
	}
	a, okA := c.App(appA)
	b, okB := c.App(appB)
	if !okA || !okB {
		t.Fatalf("App(%q), App(%q) found no app although there is a template", appA, appB)
	}
	checkApp(t, c, a)
	for name, ea := range a.Environments {
		eb := b.Environments[name]
		for _, host := range ea.Hosts {
			h := c.Host(host)
			da, db := filepath.Clean(ea.PathOn(h)), filepath.Clean(eb.PathOn(h))
			if da != db {
				continue
			}
			t.Errorf("apps %s and %s both deploy %s to %s on host %q", appA, appB, name, da, host)
		}
	}
}

// FuzzValidBranch checks that every name ValidBranch accepts is safe to
// use as a ref name: no path tricks, no option look-alikes, no control
// characters, nothing git's check-ref-format forbids.
func FuzzValidBranch(f *testing.F) {
	for _, s := range []string{"main", "production", "feature/x", "-o", "a..b", "a/./b", "a.lock", "@", "a b", "a\x00b", "refs/heads/../../x", "$(id)", "a;b", "x//y", "v1", ".hidden", "a@{1}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !config.ValidBranch(s) {
			return
		}
		switch {
		case s == "" || s == "@" || s == "HEAD":
			t.Fatalf("accepted %q", s)
		case strings.HasPrefix(s, "-") || strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") || strings.HasSuffix(s, "."):
			t.Fatalf("accepted %q: bad start or end", s)
		case strings.Contains(s, "..") || strings.Contains(s, "//") || strings.Contains(s, "@{"):
			t.Fatalf("accepted %q: forbidden sequence", s)
		case strings.ContainsAny(s, " ~^:?*[\\\x7f"):
			t.Fatalf("accepted %q: forbidden character", s)
		}
		for _, r := range s {
			if r < 0x20 {
				t.Fatalf("accepted %q: control character", s)
			}
		}
		for _, part := range strings.Split(s, "/") {
			if strings.HasPrefix(part, ".") || strings.HasSuffix(part, ".lock") {
				t.Fatalf("accepted %q: component %q", s, part)
			}
		}
	})
}
