package gitserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayhq/slipway/config"
)

func TestReleaseTag(t *testing.T) {
	tests := []struct {
		tag      string
		reserved bool
	}{
		{"v1", true},
		{"v7", true},
		{"v0", true},
		{"v01", true},
		{"v1234567890", true},
		{"v1.4.2", false},
		{"v2-beta", false},
		{"v", false},
		{"version", false},
		{"1", false},
		{"V7", false},
		{"release/v7", false},
		{"v7/x", false},
	}
	for _, tt := range tests {
		if got := releaseTag.MatchString(tt.tag); got != tt.reserved {
			t.Errorf("releaseTag.MatchString(%q) = %v, want %v", tt.tag, got, tt.reserved)
		}
	}
}

// An artifact-only user's pushes are refused whichever way they arrive:
// Slipway's SSH server refuses receive-pack, and a hook of another git
// server that names the user reaches handlePush, which refuses every ref.
func TestHandlePushRefusesArtifactOnlyUsers(t *testing.T) {
	s := newCommandServer(t)
	cfg, err := config.Parse([]byte(`
[[users]]
name = "ci"
keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPo1uwDdN2ww/L8nD+lFJ46m78iwAn/BJhHwNR10ZfPq ci"]
artifact_only = true
[apps.shop.environments.production]
path = "srv"
`), filepath.Join(t.TempDir(), "slipway.toml"))
	if err != nil {
		t.Fatal(err)
	}
	s.SetConfig(cfg)
	client, server := net.Pipe()
	defer client.Close()
	var got bytes.Buffer
	done := make(chan struct{})
	go func() {
		io.Copy(&got, client)
		close(done)
	}()
	out := &lineWriter{conn: server, enc: json.NewEncoder(server)}
	p := &pushSession{identity: identity{User: "ci", Key: "SHA256:x"}, App: "shop", Repo: filepath.Join(t.TempDir(), "shop.git")}
	cmds := []RefCommand{
		{Ref: "refs/heads/production", Old: zeroOID, New: strings.Repeat("a", 40)},
		{Ref: "refs/tags/v1.0", Old: zeroOID, New: strings.Repeat("b", 40)},
	}
	res := s.handlePush(context.Background(), p, cmds, nil, out)
	server.Close()
	<-done
	if len(res) != 2 {
		t.Fatalf("results = %+v", res)
	}
	for _, r := range res {
		if !strings.Contains(r.Error, "artifact_only") {
			t.Errorf("%s: error %q; want a refusal naming artifact_only", r.Ref, r.Error)
		}
	}
	if !strings.Contains(got.String(), "ci may deploy artifacts only") {
		t.Errorf("the pusher read %q", got.String())
	}
}
