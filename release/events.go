package release

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/slipwayhq/slipway/internal/textclean"
	"github.com/slipwayhq/slipway/release/host"
)

// maxSubjectRunes bounds a commit subject kept in a release's history.
const maxSubjectRunes = 200

// Outcomes a release can have in an environment, as recorded in notes.
const (
	OutcomeLive        = "live"        // it became the live release
	OutcomeFailed      = "failed"      // it never went live
	OutcomeRolledBack  = "rolled-back" // it was live, or half live, and was replaced by an older one
	OutcomeInterrupted = "interrupted" // a daemon restart cut its deploy short; hosts went back
	OutcomePending     = "pending"     // staged on every host, waiting for approval
)

// EventApproved marks the moment an approver let a staged release go on
// (`<release> <env> approved <time> by <approver>: pushed by <pusher>`).
// It is not an outcome: the line before it (pending) or after it (live,
// failed) says how the release ended. It is what lets a release that was
// approved but failed be rolled back to with force in an environment
// with approval = true.
const EventApproved = "approved"

// Event is one line of a release's history, stored in NotesRef on the
// released commit as:
//
//	<release> <env> <outcome> <RFC 3339 time, UTC, to the nanosecond> by <user>: <detail>
//
// The format is stable: clones read it with `git log --notes=slipway`.
type Event struct {
	Release string
	Env     string
	Outcome string
	Time    time.Time
	User    string
	Detail  string
}

func (e Event) String() string {
	return fmt.Sprintf("%s %s %s %s by %s: %s", e.Release, e.Env, e.Outcome,
		e.Time.UTC().Format(time.RFC3339Nano), e.User, strings.ReplaceAll(e.Detail, "\n", " "))
}

// ParseEvent reads a line written by Event.String.
func ParseEvent(line string) (Event, bool) {
	head, detail, ok := strings.Cut(line, ": ")
	if !ok {
		return Event{}, false
	}
	f := strings.Fields(head)
	if len(f) != 6 || f[4] != "by" {
		return Event{}, false
	}
	if _, ok := host.ParseRelease(f[0]); !ok {
		return Event{}, false
	}
	t, err := time.Parse(time.RFC3339, f[3])
	if err != nil {
		return Event{}, false
	}
	return Event{Release: f[0], Env: f[1], Outcome: f[2], Time: t, User: f[5], Detail: detail}, true
}

// recordEvent appends ev to the note of commit.
func recordEvent(ctx context.Context, repo, commit string, ev Event) error {
	return AppendNote(ctx, repo, commit, ev.String())
}

// Release is a release as the history tells it.
type Release struct {
	Name     string    `json:"release"`
	Number   int       `json:"number"`
	Env      string    `json:"env"`
	Commit   string    `json:"commit"`
	Subject  string    `json:"subject"` // first line of the commit message, cleaned
	User     string    `json:"user"`
	Time     time.Time `json:"time"`
	Outcome  string    `json:"outcome"`            // live, superseded, failed, rolled-back, interrupted, pending
	Reason   string    `json:"reason,omitempty"`   // for failed and rolled-back
	LiveAt   time.Time `json:"live_at,omitzero"`   // when it last went live
	Duration string    `json:"duration,omitempty"` // of its deploy, when known
	// Artifact is "sha256:HEX" of the archive a release was shipped from
	// (ssh … artifact), "" for a release exported from git.
	Artifact string `json:"artifact,omitempty"`
	// ApprovedBy is the approver who last let it go on, "" if none did.
	ApprovedBy string  `json:"-"`
	Events     []Event `json:"-"`
}

// WentLive reports whether the release was ever live.
func (r *Release) WentLive() bool { return !r.LiveAt.IsZero() }

