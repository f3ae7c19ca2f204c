package release

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/slipwayhq/slipway/internal/durable"
)

// ProcGroup is the process group that every ssh and rsync a daemon
// starts joins, and its record in DATA/run/children.json.
//
// A daemon killed with SIGKILL leaves its children running: an rsync
// still filling releases/.vN.partial, an ssh whose `mv -T` is about to
// switch current. A restarted daemon must not recover the hosts while
// they run, or they change a host behind recovery's back. So children
// join the group at fork, before exec (SysProcAttr.Pgid: there is no
// moment when one runs outside it, unlike a pid written down after
// Start), and StopLeftovers stops the recorded groups before recovery.
// A process group can only be joined while it has a member: a small
// anchor process (cat reading a pipe only the daemon holds) leads it and
// exits with the daemon. ssh's ControlMaster leaves the group (it calls
// setsid); it only carries sessions, and a session's ssh is a member.
type ProcGroup struct {
	file string
	log  zerolog.Logger

	mu      sync.Mutex
	groups  []procGroupRecord // every group of this run; the last is current
	w       *os.File          // the anchor's stdin; closing it ends the anchor
	closing bool
}

type procGroupRecord struct {
	PGID int `json:"pgid"`
	// Start is the anchor's start time (Linux, /proc/PID/stat), so that a
	// later process that got the same id is never taken for it.
	Start string `json:"start,omitempty"`
}

type procRecords struct {
	Groups []procGroupRecord `json:"groups"`
}

func childrenFile(dataDir string) string { return filepath.Join(dataDir, "run", "children.json") }

// StartProcGroup starts the anchor of a new group and records it. Call it
// after StopLeftovers, while holding the data directory.
func StartProcGroup(dataDir string, log zerolog.Logger) (*ProcGroup, error) {
	g := &ProcGroup{file: childrenFile(dataDir), log: log}
	if err := g.newAnchor(); err != nil {
		return nil, err
	}
	return g, nil
}

// newAnchor starts an anchor leading a new group, records the group and
// restarts the anchor if it dies before Close. Called with mu held, or
// before g is shared.
func (g *ProcGroup) newAnchor() error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("start process group: %w", err)
	}
	cmd := exec.Command("cat")
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	r.Close()
	if err != nil {
		w.Close()
		return fmt.Errorf("start process group: %w", err)
	}
	pgid := cmd.Process.Pid
	g.groups = append(g.groups, procGroupRecord{PGID: pgid, Start: procStart(pgid)})
	if err := g.save(); err != nil {
		w.Close()
		cmd.Process.Kill()
		cmd.Wait()
		return err
	}
	g.w = w
	go func() {
		err := cmd.Wait()
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.closing || g.w != w {
			return
		}
		w.Close()
		g.log.Warn().Int("pgid", pgid).AnErr("anchor", err).Msg("the process group's anchor ended; starting a new group")
		if err := g.newAnchor(); err != nil {
			g.log.Error().Err(err).Msg("cannot start a new process group; ssh and rsync will fail to start")
		}
	}()
	return nil
}

func (g *ProcGroup) save() error {
	data, err := json.MarshalIndent(procRecords{Groups: g.groups}, "", "  ")
	if err == nil {
		err = durable.WriteFile(g.file, data, 0o600)
	}
	if err != nil {
		return fmt.Errorf("record the process group: %w", err)
	}
	return nil
}

// Start starts cmd in the group; a nil g starts it as it is.
func (g *ProcGroup) Start(cmd *exec.Cmd) error {
	if g == nil {
		return cmd.Start()
	}
	g.mu.Lock()
	pgid := g.groups[len(g.groups)-1].PGID
	g.mu.Unlock()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: pgid}
	return cmd.Start()
}

// Close ends the anchor. The record is removed once no member is left;
// otherwise the next start stops what is still running.
func (g *ProcGroup) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closing = true
	if g.w != nil {
		g.w.Close()
	}
	for _, r := range g.groups {
		if groupAlive(r.PGID, r.PGID) {
			return nil
		}
	}
	return durable.Remove(g.file)
}

// Timeouts for stopping what a dead daemon left running.
const (
	leftoverTermWait = 10 * time.Second // after SIGTERM, before SIGKILL
	leftoverKillWait = 30 * time.Second // after SIGKILL, before giving up
)

// StopLeftovers stops the processes an earlier daemon on dataDir left
// running (see ProcGroup) and waits until they are gone: SIGTERM, then
// SIGKILL. It reports how many groups it stopped. Call it while holding
// the data directory, before Engine.Recover; an error means processes
// may still change the hosts, and recovery must not run.
func StopLeftovers(ctx context.Context, dataDir string) (stopped int, err error) {
	file := childrenFile(dataDir)
	var recs procRecords
	found, err := readJSON(file, KindChildren, &recs)
	if err != nil || !found {
		return 0, err
	}
	var alive []int
	for _, r := range recs.Groups {
		if r.PGID <= 1 {
			continue
		}
		// An anchor that still runs but started at another time is an
		// unrelated process that got the id after the group was gone.
		if start := procStart(r.PGID); start != "" && r.Start != "" && start != r.Start {
			continue
		}
		if groupAlive(r.PGID, 0) {
			alive = append(alive, r.PGID)
		}
	}
	stopped = len(alive)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		for _, pgid := range alive {
			syscall.Kill(-pgid, sig)
		}
		wait := leftoverTermWait
		if sig == syscall.SIGKILL {
			wait = leftoverKillWait
		}
		alive = waitGroupsGone(ctx, alive, wait)
		if len(alive) == 0 {
			break
		}
	}
	if len(alive) > 0 {
		return 0, fmt.Errorf("processes of an earlier slipway serve are still running (process groups %s) after SIGKILL; stop them, then start again", joinInts(alive))
	}
	return stopped, durable.Remove(file)
}

// waitGroupsGone polls, for at most d, until none of groups has a live
// member, and returns those that still have one.
func waitGroupsGone(ctx context.Context, groups []int, d time.Duration) []int {
	giveUp := time.Now().Add(d)
	for {
		groups = slices.DeleteFunc(groups, func(pgid int) bool { return !groupAlive(pgid, 0) })
		if len(groups) == 0 || time.Now().After(giveUp) || ctx.Err() != nil {
			return groups
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// groupAlive reports whether process group pgid has a member other than
// except that has not exited. Zombies do not count: an orphan's zombie
// lingers where pid 1 does not reap. Without /proc, kill(-pgid, 0) says.
func groupAlive(pgid, except int) bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return syscall.Kill(-pgid, 0) == nil
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == except {
			continue
		}
		st, ok := procStat(pid)
		if ok && len(st) > 2 && st[2] == strconv.Itoa(pgid) && st[0] != "Z" && st[0] != "X" {
			return true
		}
	}
	return false
}

// procStat returns the fields of /proc/PID/stat after the command name:
// state, ppid, pgrp, ... (field 3 onwards).
func procStat(pid int) ([]string, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, false
	}
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return nil, false
	}
	return strings.Fields(string(data[i+1:])), true
}

// procStart is the start time of process pid (field 22 of /proc/PID/stat),
// "" where it cannot be told.
func procStart(pid int) string {
	st, ok := procStat(pid)
	if !ok || len(st) < 20 {
		return ""
	}
	return st[19]
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}
