package gitserver

import (
	"net"
	"sync"
	"time"
)

// handshakeTimeout is how long a connection may take to authenticate.
const handshakeTimeout = 30 * time.Second

// limitListener refuses connections beyond max at once, so a flood cannot
// exhaust the daemon: the extra connection is told why and closed.
type limitListener struct {
	net.Listener
	slots chan struct{}
}

func newLimitListener(ln net.Listener, max int) *limitListener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, max)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &slotConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
			// Lines before the SSH version string are shown by clients
			// that print them, and ignored by the rest.
			c.SetWriteDeadline(time.Now().Add(time.Second))
			c.Write([]byte("slipway: too many connections; try again shortly\r\n"))
			c.Close()
		}
	}
}

type slotConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *slotConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// handshakeConn caps every deadline at the handshake deadline until the
// client has authenticated, so a client that never finishes the handshake
// is dropped after handshakeTimeout, not after the idle timeout.
type handshakeConn struct {
	net.Conn
	mu       sync.Mutex
	deadline time.Time // zero once authenticated
}

func newHandshakeConn(c net.Conn) *handshakeConn {
	hc := &handshakeConn{Conn: c, deadline: time.Now().Add(handshakeTimeout)}
	c.SetDeadline(hc.deadline)
	return hc
}

func (c *handshakeConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	if !c.deadline.IsZero() && (t.IsZero() || t.After(c.deadline)) {
		t = c.deadline
	}
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

// authenticated lifts the handshake deadline.
func (c *handshakeConn) authenticated() {
	c.mu.Lock()
	c.deadline = time.Time{}
	c.mu.Unlock()
	c.Conn.SetDeadline(time.Time{})
}

// gate counts running sessions so that a graceful stop can wait for them.
// Once closed it lets in only what belongs to a session still running.
type gate struct {
	mu     sync.Mutex
	n      int
	closed bool
	idle   chan struct{} // closed when n drops to 0 after close
}

// enter counts one more session, unless the gate is closed. inSession is
// for work done on behalf of a running session (a push's hook): it gets
// in while any session runs.
func (g *gate) enter(inSession bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed && !(inSession && g.n > 0) {
		return false
	}
	g.n++
	return true
}

func (g *gate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n--
	if g.closed && g.n == 0 && g.idle != nil {
		close(g.idle)
		g.idle = nil
	}
}

// close refuses new sessions; the channel is closed once none runs.
func (g *gate) close() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	ch := make(chan struct{})
	if g.n == 0 {
		close(ch)
	} else {
		g.idle = ch
	}
	return ch
}