// History reads every release of repo, newest first, with its outcome.
// The live release of each environment is the one that went live last.
func History(ctx context.Context, repo string) ([]*Release, error) {
	r, err := git.PlainOpen(repo)
	if err != nil {
		return nil, fmt.Errorf("open repository: %w", err)
	}
	notes, err := readNotes(ctx, repo)
	if err != nil {
		return nil, err
	}
	iter, err := r.Tags()
	if err != nil {
		return nil, err
	}
	var rels []*Release
	err = iter.ForEach(func(ref *plumbing.Reference) error {
		n, ok := host.ParseRelease(ref.Name().Short())
		if !ok {
			return nil
		}
		to, err := r.TagObject(ref.Hash())
		if err != nil {
			return nil // not a Slipway release tag
		}
		rel := &Release{Name: ref.Name().Short(), Number: n, Commit: to.Target.String(), User: to.Tagger.Name, Time: to.Tagger.When, Outcome: "pending"}
		for _, line := range strings.Split(to.Message, "\n") {
			if v, ok := strings.CutPrefix(line, "Environment: "); ok {
				rel.Env = v
			}
			if v, ok := strings.CutPrefix(line, "Artifact: "); ok {
				rel.Artifact = parseArtifactLine(v)
			}
		}
		if c, err := r.CommitObject(to.Target); err == nil {
			subject, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
			rel.Subject = textclean.Line(subject, maxSubjectRunes)
		}
		rels = append(rels, rel)
		return nil
	})
	if err != nil {
		return nil, err
	}
	byName := map[string]*Release{}
	for _, rel := range rels {
		byName[rel.Name] = rel
	}
	var all []Event
	for _, text := range notes {
		for _, line := range strings.Split(text, "\n") {
			if ev, ok := ParseEvent(strings.TrimSpace(line)); ok {
				all = append(all, ev)
			}
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if !all[i].Time.Equal(all[j].Time) {
			return all[i].Time.Before(all[j].Time)
		}
		a, _ := host.ParseRelease(all[i].Release)
		b, _ := host.ParseRelease(all[j].Release)
		return a < b
	})
	live := map[string]string{} // env → release live last
	for _, ev := range all {
		rel := byName[ev.Release]
		if rel == nil || ev.Env != rel.Env {
			continue
		}
		rel.Events = append(rel.Events, ev)
		if ev.Outcome == EventApproved {
			rel.ApprovedBy = ev.User
			continue
		}
		rel.Outcome = ev.Outcome
		switch ev.Outcome {
		case OutcomeLive:
			rel.LiveAt = ev.Time
			rel.Reason = ""
			if d, ok := strings.CutPrefix(ev.Detail, "deployed in "); ok {
				rel.Duration = d
			}
			live[ev.Env] = ev.Release
		default:
			rel.Reason = ev.Detail
		}
	}
	for _, rel := range rels {
		if rel.Outcome == OutcomeLive && live[rel.Env] != rel.Name {
			rel.Outcome = "superseded"
		}
	}
	sort.Slice(rels, func(i, j int) bool { return rels[i].Number > rels[j].Number })
	return rels, nil
}

// LiveRelease returns the release live in env, nil if none is.
func LiveRelease(rels []*Release, env string) *Release {
	for _, r := range rels {
		if r.Env == env && r.Outcome == OutcomeLive {
			return r
		}
	}
	return nil
}

// readNotes returns the text of every note in NotesRef, keyed by object.
func readNotes(ctx context.Context, repo string) (map[string]string, error) {
	out, err := exec.CommandContext(ctx, "git", "-C", repo, "notes", "--ref="+NotesRef, "list").Output()
	if err != nil {
		// No notes yet is not an error.
		if exec.CommandContext(ctx, "git", "-C", repo, "rev-parse", "--verify", "-q", NotesRef).Run() != nil {
			return nil, nil
		}
		return nil, fmt.Errorf("list notes: %w", gitErr(err))
	}
	var blobs, objects []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 {
			blobs = append(blobs, f[0])
			objects = append(objects, f[1])
		}
	}
	notes := make(map[string]string, len(blobs))
	if len(blobs) == 0 {
		return notes, nil
	}
	cmd := exec.CommandContext(ctx, "git", "-C", repo, "cat-file", "--batch")
	cmd.Stdin = strings.NewReader(strings.Join(blobs, "\n") + "\n")
	data, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("read notes: %w", gitErr(err))
	}
	rd := bufio.NewReader(bytes.NewReader(data))
	for i := range blobs {
		header, err := rd.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("read notes: %w", err)
		}
		var oid, typ string
		var size int
		if _, err := fmt.Sscanf(header, "%s %s %d", &oid, &typ, &size); err != nil {
			return nil, fmt.Errorf("read notes: bad header %q", header)
		}
		body := make([]byte, size+1) // the content and its trailing newline
		if _, err := io.ReadFull(rd, body); err != nil {
			return nil, fmt.Errorf("read notes: %w", err)
		}
		notes[objects[i]] = string(body[:size])
	}
	return notes, nil
}
