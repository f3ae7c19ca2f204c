package gitserver

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anmitsu/go-shlex"

	"github.com/slipwayhq/slipway/audit"
)

// TestLockCommands runs lock and unlock in turn: each step sees what the
// ones before it left.
func TestLockCommands(t *testing.T) {
	s := newCommandServer(t)
	alice := identity{User: "alice", Key: "SHA256:x"}
	steps := []struct {
		line   string
		code   int
		stdout string
		stderr string
	}{
		{"lock shop production", 2, "", "usage: lock APP ENV --reason TEXT"},
		{"lock shop production --reason=", 2, "", "usage: lock"},
		{"lock shop nosuchenv --reason x", 2, "", "no environment"},
		{"lock shop production extra --reason x", 2, "", "unexpected argument"},
		{"unlock shop production", 1, "", "shop/production is not locked"},
		{`lock shop production --reason "incident 512"`, 0, "shop/production is locked by alice since ", ""},
		{`lock shop production --reason "again"`, 1, "", "locked by alice since "},
		{"status shop", 0, "  locked ", ""},
		{"unlock shop production", 0, "shop/production unlocked (locked by alice since ", ""},
		{"unlock shop production", 1, "", "is not locked"},
	}
	for _, st := range steps {
		args, err := shlex.Split(st.line, true)
		if err != nil {
			t.Fatal(err)
		}
		var out, errw bytes.Buffer
		code := s.command(context.Background(), alice, args, strings.NewReader(""), &out, &errw)
		if code != st.code || !strings.Contains(out.String(), st.stdout) || !strings.Contains(errw.String(), st.stderr) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d, %q and %q", st.line, code, out.String(), errw.String(), st.code, st.stdout, st.stderr)
		}
		if st.line == `lock shop production --reason "incident 512"` {
			fi, err := os.Stat(filepath.Join(s.DataDir, "locks", "shop", "production.json"))
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("lock file: %v, mode %v; want 0600", err, fi.Mode())
			}
		}
	}
	recs, err := s.Engine.Audit.Read(10, func(r audit.Record) bool { return r.Event == audit.EventLocked || r.Event == audit.EventUnlocked })
	if err != nil || len(recs) != 2 || recs[0].Event != audit.EventUnlocked || recs[1].Detail != "incident 512" {
		t.Errorf("audit: %+v, %v; want locked then unlocked", recs, err)
	}
}
