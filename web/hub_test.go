package web

import (
	"fmt"
	"io"
	"slices"
	"testing"
)

func TestHubStreamsLinesOfRunningDeploys(t *testing.T) {
	h := NewHub()
	w := h.Tap("shop", "production")
	io.WriteString(w, "shop → production: release v2\nexport    ok")
	running, ch, cancel := h.Subscribe()
	defer cancel()
	if len(running) != 1 || !slices.Equal(running[0].Lines, []string{"shop → production: release v2"}) {
		t.Fatalf("snapshot = %+v, want the running deploy with its complete line", running)
	}
	io.WriteString(w, " 1 file\r\nhealth web-2 FAILED\n")
	w.Close()
	var got []string
	for m := range ch {
		got = append(got, m.Type+" "+m.Line)
		if m.Type == "end" {
			break
		}
	}
	want := []string{"line export    ok 1 file", "line health web-2 FAILED", "end "}
	if !slices.Equal(got, want) {
		t.Fatalf("messages = %q, want %q", got, want)
	}
	last, ok := h.Last("shop", "production")
	if !ok || last.Running || len(last.Lines) != 3 {
		t.Fatalf("Last = %+v, want the ended deploy with 3 lines", last)
	}
	if running, _, c := h.Subscribe(); len(running) != 0 {
		t.Fatalf("after the end, running = %+v", running)
	} else {
		c()
	}
}

func TestHubBounds(t *testing.T) {
	tests := []struct {
		name        string
		lines       int
		wantKept    int
		wantDropped int
	}{
		{"within bounds", 10, 10, 0},
		{"exactly the bound", maxRunLines, maxRunLines, 0},
		{"over the bound", maxRunLines + 25, maxRunLines, 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHub()
			w := h.Tap("shop", "staging")
			for i := range tt.lines {
				fmt.Fprintf(w, "line %d\n", i)
			}
			w.Close()
			r, _ := h.Last("shop", "staging")
			if len(r.Lines) != tt.wantKept || r.Dropped != tt.wantDropped {
				t.Fatalf("kept %d dropped %d, want %d and %d", len(r.Lines), r.Dropped, tt.wantKept, tt.wantDropped)
			}
			if r.Lines[len(r.Lines)-1] != fmt.Sprintf("line %d", tt.lines-1) {
				t.Fatalf("last line = %q: the newest lines must stay", r.Lines[len(r.Lines)-1])
			}
		})
	}
	t.Run("long line cut", func(t *testing.T) {
		h := NewHub()
		w := h.Tap("shop", "staging")
		w.Write(make([]byte, 3*maxLineBytes))
		w.Close()
		r, _ := h.Last("shop", "staging")
		for _, l := range r.Lines {
			if len(l) > maxLineBytes+len("…") {
				t.Fatalf("a line of %d bytes was kept", len(l))
			}
		}
	})
}

// A browser that reads nothing must not hold up a deploy: it is dropped
// and its channel closed, so that it reconnects from a snapshot.
func TestHubDropsSlowSubscriber(t *testing.T) {
	h := NewHub()
	_, ch, cancel := h.Subscribe()
	defer cancel()
	w := h.Tap("shop", "production")
	for i := range subscriberBuf + 10 {
		fmt.Fprintf(w, "line %d\n", i)
	}
	w.Close()
	n := 0
	for range ch {
		n++
	}
	if n != subscriberBuf {
		t.Fatalf("the slow subscriber got %d messages before its channel closed, want %d", n, subscriberBuf)
	}
}
