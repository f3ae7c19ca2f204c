package sshrig

import "syscall"

// sysProcAttr puts sshd in its own process group, so signals meant for the
// caller's group (a ^C) do not reach it and Kill can address it as a whole,
// and has the kernel kill it when the process that started it dies without
// closing the rig (a test binary that panics on -timeout, for example).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
