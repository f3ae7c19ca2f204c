package lifecycle

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

func TestOutput(t *testing.T) {
	long := strings.Repeat("x", MaxLine)
	tests := []struct {
		name       string
		writes     []string
		secrets    []string
		wantStream string
	}{
		{
			name:       "whole lines pass as they are",
			writes:     []string{"one\ntw", "o\n"},
			wantStream: "one\ntwo\n",
		},
		{
			name:       "a final line without a newline gets one",
			writes:     []string{"one\nlast"},
			wantStream: "one\nlast\n",
		},
		{
			name:       "a line of MaxLine bytes is not cut",
			writes:     []string{long + "\n"},
			wantStream: long + "\n",
		},
		{
			name:       "a longer line is cut at MaxLine and says so",
			writes:     []string{long + "yyyy", "zzz\nnext\n"},
			wantStream: long + "…\nnext\n",
		},
		{
			name:       "a long final line without a newline is cut too",
			writes:     []string{long, "more"},
			wantStream: long + "…\n",
		},
		{
			name:       "a cut does not split a character",
			writes:     []string{long[1:] + "é\n"},
			wantStream: long[1:] + "…\n",
		},
		{
			name:       "a secret across the cut is masked, not cut",
			writes:     []string{long[3:] + "hun", "ter2 and more\n"},
			secrets:    []string{"hunter2"},
			wantStream: long[3:] + "***…\n",
		},
		{
			name:       "a secret that starts just before the cut is masked",
			writes:     []string{long[1:], "hunter2\n"},
			secrets:    []string{"hunter2"},
			wantStream: long[1:] + "*…\n",
		},
		{
			name:       "a secret past the cut is dropped with the rest",
			writes:     []string{long + "hunter2\nhunter2\n"},
			secrets:    []string{"hunter2"},
			wantStream: long + "…\n***\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stream recordingWriter
			o := NewOutput(&stream, tt.secrets)
			for _, w := range tt.writes {
				if n, err := o.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(w))
				}
			}
			o.Close()
			if got := stream.String(); got != tt.wantStream {
				t.Errorf("streamed %q,\nwant %q", abbrev(got), abbrev(tt.wantStream))
			}
			for _, w := range stream.writes {
				if !strings.HasSuffix(w, "\n") {
					t.Errorf("write %q is not whole lines", abbrev(w))
				}
			}
			if got := string(o.Tail()); got != tt.wantStream {
				t.Errorf("Tail = %q,\nwant %q", abbrev(got), abbrev(tt.wantStream))
			}
			for _, s := range tt.secrets {
				for _, part := range []string{s[:3], s[len(s)-3:]} {
					if strings.Contains(stream.String(), part) {
						t.Errorf("part %q of a secret shows in %q", part, abbrev(stream.String()))
					}
				}
			}
		})
	}
}

func TestOutputTailStartsAtALine(t *testing.T) {
	o := NewOutput(nil, nil)
	for i := range 50000 {
		fmt.Fprintf(o, "line %d\n", i)
	}
	o.Close()
	tail := o.Tail()
	if len(tail) > maxOutput || len(tail) < maxOutput-MaxLine {
		t.Errorf("Tail kept %d bytes, want at most %d and not much less", len(tail), maxOutput)
	}
	if !bytes.HasPrefix(tail, []byte("line ")) {
		t.Errorf("Tail starts in the middle of a line: %q", tail[:20])
	}
	if !bytes.HasSuffix(tail, []byte("\nline 49999\n")) {
		t.Errorf("Tail ends with %q, want the last line", tail[len(tail)-20:])
	}
}

func TestOutputStopsWritingAfterAnError(t *testing.T) {
	fw := &failingWriter{}
	o := NewOutput(fw, nil)
	for range 3 {
		if _, err := o.Write([]byte("a line\n")); err != nil {
			t.Fatalf("Write failed: %v", err)
		}
	}
	o.Close()
	if fw.writes != 1 {
		t.Errorf("writer called %d times after failing, want 1", fw.writes)
	}
	if got := string(o.Tail()); got != "a line\na line\na line\n" {
		t.Errorf("Tail = %q", got)
	}
}

// TestLocalOutputIsBounded runs a command that writes 50 MB of lines and
// then a 20 MB line without a newline: the lines arrive cut, the tail is
// 64 KiB at most, and what the runner allocates stays far below what the
// command wrote.
func TestLocalOutputIsBounded(t *testing.T) {
	requireShell(t)
	const mb = 1 << 20
	const lineCount = 1500000 // of 35 bytes: 50 MB
	cmd := fmt.Sprintf(`yes 'a line of output, password hunter2' | head -n %d
head -c %d /dev/zero | tr '\0' x
echo
echo last line`, lineCount, 20*mb)
	lines := &lineChecker{t: t}
	o := NewOutput(lines, []string{"hunter2"})

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := Exec(context.Background(), cmd, "", nil, nil, o)
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
	if want := strings.Repeat("x", MaxLine) + "…"; !lines.seen[want] {
		t.Errorf("the 20 MB line was not cut to %d bytes and a marker", MaxLine)
	}
	tail := o.Tail()
	if len(tail) > maxOutput {
		t.Errorf("Tail kept %d bytes, want at most %d", len(tail), maxOutput)
	}
	if !bytes.HasSuffix(tail, []byte("x…\nlast line\n")) {
		t.Errorf("Tail ends with %q", tail[max(0, len(tail)-40):])
	}
	// 70 MB went through; a bounded runner allocates a few hundred KiB
	// (pipe buffer, tail, batches) whatever the size.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8*mb {
		t.Errorf("allocated %d bytes for 70 MB of output, want less than 8 MiB", alloc)
	}
}

// lineChecker checks every write of an Output: whole lines, none longer
// than a cut line, no secret. It keeps the distinct lines it saw, up to a
// few.
type lineChecker struct {
	t      *testing.T
	bytes  int
	seen   map[string]bool
	secret bool
}

func (c *lineChecker) Write(p []byte) (int, error) {
	c.bytes += len(p)
	if len(p) == 0 || p[len(p)-1] != '\n' {
		c.t.Errorf("write of %d bytes is not whole lines", len(p))
	}
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	// Without conversions to string, which would allocate as much as
	// the output.
	for line := range bytes.SplitSeq(bytes.TrimSuffix(p, []byte("\n")), []byte("\n")) {
		if len(line) > MaxLine+len(cutMarker) {
			c.t.Errorf("a line of %d bytes was passed on", len(line))
		}
		if bytes.Contains(line, []byte("hunter2")) {
			c.secret = true
		}
		if len(c.seen) < 10 && !c.seen[string(line)] {
			c.seen[string(line)] = true
		}
	}
	return len(p), nil
}

// abbrev shortens long runs of x in test messages.
func abbrev(s string) string {
	return strings.ReplaceAll(s, strings.Repeat("x", 64), "x{64}")
}
