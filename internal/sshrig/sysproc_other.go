//go:build unix && !linux

package sshrig

import "syscall"

// sysProcAttr puts sshd in its own process group, so signals meant for the
// caller's group (a ^C) do not reach it and Kill can address it as a whole.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
