//go:build unix && !linux

package e2e

import "syscall"

// processAttr puts each program a script starts in a process group of its
// own, so the end of the script can stop what it started in turn.
func processAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
