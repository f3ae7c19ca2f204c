package release

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/internal/durable"
)

// A damaged file in the data directory is an error that names the file,
// says what is wrong with it and what to do; never "no such file".
func TestDamagedDataFiles(t *testing.T) {
	goodJournal := `{"app":"shop","env":"production","release":"v2","commit":"abc","hosts":["web-1"],"phase":"switch"}`
	readers := map[string]func(e *Engine) (any, error){
		KindJournal: func(e *Engine) (any, error) { return readJournal(e.journalFile("shop", "production")) },
		KindPending: func(e *Engine) (any, error) { return e.PendingRelease("shop", "production") },
		KindState:   func(e *Engine) (any, error) { return e.State("shop", "production") },
	}
	advice := map[string]string{
		KindJournal: "so it deploys nothing there; check where current points on each host (slipway check), put them back on one release if they differ, then remove the file",
		KindPending: "deploys of shop/production are refused until an operator fixes or removes it",
		KindState:   "the state of the hosts of shop/production is unknown until the next deploy of shop/production rewrites it",
	}
	tests := []struct {
		name, kind, content, cause string
	}{
		{"empty journal", KindJournal, "", "is empty"},
		{"truncated journal", KindJournal, goodJournal[:40], "is truncated"},
		{"garbage journal", KindJournal, "\x00\x00\x00\x00", "is not valid JSON (at byte 1)"},
		{"journal of another environment", KindJournal, strings.Replace(goodJournal, "production", "staging", 1), "it is not the journal of shop/production"},
		{"journal without a release", KindJournal, `{"app":"shop","env":"production","hosts":["web-1"],"phase":"ship"}`, "it names no release or no hosts"},
		{"journal with an unknown phase", KindJournal, strings.Replace(goodJournal, "switch", "sw", 1), `unknown phase "sw"`},
		{"truncated pending", KindPending, `{"app":"shop","env":"production","release":"v3","com`, "is truncated"},
		{"empty pending", KindPending, "\n", "is empty"},
		{"pending of no release", KindPending, `{"app":"shop","env":"production"}`, "it does not describe a release of shop/production"},
		{"pending of the wrong shape", KindPending, `{"hosts":"web-1"}`, `not in the form Slipway writes (field "hosts")`},
		{"truncated state", KindState, `{"hosts":{"web-1":{"current":"v`, "is truncated"},
		{"state of the wrong shape", KindState, `{"hosts":["web-1"]}`, `not in the form Slipway writes (field "hosts")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Engine{Connect: localHosts, DataDir: t.TempDir(), Log: zerolog.Nop()}
			file := map[string]string{KindJournal: e.journalFile("shop", "production"),
				KindPending: e.pendingFile("shop", "production"), KindState: e.stateFile("shop", "production")}[tt.kind]
			if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			v, err := readers[tt.kind](e)
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("got %+v, %v; want a *FileError", v, err)
			}
			if fe.Path != file || fe.Kind != tt.kind || fe.App != "shop" || fe.Env != "production" {
				t.Errorf("FileError %+v", fe)
			}
			msg := err.Error()
			for _, want := range []string{"the " + tt.kind + " file " + file + " ", tt.cause, advice[tt.kind]} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q\ndoes not contain %q", msg, want)
				}
			}
			if _, err := os.Stat(file); err != nil {
				t.Errorf("the damaged file is gone: %v", err)
			}
		})
	}
}

// Missing files are not damaged: no journal, no pending release, no state.
func TestMissingDataFiles(t *testing.T) {
	e := &Engine{Connect: localHosts, DataDir: t.TempDir(), Log: zerolog.Nop()}
	if p, err := e.PendingRelease("shop", "production"); p != nil || err != nil {
		t.Errorf("PendingRelease = %+v, %v", p, err)
	}
	if st, err := e.State("shop", "production"); err != nil || len(st.Hosts) != 0 {
		t.Errorf("State = %+v, %v", st, err)
	}
	if err := e.settle(context.Background(), &config.Environment{App: "shop", Name: "production"}); err != nil {
		t.Errorf("settle = %v", err)
	}
}

// A damaged journal found at start is kept, and the environment refuses
// deploys until an operator removes it; other journals are recovered.
func TestRecoverKeepsADamagedJournal(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(`
[apps.shop.environments.production]
path = "`+filepath.Join(dir, "srv")+`"
`), filepath.Join(dir, "slipway.toml"))
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{Connect: localHosts, DataDir: filepath.Join(dir, "data"), Log: zerolog.Nop()}
	file := e.journalFile("shop", "production")
	if err := durable.WriteFile(file, []byte(`{"app":"shop","env":"produc`), 0o600); err != nil {
		t.Fatal(err)
	}
	err = e.Recover(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "1 interrupted deploys could not be recovered") {
		t.Errorf("Recover = %v", err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("the damaged journal is gone: %v", err)
	}
	env, _ := cfg.Apps["shop"].Environment("production")
	var fe *FileError
	if err := e.settle(context.Background(), env); !errors.As(err, &fe) || fe.Kind != KindJournal {
		t.Errorf("settle = %v; want the damaged journal", err)
	}
}
