// Package gitserver is Slipway's front door: the SSH server, who a
// connection belongs to (the key that signed, never the SSH user name),
// repository naming and creation, and the dispatch of git services and
// commands. It runs the system git for the wire protocol and receives the
// proc-receive hook's requests on a unix socket.
//
// It decides which pushed ref deploys, which is stored and which is
// refused; the deploy itself belongs to package release.
package gitserver
