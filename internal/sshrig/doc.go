// Package sshrig starts real OpenSSH sshd processes on loopback ports, each
// acting as one deploy host with its own directory, host key and log, so that
// end-to-end tests and benchmarks can ship releases to remote hosts with the
// real ssh and rsync clients. Every host logs in the current OS user with the
// rig's client key; hosts can be stopped, killed mid-transfer and restarted on
// the same port with the same host key. It runs as root (privilege-separated
// sshd) or as an ordinary user (unprivileged sshd).
package sshrig
