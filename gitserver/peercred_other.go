//go:build !linux

package gitserver

import (
	"errors"
	"net"
)

// peerUID is only implemented on Linux (SO_PEERCRED); elsewhere external
// hooks are refused.
func peerUID(net.Conn) (int, error) {
	return 0, errors.New("telling who connected to a unix socket needs Linux (SO_PEERCRED)")
}
