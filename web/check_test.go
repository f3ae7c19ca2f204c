package web

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/release"
	"github.com/slipwayhq/slipway/release/transport"
)

// "check hosts now" asks the host (here the real host local) and shows its
// answer next to the record, which it leaves as it was.
func TestCheckHostsNow(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(`
data_dir = "`+dir+`"
[http]
listen = "127.0.0.1:8080"
[apps.shop.environments.production]
path = "srv"
health = { command = "test -f ok", retries = 1 }
`), filepath.Join(dir, "slipway.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"v1", "v2"} {
		if err := os.MkdirAll(filepath.Join(dir, "srv", "releases", rel), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "srv", "releases", "v2", "ok"), nil, 0o644)
	// Recorded: v1. On the host, someone pointed current at v2.
	if err := os.Symlink("releases/v2", filepath.Join(dir, "srv", "current")); err != nil {
		t.Fatal(err)
	}
	stateFile := filepath.Join(dir, "state", "shop", "production.json")
	os.MkdirAll(filepath.Dir(stateFile), 0o755)
	state := `{"hosts": {"local": {"current": "v1", "health": "ok", "seen": "2026-11-20T11:00:00Z"}}}`
	if err := os.WriteFile(stateFile, []byte(state), 0o644); err != nil {
		t.Fatal(err)
	}
	src := &Source{Config: func() *config.Config { return cfg }, Engine: &release.Engine{DataDir: dir, Log: zerolog.Nop(), Connect: transport.Connector(func() *config.Config { return cfg }, transport.Options{})}, DataDir: dir}
	s := NewServer(src, NewHub(), NewMetrics(src, nil), zerolog.Nop(), "test")

	get := func(url string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", url, nil)
		req.Host = "127.0.0.1:8080"
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec
	}
	plain := get("/")
	if body := plain.Body.String(); !strings.Contains(body, `href="/?check=shop/production#env-shop-production"`) || strings.Contains(body, `data-verdict`) {
		t.Fatalf("the page without a check: no link, or an answer nobody asked for:\n%s", body)
	}
	rec := get("/?check=shop/production")
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `data-verdict="differs"`) || !strings.Contains(body, "runs v2, differs from the record · health ok") {
		t.Fatalf("status %d; want the host marked as differing:\n%s", rec.Code, body)
	}
	if data, _ := os.ReadFile(stateFile); string(data) != state {
		t.Errorf("the check changed the state file:\n%s", data)
	}
	os.Remove(filepath.Join(dir, "srv", "releases", "v2", "ok"))
	if body := get("/?check=shop/production").Body.String(); !strings.Contains(body, `data-verdict="differs"`) || !strings.Contains(body, "health failed: exit status 1") {
		t.Errorf("a failing health check is not shown:\n%s", body)
	}
	req := httptest.NewRequest("GET", "/?check=shop/production", nil)
	req.Host = "127.0.0.1:8080"
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	cross := httptest.NewRecorder()
	s.Handler().ServeHTTP(cross, req)
	if cross.Code != http.StatusForbidden {
		t.Errorf("a check another site's page asked for: status %d, want 403", cross.Code)
	}
	for _, bad := range []string{"/?check=shop/nosuch", "/?check=nosuch/production", "/?check=shop"} {
		if code := get(bad).Code; code != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", bad, code)
		}
	}
}
