//go:build unix

package sshrig

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// killTree SIGKILLs pid, its process group and all its descendants.
//
// Descendants are found through /proc (Linux). To keep the tree from growing
// while it is walked, every process found is sent SIGSTOP first, and the walk
// repeats until it finds nothing new and every process found has stopped or
// exited; then all of them get SIGKILL (which also ends stopped processes).
// Without /proc only the process group is killed.
func killTree(pid int) {
	stopped := map[int]bool{pid: true}
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	for range 200 {
		procs, ok := readProcs()
		if !ok {
			break
		}
		fresh := false
		for _, p := range descendants(procs, pid) {
			if !stopped[p] {
				_ = syscall.Kill(p, syscall.SIGSTOP)
				stopped[p] = true
				fresh = true
			}
		}
		if !fresh && allHalted(procs, stopped) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	for p := range stopped {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

// proc is what killTree needs of /proc/PID/stat.
type proc struct {
	ppid  int
	state byte // R, S, D, T (stopped), t, Z (zombie), X ...
}

// readProcs reads every process's parent and state from /proc.
func readProcs() (map[int]proc, bool) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, false
	}
	procs := make(map[int]proc, len(entries))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readStat(pid); ok {
			procs[pid] = p
		}
	}
	return procs, len(procs) > 0
}

// readStat parses "PID (COMM) STATE PPID ..."; COMM may hold spaces and
// parentheses, so the fields are taken after the last ')'.
func readStat(pid int) (proc, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return proc{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return proc{}, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 2 || len(f[0]) == 0 {
		return proc{}, false
	}
	ppid, err := strconv.Atoi(string(f[1]))
	if err != nil {
		return proc{}, false
	}
	return proc{ppid: ppid, state: f[0][0]}, true
}

// descendants lists every process below root.
func descendants(procs map[int]proc, root int) []int {
	children := map[int][]int{}
	for pid, p := range procs {
		children[p.ppid] = append(children[p.ppid], pid)
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range children[pid] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// allHalted reports whether every process in set has stopped or is gone.
func allHalted(procs map[int]proc, set map[int]bool) bool {
	for pid := range set {
		p, ok := procs[pid]
		if !ok {
			continue
		}
		switch p.state {
		case 'T', 't', 'Z', 'X', 'x':
		default:
			return false
		}
	}
	return true
}
