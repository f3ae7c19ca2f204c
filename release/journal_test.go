package release

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipwayhq/slipway/config"
)

// A restart that finds a deploy live on every host but not yet recorded
// completes it: the branch moves and the history says it went live.
func TestRecoverCompletesAFinishingDeploy(t *testing.T) {
	bare, commit := gitRepo(t)
	c1 := commit(map[string]string{"a": "a"}, "First")
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(`
[apps.shop.environments.production]
branch = "live"
path = "`+filepath.Join(dir, "srv")+`"
`), filepath.Join(dir, "slipway.toml"))
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{Connect: localHosts, DataDir: filepath.Join(dir, "data"), Log: zerolog.Nop()}
	if err := CreateTag(bare, 1, c1, "shop", "production", "alice", time.Now()); err != nil {
		t.Fatal(err)
	}
	j := &journal{App: "shop", Env: "production", Repo: bare, Release: "v1", Commit: c1, User: "alice",
		Hosts: []string{"local"}, Prev: map[string]string{"local": ""}, Phase: "finishing", Started: time.Now()}
	if err := e.writeJournal(j); err != nil {
		t.Fatal(err)
	}
	if err := e.Recover(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if head, _ := BranchHead(bare, "live"); head != c1 {
		t.Errorf("branch live = %q, want %s", head, c1)
	}
	rels, err := History(context.Background(), bare)
	if err != nil || len(rels) != 1 || rels[0].Outcome != OutcomeLive {
		t.Fatalf("history = %+v, %v; want v1 live", rels, err)
	}
	if !strings.HasPrefix(rels[0].Events[0].Detail, "deployed in") {
		t.Errorf("event detail %q", rels[0].Events[0].Detail)
	}
	if p, _ := readJournal(e.journalFile("shop", "production")); p != nil {
		t.Error("the journal is still there")
	}
}
