// Package proctest tells tests whether a process they started, or one a
// command under test started, still runs.
package proctest

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"
)

// Running reports whether process pid exists and has not exited. A zombie,
// which lingers until its parent reaps it (pid 1 in a container may never),
// counts as exited. Without /proc, kill(pid, 0) decides.
func Running(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(err, os.ErrNotExist) || !procMounted()
	}
	// pid (comm) state ...: comm may hold spaces and parentheses, so the
	// state follows the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || (stat[i+2] != 'Z' && stat[i+2] != 'X')
}

func procMounted() bool {
	_, err := os.Stat("/proc/self/stat")
	return err == nil
}
