package release

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/slipwayhq/slipway/lifecycle"
)

// Local is a Host on this machine: the deploy path is a directory here,
// uploads are a local rsync, commands run through sh.
type Local struct {
	// Path is the environment's deploy path (absolute).
	Path string
	// Group is the process group rsync joins (see ProcGroup); nil for none.
	Group *ProcGroup
}

var _ Host = (*Local)(nil)

// NewLocal returns the host "local" deploying under path.
func NewLocal(path string) *Local { return &Local{Path: path} }

func (l *Local) Name() string { return "local" }
func (l *Local) Close() error { return nil }

func (l *Local) releasesDir() string { return filepath.Join(l.Path, "releases") }

func (l *Local) Open(ctx context.Context) (HostInfo, error) {
	cur, err := l.current()
	if err != nil {
		return HostInfo{}, err
	}
	sweepRemoving(l.releasesDir())
	rels, err := l.releases()
	if err != nil {
		return HostInfo{}, err
	}
	return HostInfo{Current: cur, Releases: rels}, nil
}

func (l *Local) current() (string, error) {
	current := filepath.Join(l.Path, "current")
	target, err := os.Readlink(current)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		if fi, serr := os.Lstat(current); serr == nil && fi.Mode()&fs.ModeSymlink == 0 {
			return "", fmt.Errorf("read current: %s is not a symlink", current)
		}
		return "", fmt.Errorf("read current: %w", err)
	}
	return releaseFromTarget(target)
}

// sweepRemoving removes the .vN.removing directories that an interrupted
// Remove or prune left behind.
func sweepRemoving(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, ".v") && strings.HasSuffix(n, ".removing") {
			os.RemoveAll(filepath.Join(dir, n))
		}
	}
}

// releaseFromTarget turns a current symlink target ("releases/v3") into the
// release name, refusing targets Slipway did not write.
func releaseFromTarget(target string) (string, error) {
	rel, ok := strings.CutPrefix(target, "releases/")
	if _, valid := ParseRelease(rel); !ok || !valid {
		return "", fmt.Errorf("current points to %q, not to a Slipway release", target)
	}
	return rel, nil
}

func (l *Local) Upload(ctx context.Context, src, rel, linkDest string, changed []string) (UploadStats, error) {
	if _, ok := ParseRelease(rel); !ok {
		return UploadStats{}, fmt.Errorf("bad release name %q", rel)
	}
	if changed != nil {
		if _, ok := ParseRelease(linkDest); !ok {
			return UploadStats{}, fmt.Errorf("bad release name %q", linkDest)
		}
	}
	if err := os.MkdirAll(l.releasesDir(), 0o755); err != nil {
		return UploadStats{}, fmt.Errorf("create releases directory: %w", err)
	}
	final := filepath.Join(l.releasesDir(), rel)
	if _, err := os.Lstat(final); err == nil {
		return UploadStats{}, fmt.Errorf("%s already exists", final)
	}
	partial := filepath.Join(l.releasesDir(), "."+rel+".partial")
	var out []byte
	from := ""
	if changed != nil && l.linkCopy(ctx, linkDest, partial) {
		args := append(proportionalArgs(), strings.TrimSuffix(src, "/")+"/", partial+"/")
		o, err := runRsyncIn(ctx, l.Group, args, fileList(changed))
		if err != nil {
			return UploadStats{}, err
		}
		out, from = o, linkDest
	} else {
		if err := adoptPartial(l.releasesDir(), partial); err != nil {
			return UploadStats{}, err
		}
		args := rsyncArgs(linkDest)
		args = append(args, strings.TrimSuffix(src, "/")+"/", partial+"/")
		o, err := runRsync(ctx, l.Group, args)
		if err != nil {
			return UploadStats{}, err
		}
		out = o
	}
	if err := os.Rename(partial, final); err != nil {
		return UploadStats{}, fmt.Errorf("move upload into place: %w", err)
	}
	if err := syncDir(l.releasesDir()); err != nil {
		return UploadStats{}, err
	}
	st := ParseRsyncStats(out)
	st.From = from
	return st, nil
}

// linkCopy makes partial a hard-link copy of releases/base, the start of
// a proportional upload, and reports whether it did. It does not when an
// interrupted upload is there (which a full compare resumes) or base is
// not; a copy it could not finish is removed.
func (l *Local) linkCopy(ctx context.Context, base, partial string) bool {
	entries, err := os.ReadDir(l.releasesDir())
	if err != nil {
		return false
	}
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, ".v") && strings.HasSuffix(n, ".partial") {
			return false
		}
	}
	if fi, err := os.Lstat(filepath.Join(l.releasesDir(), base)); err != nil || !fi.IsDir() {
		return false
	}
	cmd := exec.CommandContext(ctx, "cp", "-al", "--", filepath.Join(l.releasesDir(), base), partial)
	if err := l.Group.run(cmd); err != nil {
		os.RemoveAll(partial)
		return false
	}
	return true
}

// adoptPartial renames the temporary directory an interrupted upload left
// behind to partial, so that rsync sends only what it lacks.
func adoptPartial(dir, partial string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list releases: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, ".v") || !strings.HasSuffix(name, ".partial") {
			continue
		}
		old := filepath.Join(dir, name)
		if old == partial {
			return nil
		}
		if err := os.Rename(old, partial); err != nil {
			return fmt.Errorf("reuse interrupted upload %s: %w", name, err)
		}
		return nil
	}
	return nil
}

