package host

import "os/exec"

// Procs starts the processes a transport runs (ssh, rsync, cp), so that
// the daemon can find and stop them after a crash (release.ProcGroup).
type Procs interface {
	Start(cmd *exec.Cmd) error
}

// StartProc starts cmd with p; a nil p starts it as it is.
func StartProc(p Procs, cmd *exec.Cmd) error {
	if p == nil {
		return cmd.Start()
	}
	return p.Start(cmd)
}

// RunProc is cmd.Run with cmd started by p.
func RunProc(p Procs, cmd *exec.Cmd) error {
	if err := StartProc(p, cmd); err != nil {
		return err
	}
	return cmd.Wait()
}
