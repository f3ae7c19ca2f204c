// Package audit keeps Slipway's audit log: one JSON line per event (pushes,
// deploys, failures, rollbacks, refusals) with who did it and with which
// key. It only appends and reads; it decides nothing.
package audit

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Event names what happened. The audit log is read by people and by
// scripts (`ssh … log --json`), so the names are fixed.
type Event string

// The events of the audit log.
const (
	EventPush       Event = "push"        // a ref update arrived
	EventRefused    Event = "refused"     // a push or command was refused
	EventDeploy     Event = "deploy"      // a deploy started
	EventDeployed   Event = "deployed"    // it went live
	EventFailed     Event = "failed"      // it failed and was rolled back
	EventRollback   Event = "rollback"    // a rollback started
	EventRolledBack Event = "rolled-back" // a rollback made the release live again
	EventStaged     Event = "staged"      // a release waits for approval
	EventApproved   Event = "approved"    // an approver made it live
	EventRejected   Event = "rejected"    // an approver, or expiry, dropped it
	EventSecrets    Event = "secrets"     // secrets were set or unset
	EventCommand    Event = "command"     // an ssh command that changes something ran
	EventUnchanged  Event = "unchanged"   // a push changed nothing under an environment's subdir
	EventCache      Event = "cache"       // a build cache was cleared
	EventLocked     Event = "locked"      // an environment was locked against deploys
	EventUnlocked   Event = "unlocked"    // and unlocked
	EventForced     Event = "forced"      // an admin deployed into a locked environment
	// EventBookkeeping is work after a deploy's verdict that failed (its
	// after_deploy, a history note, the host state file); the deploy stands.
	EventBookkeeping Event = "bookkeeping"
)

// Record is one event.
type Record struct {
	Time    time.Time `json:"time"`
	Event   Event     `json:"event"`
	User    string    `json:"user,omitempty"`
	Key     string    `json:"key,omitempty"` // SHA256 fingerprint of the signing key
	App     string    `json:"app,omitempty"`
	Env     string    `json:"env,omitempty"`
	Release string    `json:"release,omitempty"`
	Ref     string    `json:"ref,omitempty"`
	Detail  string    `json:"detail,omitempty"`
}

// Log is an append-only file of Records. It is safe for concurrent use.
type Log struct {
	path string
	mu   sync.Mutex
}

// Open returns the log at path; the file is created on the first Append.
func Open(path string) *Log { return &Log{path: path} }

// Append writes r, stamping it with the current time if it has none.
// Writes are a single write(2) of one line, so a crash never leaves half
// a record in the middle of the file.
func (l *Log) Append(r Record) error {
	if l == nil {
		return nil
	}
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(l.path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open audit log: %w", err)
	}
	_, err = f.Write(append(line, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write audit log: %w", err)
	}
	return nil
}

// Read returns the newest n records (all if n <= 0) for which keep
// returns true, newest first. Lines that do not parse are skipped.
func (l *Log) Read(n int, keep func(Record) bool) ([]Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.Open(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var all []Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		var r Record
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		if keep == nil || keep(r) {
			all = append(all, r)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
		all[i], all[j] = all[j], all[i]
	}
	if n > 0 && len(all) > n {
		all = all[:n]
	}
	return all, nil
}
