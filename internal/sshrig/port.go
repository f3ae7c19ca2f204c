package sshrig

import (
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// FreePort returns a loopback TCP port that was free a moment ago, for a
// server a test starts next. A port the kernel hands out for ":0" or for
// an outgoing connection can be taken by anyone between that moment and
// the server's listen, and with many sshd hosts, ssh clients and servers
// started side by side that happens. So the port comes from below the
// kernel's ephemeral range, where neither kind of port is ever handed
// out, chosen at random and never twice in one process.
func FreePort() (int, error) {
	lo, hi := portRange()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		port := lo + rand.IntN(hi-lo)
		if handedOut[port] {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		l.Close()
		handedOut[port] = true
		return port, nil
	}
	return 0, errors.New("sshrig: no free loopback port below the ephemeral range")
}

var (
	portsMu   sync.Mutex
	handedOut = map[int]bool{}
)

// portRange is where FreePort chooses: from 10000 up to the start of the
// kernel's ephemeral range (net.ipv4.ip_local_port_range), or to 32768
// where that cannot be read.
func portRange() (lo, hi int) {
	lo, hi = 10000, 32768
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	f := strings.Fields(string(data))
	if len(f) == 2 {
		if start, err := strconv.Atoi(f[0]); err == nil && start > lo+1000 {
			hi = start
		}
	}
	return lo, hi
}
