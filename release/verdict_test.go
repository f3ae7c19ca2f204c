//go:build unix

package release

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/slipwayhq/slipway/audit"
	"github.com/slipwayhq/slipway/config"
)

// The pusher hears the verdict once every host is live: the notes, the
// state file, the audit record and after_deploy come after, in the
// daemon. Wait (what status, releases and fetches call) sees the records
// done while after_deploy may still run, so a hook that asks Slipway
// what runs where does not wait for itself; WaitAll (the audit log's
// readers, a stopping daemon) waits for the hook too. A failing
// after_deploy lands in the audit log.
func TestVerdictComesBeforeBookkeeping(t *testing.T) {
	needRsync(t)
	bare, commit := gitRepo(t)
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	cfg, err := config.Parse([]byte(`
[apps.shop.environments.production]
branch = "production"
path = "`+filepath.Join(dir, "srv")+`"
[apps.shop.environments.production.hooks]
after_deploy = "until [ -e '`+gate+`' ]; do sleep 0.01; done; cat > '`+dir+`/summary.json'; test ! -e '`+dir+`/fail'"
`), filepath.Join(dir, "slipway.toml"))
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{Connect: localHosts, DataDir: filepath.Join(dir, "data"), Log: zerolog.Nop(), Audit: audit.Open(filepath.Join(dir, "audit.log"))}
	t.Cleanup(func() {
		os.WriteFile(gate, nil, 0o644)
		e.WaitAll(context.Background(), "", "")
	})
	app, _ := cfg.App("shop")
	env, _ := app.Environment("production")
	head := ""
	deploy := func(content string) {
		t.Helper()
		c := commit(map[string]string{"index.html": content}, content)
		var out bytes.Buffer
		if _, err := e.Deploy(context.Background(), Request{App: app, Env: env, Repo: bare, Commit: c, Old: head, User: "alice"}, &out); err != nil {
			t.Fatalf("deploy: %v\n%s", err, out.String())
		}
		head = c
		if !strings.Contains(out.String(), "deployed ") {
			t.Errorf("the pusher did not hear the verdict:\n%s", out.String())
		}
	}
	records := func(event audit.Event) int {
		recs, err := e.Audit.Read(100, func(r audit.Record) bool { return r.Event == event })
		if err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}

	deploy("one")
	// Deploy returned while after_deploy still waits for the gate.
	if _, err := os.Stat(filepath.Join(dir, "summary.json")); err == nil {
		t.Fatal("after_deploy ran to its end before the verdict")
	}
	if target, _ := os.Readlink(filepath.Join(dir, "srv/current")); target != "releases/v1" {
		t.Errorf("current → %q at the verdict, want releases/v1", target)
	}
	// Wait returns while after_deploy still waits for the gate.
	e.Wait("shop", "production")
	if _, err := os.Stat(filepath.Join(dir, "summary.json")); err == nil {
		t.Error("Wait waited for after_deploy")
	}
	if n := records("deployed"); n != 1 {
		t.Errorf("audit log has %d deployed records after Wait, want 1", n)
	}
	st, err := e.State("shop", "production")
	if err != nil || st.Hosts["local"].Current != "v1" {
		t.Errorf("state after Wait = %+v, %v; want local on v1", st, err)
	}
	rels, err := History(context.Background(), bare)
	if err != nil || len(rels) != 1 || rels[0].Outcome != OutcomeLive {
		t.Errorf("history after Wait = %+v, %v; want v1 live", rels, err)
	}
	os.WriteFile(gate, nil, 0o644)
	e.WaitAll(context.Background(), "shop", "production")
	if _, err := os.Stat(filepath.Join(dir, "summary.json")); err != nil {
		t.Errorf("after WaitAll, after_deploy has not run: %v", err)
	}

	// A failing after_deploy: the deploy stands, the audit log says so.
	os.WriteFile(filepath.Join(dir, "fail"), nil, 0o644)
	deploy("two")
	e.WaitAll(context.Background(), "shop", "production")
	recs, _ := e.Audit.Read(10, func(r audit.Record) bool { return r.Event == audit.EventBookkeeping })
	if len(recs) != 1 || recs[0].Release != "v2" || !strings.Contains(recs[0].Detail, "after_deploy failed (the deploy stands)") {
		t.Errorf("bookkeeping records = %+v, want one for v2 saying after_deploy failed", recs)
	}
}
