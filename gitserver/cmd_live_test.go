package gitserver

import (
	"io"
	"strings"
	"testing"

	"github.com/slipwayhq/slipway/release"
)

func TestLiveVerdict(t *testing.T) {
	v7 := &release.Release{Name: "v7"}
	tests := []struct {
		name string
		host LiveHostStatus
		live *release.Release
		want string // verdict
		row  string // the host's line in the table
	}{
		{"agrees", LiveHostStatus{Name: "web-1", Recorded: "v7", Current: "v7", Health: "ok"}, v7,
			"ok", "  web-1\tv7\tlive v7\thealth ok\tok"},
		{"changed behind Slipway's back", LiveHostStatus{Name: "web-2", Recorded: "v7", Current: "v6", Health: "ok"}, v7,
			"differs", "  web-2\tv7\tlive v6\thealth ok\tDIFFERS"},
		{"current removed", LiveHostStatus{Name: "web-2", Recorded: "v7", Health: "not checked"}, v7,
			"differs", "  web-2\tv7\tlive -\thealth not checked\tDIFFERS"},
		{"unreachable", LiveHostStatus{Name: "web-3", Recorded: "v7", Health: "not checked", Error: "read current: cannot reach web-3: Connection refused"}, v7,
			"unreachable", "  web-3\tv7\tunreachable\t\tUNREACHABLE: read current: cannot reach web-3: Connection refused"},
		{"unhealthy", LiveHostStatus{Name: "web-1", Recorded: "v7", Current: "v7", Health: "failed: exit status 1"}, v7,
			"unhealthy", "  web-1\tv7\tlive v7\thealth failed: exit status 1\tUNHEALTHY"},
		{"recorded and live, but not the live release", LiveHostStatus{Name: "web-4", Recorded: "v6", Current: "v6", Health: "ok"}, v7,
			"out of line", "  web-4\tv6\tlive v6\thealth ok\tOUT OF LINE: expected v7"},
		{"never deployed", LiveHostStatus{Name: "web-1", Health: "not checked"}, nil,
			"ok", "  web-1\t-\tlive -\thealth not checked\tok"},
		{"a release nobody recorded", LiveHostStatus{Name: "web-1", Current: "v1", Health: "ok"}, nil,
			"differs", "  web-1\t-\tlive v1\thealth ok\tDIFFERS"},
		{"record unreadable", LiveHostStatus{Name: "web-1", Recorded: "unknown", Current: "v7", Health: "ok"}, v7,
			"differs", "  web-1\tunknown\tlive v7\thealth ok\tDIFFERS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.host
			liveVerdict(&h, tt.live)
			if h.Verdict != tt.want {
				t.Errorf("verdict %q, want %q", h.Verdict, tt.want)
			}
			if got := liveRow(h, tt.live); got != tt.row {
				t.Errorf("row %q\nwant %q", got, tt.row)
			}
		})
	}
}

func TestLogsOnATerminal(t *testing.T) {
	var b strings.Builder
	crlf{&b}.Write([]byte("web-1 | one\nweb-2 | two\n"))
	if got := b.String(); got != "web-1 | one\r\nweb-2 | two\r\n" {
		t.Errorf("crlf wrote %q", got)
	}
	for _, keys := range []string{"abc\x03", "\x04", ""} {
		done := make(chan struct{})
		go func() {
			waitInterrupt(strings.NewReader(keys))
			close(done)
		}()
		<-done
	}
	r, w := io.Pipe()
	done := make(chan struct{})
	go func() {
		waitInterrupt(r)
		close(done)
	}()
	w.Write([]byte("q"))
	select {
	case <-done:
		t.Fatal("waitInterrupt returned on an ordinary key")
	default:
	}
	w.Write([]byte{3})
	<-done
}
