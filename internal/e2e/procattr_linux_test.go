package e2e

import "syscall"

// processAttr puts each program a script starts in a process group of its
// own, so the end of the script can stop what it started in turn, and kills
// it if the test binary dies first (interrupted, or past its deadline),
// which would otherwise leave a daemon holding a port.
func processAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
