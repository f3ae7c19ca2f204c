package rsync

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayhq/slipway/release/host"
)

func TestCause(t *testing.T) {
	for _, tc := range []struct{ stderr, want string }{
		{"rsync: write failed on \"/srv/a\": No space left on device (28)\nrsync error: error in file IO (code 11)",
			`write failed on "/srv/a": No space left on device (28)`},
		{"slipway: releases/v3 already exists\nrsync: connection unexpectedly closed\nrsync error: (code 12)",
			"releases/v3 already exists"},
		{"ssh: connect to host web-1 port 22: Connection refused\nrsync error: unexplained error (code 255)",
			"rsync error: unexplained error (code 255)"},
	} {
		if got := Cause(tc.stderr); got != tc.want {
			t.Errorf("Cause(%q) = %q, want %q", tc.stderr, got, tc.want)
		}
	}
}

func TestParseStats(t *testing.T) {
	out := []byte("Number of files: 11,478 (reg: 10,000, dir: 1,478)\nNumber of regular files transferred: 1,204\nTotal bytes sent: 2,345,678\nTotal bytes received: 12\n")
	if st := ParseStats(out); st.Files != 1204 || st.BytesSent != 2345678 {
		t.Errorf("ParseStats = %+v, want 1204 files, 2345678 bytes", st)
	}
}

// A failed run keeps rsync's whole standard error for the transport, and
// says the line that explains it; a full disk is marked.
func TestRunFails(t *testing.T) {
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Skip("rsync is not installed; run scripts/deps.sh")
	}
	missing := filepath.Join(t.TempDir(), "missing")
	_, err := Run(context.Background(), nil, append(Args(""), missing+"/", t.TempDir()+"/"), nil)
	var re *Error
	if !errors.As(err, &re) || !strings.Contains(re.Stderr, "missing") || !strings.Contains(err.Error(), "change_dir") {
		t.Errorf("Run from a missing directory = %v, want an *Error naming it", err)
	}
	if errors.Is(err, host.ErrNoSpace) || errors.Is(err, ErrNotProportional) {
		t.Errorf("Run from a missing directory = %v, marked as a full disk or a refused proportional upload", err)
	}
}
