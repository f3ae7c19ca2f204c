//go:build unix

package bench

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// delayProxy forwards TCP connections to one sshd and delays every chunk
// by the same amount in each direction, as a network with that one-way
// latency would: a round trip costs twice the delay, and data in flight
// still flows (chunks are released in order at their own time, not one
// after another), so bandwidth is not what it limits.
type delayProxy struct {
	ln     net.Listener
	target string
	delay  time.Duration
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

func startProxy(target string, delay time.Duration) (*delayProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("latency proxy: %w", err)
	}
	p := &delayProxy{ln: ln, target: target, delay: delay, conns: map[net.Conn]bool{}}
	p.wg.Go(p.accept)
	return p, nil
}

func (p *delayProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// close stops accepting, cuts every open connection and waits for the
// proxy's goroutines.
func (p *delayProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *delayProxy) track(c net.Conn, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
}

func (p *delayProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Go(func() { p.handle(c) })
	}
}

func (p *delayProxy) handle(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	p.track(client, true)
	p.track(server, true)
	defer p.track(client, false)
	defer p.track(server, false)
	var wg sync.WaitGroup
	wg.Go(func() { p.pipe(server, client) })
	p.pipe(client, server)
	wg.Wait()
}

// pipe copies src to dst, each chunk written delay after it was read.
// When src ends it half-closes dst, so that each side sees the other's
// EOF as it would on a real connection.
func (p *delayProxy) pipe(dst, src net.Conn) {
	type chunk struct {
		due  time.Time
		data []byte
	}
	ch := make(chan chunk, 4096)
	go func() {
		defer close(ch)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				ch <- chunk{time.Now().Add(p.delay), buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range ch {
		time.Sleep(time.Until(c.due))
		if _, err := dst.Write(c.data); err != nil {
			src.Close()
			for range ch {
			}
			return
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// startProxies puts a delayProxy in front of every host and writes an
// ssh_config and known_hosts that reach the hosts through them; Slipway's
// configuration, the shell baseline and Capistrano all use the proxied
// ports.
func (f *fleet) startProxies(delay time.Duration) {
	b := f.b
	var cfg, kh strings.Builder
	for _, h := range f.rig.Hosts {
		p, err := startProxy(h.Addr(), delay)
		must(b, err)
		b.Cleanup(p.close)
		port := p.port()
		f.ports[h.Name] = port
		key, ok := strings.CutPrefix(h.HostKeyLine, fmt.Sprintf("[127.0.0.1]:%d ", h.Port))
		if !ok {
			b.Fatalf("%s: unexpected known_hosts line %q", h.Name, h.HostKeyLine)
		}
		fmt.Fprintf(&kh, "[127.0.0.1]:%d %s\n", port, key)
		fmt.Fprintf(&cfg, "Host %s\n  HostName 127.0.0.1\n  Port %d\n  User %s\n  IdentityFile %q\n  IdentitiesOnly yes\n", h.Name, port, h.User, f.rig.ClientKey)
		fmt.Fprintf(&cfg, "  UserKnownHostsFile %q\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  BatchMode yes\n  ConnectTimeout 10\n  LogLevel ERROR\n\n", filepath.Join(f.dir, "proxy_known_hosts"))
	}
	f.knownHosts = filepath.Join(f.dir, "proxy_known_hosts")
	f.sshConfig = filepath.Join(f.dir, "proxy_ssh_config")
	must(b, os.WriteFile(f.knownHosts, []byte(kh.String()), 0o600))
	must(b, os.WriteFile(f.sshConfig, []byte(cfg.String()), 0o600))
}
