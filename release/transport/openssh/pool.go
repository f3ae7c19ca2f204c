package openssh

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slipwayhq/slipway/config"
	"github.com/slipwayhq/slipway/release/host"
)

// Pool keeps the ssh connections (ControlMaster) of recently deployed
// hosts open between deploys, so that a rollback or the first step of the
// next deploy pays no handshake.
//
// ssh does most of the work: with ControlMaster=auto a session reuses the
// master if it answers and opens a new one if it died (the stale socket
// is removed); ControlPersist ends a master idle for Idle; the master's
// ServerAliveInterval probes find a dead link within 15 s and end it. The
// pool bounds how many masters stay open (least recently used beyond Max
// are stopped) and stops those whose host a reload removed or whose
// pinned key in known_hosts changed, so that a trust decision applies to
// the next session rather than to a connection made before it.
//
// Stopping (ssh -O stop) lets the sessions of a running deploy finish;
// the master ends after them.
type Pool struct {
	Max  int           // masters kept open, at least as many as Retain found hosts; default 512
	Idle time.Duration // how long an unused master stays; default 10m

	mu         sync.Mutex
	entries    []*warm // least recently used first
	configured int     // remote hosts the configuration in force names (Retain)
}

type warm struct {
	key   string // user@host:port, what ControlPath's %C names
	s     *Host  // the last host made for key: its options reach the master
	known string // the host's lines in known_hosts when last used
}

// NewPool returns a pool of at most max masters, each kept idle for idle.
func NewPool(max int, idle time.Duration) *Pool { return &Pool{Max: max, Idle: idle} }

// max is the bound: Max, but never fewer than the hosts the configuration
// names, since a deploy that uses more hosts than the pool keeps finds
// none of them warm.
func (p *Pool) max() int {
	m := p.Max
	if m < 1 {
		m = 512
	}
	return max(m, p.configured)
}

func (p *Pool) idle() time.Duration {
	if p.Idle <= 0 {
		return 10 * time.Minute
	}
	return p.Idle
}

// use records that s is about to be used. A master whose host key in
// known_hosts changed since it was opened, or that the pool does not know
// of, is stopped first, and the least recently used beyond Max are
// stopped.
func (p *Pool) use(s *Host) {
	key := s.key()
	known := knownLines(s.opt.KnownHosts, s.knownName())
	var stop []*Host
	p.mu.Lock()
	i := slices.IndexFunc(p.entries, func(w *warm) bool { return w.key == key })
	if i >= 0 {
		if p.entries[i].known != known {
			stop = append(stop, p.entries[i].s)
		}
		p.entries = slices.Delete(p.entries, i, i+1)
	} else {
		// A master the pool does not know of (an earlier daemon left it,
		// or a deploy opened it after its host was dropped beyond Max)
		// was checked against keys the pool cannot compare: stop it.
		stop = append(stop, s)
	}
	p.entries = append(p.entries, &warm{key: key, s: s, known: known})
	for len(p.entries) > p.max() {
		stop = append(stop, p.entries[0].s)
		p.entries = p.entries[1:]
	}
	p.mu.Unlock()
	for _, old := range stop {
		old.control("stop")
	}
}

// Retain stops the masters of hosts that no environment of cfg deploys to
// any more (a reload removed them or gave them another address or user).
func (p *Pool) Retain(cfg *config.Config) {
	keep := map[string]bool{}
	for _, a := range cfg.Apps {
		for _, e := range a.Environments {
			for _, name := range e.Hosts {
				if h := cfg.Host(name); !h.IsLocal() {
					keep[New(h, "", Options{}).key()] = true
				}
			}
		}
	}
	var stop []*Host
	p.mu.Lock()
	p.configured = len(keep)
	p.entries = slices.DeleteFunc(p.entries, func(w *warm) bool {
		if keep[w.key] {
			return false
		}
		stop = append(stop, w.s)
		return true
	})
	p.mu.Unlock()
	for _, s := range stop {
		s.control("stop")
	}
}

// Len returns how many masters the pool keeps.
func (p *Pool) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.entries)
}

// Close ends every master; call it when no deploy runs any more.
func (p *Pool) Close() {
	p.mu.Lock()
	entries := p.entries
	p.entries = nil
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, w := range entries {
		wg.Go(func() { w.s.control("exit") })
	}
	wg.Wait()
}

// key names the connection the way ControlPath's %C does: one master per
// user, host and port, shared by every environment deploying there.
func (s *Host) key() string { return s.user + "@" + s.host + ":" + s.port }

// knownName is the host as known_hosts names it.
func (s *Host) knownName() string {
	if s.port != "" && s.port != "22" {
		return "[" + s.host + "]:" + s.port
	}
	return s.host
}

// control sends a control command (stop, exit) to the host's master, if
// one runs; none running is fine.
func (s *Host) control(op string) {
	if s.opt.ControlDir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", append(s.sshArgs(), "-O", op, s.host)...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	host.RunProc(s.opt.Procs, cmd)
}

// knownLines returns the lines of the known_hosts file that name host, in
// order ("" when there are none or no file).
func knownLines(file, host string) string {
	if file == "" {
		return ""
	}
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	var b strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		names := fields[0]
		if fields[0] == "@cert-authority" || fields[0] == "@revoked" {
			names = fields[1]
		}
		if slices.Contains(strings.Split(names, ","), host) {
			b.WriteString(sc.Text())
			b.WriteByte('\n')
		}
	}
	return b.String()
}
