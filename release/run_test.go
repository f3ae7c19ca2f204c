//go:build unix

package release

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/internal/sshrig"
	"github.com/slipwayhq/slipway/lifecycle"
)

// TestRunOutputIsBounded runs a hook that writes 50 MB of lines and then a
// 20 MB line without a newline on this machine and on a real sshd host:
// the lines arrive whole, masked and cut, the tail stays small, and the
// server allocates a small fraction of what the hook wrote.
func TestRunOutputIsBounded(t *testing.T) {
	const mb = 1 << 20
	const lineCount = 1500000 // "a line of output, password hunter2\n": 50 MB
	command := fmt.Sprintf(`yes 'a line of output, password hunter2' | head -n %d
head -c %d /dev/zero | tr '\0' x
echo
echo last line`, lineCount, 20*mb)

	hosts := []struct {
		name string
		host func(t *testing.T) Host
	}{
		{"local", func(t *testing.T) Host { return NewLocal(t.TempDir()) }},
		{"ssh", func(t *testing.T) Host {
			r := sshrig.StartT(t, 1)
			h := r.Hosts[0]
			return NewSSH(&config.Host{Name: h.Name, Address: h.Addr(), User: h.User}, h.Root,
				SSHOptions{KeyFile: r.ClientKey, KnownHosts: r.KnownHosts})
		}},
	}
	for _, tt := range hosts {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.host(t)
			defer h.Close()
			lines := &cutLines{t: t}
			o := lifecycle.NewOutput(lines, []string{"hunter2"})

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			err := h.Run(context.Background(), "", command, nil, o)
			o.Close()
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}

			if want := lineCount * len("a line of output, password ***\n"); lines.bytes < want {
				t.Errorf("streamed %d bytes, want the %d bytes of masked lines first", lines.bytes, want)
			}
			if lines.secret {
				t.Errorf("a line showed the secret")
			}
			if !lines.cut {
				t.Errorf("the 20 MB line was not cut to %d bytes and a marker", lifecycle.MaxLine)
			}
			tail := o.Tail()
			if len(tail) > 64<<10 {
				t.Errorf("Tail kept %d bytes, want at most 64 KiB", len(tail))
			}
			if !bytes.HasSuffix(tail, []byte("x…\nlast line\n")) {
				t.Errorf("Tail ends with %q", tail[max(0, len(tail)-40):])
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8*mb {
				t.Errorf("allocated %d bytes for 70 MB of output, want less than 8 MiB", alloc)
			}
		})
	}
}

// cutLines checks each write of a lifecycle.Output: whole lines, none longer
// than a cut line, no secret. It converts nothing to a string, which would
// allocate as much as the output.
type cutLines struct {
	t      *testing.T
	bytes  int
	secret bool
	cut    bool // saw the 20 MB line cut to MaxLine bytes and "…"
}

func (c *cutLines) Write(p []byte) (int, error) {
	c.bytes += len(p)
	if len(p) == 0 || p[len(p)-1] != '\n' {
		c.t.Errorf("write of %d bytes is not whole lines", len(p))
	}
	for line := range bytes.SplitSeq(bytes.TrimSuffix(p, []byte("\n")), []byte("\n")) {
		if len(line) > lifecycle.MaxLine+len("…") {
			c.t.Errorf("a line of %d bytes was passed on", len(line))
		}
		if bytes.Contains(line, []byte("hunter2")) {
			c.secret = true
		}
		if len(line) == lifecycle.MaxLine+len("…") && bytes.Equal(line, []byte(strings.Repeat("x", lifecycle.MaxLine)+"…")) {
			c.cut = true
		}
	}
	return len(p), nil
}
