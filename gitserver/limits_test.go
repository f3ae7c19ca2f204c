package gitserver

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// deadlineConn records the deadlines set on it.
type deadlineConn struct {
	net.Conn
	last time.Time
}

func (c *deadlineConn) SetDeadline(t time.Time) error { c.last = t; return nil }

func TestHandshakeConnCapsDeadlinesUntilAuthenticated(t *testing.T) {
	inner := &deadlineConn{}
	hc := newHandshakeConn(inner)
	limit := hc.deadline
	if inner.last != limit {
		t.Fatalf("new connection deadline %v, want the handshake deadline %v", inner.last, limit)
	}
	hc.SetDeadline(time.Now().Add(time.Hour))
	if !inner.last.Equal(limit) {
		t.Errorf("before authentication an idle deadline an hour away became %v, want %v", inner.last, limit)
	}
	hc.SetDeadline(time.Time{})
	if !inner.last.Equal(limit) {
		t.Errorf("before authentication no deadline became %v, want %v", inner.last, limit)
	}
	hc.authenticated()
	far := time.Now().Add(time.Hour)
	hc.SetDeadline(far)
	if !inner.last.Equal(far) {
		t.Errorf("after authentication deadline %v, want %v", inner.last, far)
	}
}

func TestLimitListenerRefusesBeyondMax(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ll := newLimitListener(ln, 1)
	defer ll.Close()
	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := ll.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	first, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	held := <-accepted

	second, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	second.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, _ := bufio.NewReader(second).ReadString('\n')
	if !strings.Contains(line, "too many connections") {
		t.Errorf("second connection read %q, want a refusal", line)
	}
	second.Close()

	// Closing the first frees its slot.
	held.Close()
	third, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("a connection was refused after the slot was freed")
	}
}

func TestGate(t *testing.T) {
	var g gate
	if !g.enter(false) {
		t.Fatal("an open gate refused a session")
	}
	idle := g.close()
	select {
	case <-idle:
		t.Fatal("idle while a session runs")
	default:
	}
	if g.enter(false) {
		t.Fatal("a closed gate let a new session in")
	}
	if !g.enter(true) {
		t.Fatal("a closed gate refused a hook while its session runs")
	}
	g.leave()
	g.leave()
	select {
	case <-idle:
	default:
		t.Fatal("not idle once every session has left")
	}
	if g.enter(true) {
		t.Fatal("a closed, idle gate let a hook in")
	}

	var empty gate
	select {
	case <-empty.close():
	default:
		t.Fatal("a gate with no session is not idle at once")
	}
}
