package web

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"time"
)

// Bounds on what the hub keeps in memory.
const (
	maxRunLines   = 2000 // lines kept per deploy; older ones are dropped
	maxLineBytes  = 4096 // a longer line is cut
	subscriberBuf = 512  // messages a slow browser may fall behind before it is dropped
)

// Hub keeps the output of the latest deploy of each environment, as the
// pusher saw it, and passes each line on to subscribers. A deploy's
// writer comes from Tap; Engine.Tap is set to it.
type Hub struct {
	mu   sync.Mutex
	runs map[string]*run // "app/env" → latest deploy
	subs map[chan Message]struct{}
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{runs: map[string]*run{}, subs: map[chan Message]struct{}{}}
}

type run struct {
	app, env string
	lines    []string
	dropped  int
	running  bool
	started  time.Time
	ended    time.Time
}

// Run is a copy of a deploy's output.
type Run struct {
	App, Env string
	Lines    []string
	Dropped  int // lines dropped from the start to keep within bounds
	Running  bool
	Started  time.Time
	Ended    time.Time
}

// Message is what subscribers receive: "start" (with the lines so far),
// "line" or "end".
type Message struct {
	Type  string   `json:"type"`
	App   string   `json:"app"`
	Env   string   `json:"env"`
	Line  string   `json:"line,omitempty"`
	Lines []string `json:"lines,omitempty"`
}

// Tap starts a new run for app/env and returns the writer its lines go
// to. It never blocks on a subscriber.
func (h *Hub) Tap(app, env string) io.WriteCloser {
	r := &run{app: app, env: env, running: true, started: time.Now()}
	h.mu.Lock()
	h.runs[app+"/"+env] = r
	h.broadcast(Message{Type: "start", App: app, Env: env})
	h.mu.Unlock()
	return &tapWriter{h: h, r: r}
}

// Last returns the latest run of app/env.
func (h *Hub) Last(app, env string) (Run, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.runs[app+"/"+env]
	if !ok {
		return Run{}, false
	}
	return r.copy(), true
}

// Failed reports whether a line of the run says that something failed,
// as the engine writes it ("FAILED").
func (r Run) Failed() bool {
	for _, l := range r.Lines {
		if strings.Contains(l, "FAILED") {
			return true
		}
	}
	return false
}

func (r *run) copy() Run {
	return Run{App: r.app, Env: r.env, Lines: append([]string(nil), r.lines...), Dropped: r.dropped,
		Running: r.running, Started: r.started, Ended: r.ended}
}

// Subscribe returns the deploys running now, with their lines so far, and
// a channel of what happens next. The channel is closed when cancel is
// called or when the subscriber falls too far behind; it then
// subscribes again to catch up.
func (h *Hub) Subscribe() (running []Run, ch <-chan Message, cancel func()) {
	c := make(chan Message, subscriberBuf)
	h.mu.Lock()
	for _, r := range h.runs {
		if r.running {
			running = append(running, r.copy())
		}
	}
	h.subs[c] = struct{}{}
	h.mu.Unlock()
	return running, c, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[c]; ok {
			delete(h.subs, c)
			close(c)
		}
	}
}

// broadcast must be called with h.mu held.
func (h *Hub) broadcast(m Message) {
	for c := range h.subs {
		select {
		case c <- m:
		default: // too slow: it reconnects and starts from a snapshot
			delete(h.subs, c)
			close(c)
		}
	}
}

func (h *Hub) addLine(r *run, line string) {
	line = strings.TrimRight(line, "\r")
	if len(line) > maxLineBytes {
		line = strings.ToValidUTF8(line[:maxLineBytes], "") + "…"
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r.lines = append(r.lines, line)
	if n := len(r.lines) - maxRunLines; n > 0 {
		r.lines = append(r.lines[:0:0], r.lines[n:]...)
		r.dropped += n
	}
	if h.runs[r.app+"/"+r.env] == r {
		h.broadcast(Message{Type: "line", App: r.app, Env: r.env, Line: line})
	}
}

func (h *Hub) end(r *run) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r.running, r.ended = false, time.Now()
	if h.runs[r.app+"/"+r.env] == r {
		h.broadcast(Message{Type: "end", App: r.app, Env: r.env})
	}
}

// tapWriter splits what a deploy writes into lines.
type tapWriter struct {
	h   *Hub
	r   *run
	mu  sync.Mutex
	buf []byte
}

func (w *tapWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.h.addLine(w.r, string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > maxLineBytes {
		w.h.addLine(w.r, string(w.buf))
		w.buf = nil
	}
	return len(p), nil
}

// Close ends the run, passing on a last line without a newline.
func (w *tapWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.h.addLine(w.r, string(w.buf))
		w.buf = nil
	}
	w.h.end(w.r)
	return nil
}
