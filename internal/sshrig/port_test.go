package sshrig

import (
	"net"
	"strconv"
	"testing"
)

// FreePort hands out distinct ports below the kernel's ephemeral range,
// each free to listen on.
func TestFreePort(t *testing.T) {
	_, hi := portRange()
	seen := map[int]bool{}
	for range 50 {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if seen[port] || port >= hi {
			t.Fatalf("port %d: handed out before, or in the ephemeral range (from %d)", port, hi)
		}
		seen[port] = true
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatalf("port %d is not free: %v", port, err)
		}
		l.Close()
	}
}