// rsyncArgs are the flags every upload uses. linkDest is a release next to
// the destination directory whose unchanged files rsync hard-links.
func rsyncArgs(linkDest string) []string {
	args := []string{"-a", "--delete", "--stats", "--no-inc-recursive"}
	if linkDest != "" {
		args = append(args, "--link-dest=../"+linkDest)
	}
	return args
}

func runRsync(ctx context.Context, g *ProcGroup, args []string) ([]byte, error) {
	return runRsyncIn(ctx, g, args, "")
}

// runRsyncIn is runRsync with stdin as rsync's standard input.
func runRsyncIn(ctx context.Context, g *ProcGroup, args []string, stdin string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "rsync", args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	cmd.WaitDelay = 5 * time.Second // its ssh child must not hold the pipes
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := g.run(cmd); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			return nil, fmt.Errorf("rsync: %w", err)
		}
		return nil, fmt.Errorf("rsync: %w: %s", err, rsyncCause(msg))
	}
	return stdout.Bytes(), nil
}

func (l *Local) Switch(ctx context.Context, rel string, keep int) (SwitchResult, error) {
	var res SwitchResult
	if rel != "" {
		if _, ok := ParseRelease(rel); !ok {
			return res, fmt.Errorf("bad release name %q", rel)
		}
	}
	prev, err := l.current()
	if err != nil {
		return res, err
	}
	res.Previous = prev
	current := filepath.Join(l.Path, "current")
	if rel == "" {
		if err := os.Remove(current); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return res, fmt.Errorf("remove current: %w", err)
		}
	} else {
		if fi, err := os.Stat(filepath.Join(l.releasesDir(), rel)); err != nil || !fi.IsDir() {
			return res, fmt.Errorf("releases/%s: %w", rel, ErrNotOnHost)
		}
		tmp := filepath.Join(l.Path, "current.tmp-"+randomID())
		if err := os.Symlink("releases/"+rel, tmp); err != nil {
			return res, fmt.Errorf("create symlink: %w", err)
		}
		if err := os.Rename(tmp, current); err != nil {
			os.Remove(tmp)
			return res, fmt.Errorf("rename symlink over current: %w", err)
		}
	}
	if err := syncDir(l.Path); err != nil {
		return res, err
	}
	rels, err := l.releases()
	if err != nil {
		return res, err
	}
	res.Removed = prune(rels, keep, rel, prev, l.remove)
	res.Releases = slices.DeleteFunc(rels, func(r string) bool { return slices.Contains(res.Removed, r) })
	return res, nil
}

func (l *Local) Run(ctx context.Context, rel, command string, env []string, out io.Writer) error {
	dir := l.Path
	if rel != "" {
		dir = filepath.Join(l.releasesDir(), rel)
	}
	return lifecycle.Exec(ctx, command, dir, env, nil, out)
}

// Attach is Run: lifecycle.Exec kills the command's whole process group when
// ctx ends.
func (l *Local) Attach(ctx context.Context, rel, command string, env []string, out io.Writer) error {
	err := l.Run(ctx, rel, command, env, out)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (l *Local) releases() ([]string, error) {
	entries, err := os.ReadDir(l.releasesDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list releases: %w", err)
	}
	var names []string
	for _, e := range entries {
		if _, ok := ParseRelease(e.Name()); ok && e.IsDir() {
			names = append(names, e.Name())
		}
	}
	SortReleases(names)
	return names, nil
}

func (l *Local) Remove(ctx context.Context, rel string) error {
	if _, ok := ParseRelease(rel); !ok {
		return fmt.Errorf("bad release name %q", rel)
	}
	cur, err := l.current()
	if err != nil {
		return err
	}
	if cur == rel {
		return fmt.Errorf("%s is live; refusing to remove it", rel)
	}
	return l.remove(rel)
}

// remove deletes releases/<rel>, renaming it first so that a half-removed
// tree never looks like a release.
func (l *Local) remove(rel string) error {
	doomed := filepath.Join(l.releasesDir(), "."+rel+".removing")
	if err := os.Rename(filepath.Join(l.releasesDir(), rel), doomed); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove %s: %w", rel, err)
	}
	if err := os.RemoveAll(doomed); err != nil {
		return fmt.Errorf("remove %s: %w", rel, err)
	}
	return nil
}

// SortReleases orders release names by number, oldest first.
func SortReleases(names []string) {
	sort.Slice(names, func(i, j int) bool {
		a, _ := ParseRelease(names[i])
		b, _ := ParseRelease(names[j])
		return a < b
	})
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

func randomID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// rsyncCause picks the line of rsync's stderr that says what went wrong:
// the first "rsync: ..." line (such as "write failed ...: No space left on
// device") rather than the generic "rsync error: ... (code 11)" summary.
func rsyncCause(stderr string) string {
	for _, line := range strings.Split(stderr, "\n") {
		if msg, ok := strings.CutPrefix(line, "slipway: "); ok { // the upload wrapper's (ssh.go)
			return msg
		}
	}
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(line, "rsync: ") {
			return strings.TrimPrefix(line, "rsync: ")
		}
	}
	return lastLine(stderr)
}

func (l *Local) WriteShared(ctx context.Context, name string, data []byte) error {
	return writeFileAtomic(filepath.Join(l.Path, "shared", name), data, 0o600)
}
