// Package local is the transport to this machine: the deploy path is a
// directory here, uploads are a local rsync, commands run through sh.
package local

import (
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
	"strings"
	"syscall"

	"github.com/slipwayhq/slipway/internal/durable"
	"github.com/slipwayhq/slipway/lifecycle"
	"github.com/slipwayhq/slipway/release/host"
	"github.com/slipwayhq/slipway/release/transport/rsync"
	"golang.org/x/sys/unix"
)

// Host is the host "local".
type Host struct {
	path  string // the environment's deploy path (absolute)
	procs host.Procs
}

var _ host.Host = (*Host)(nil)

// New returns the host "local" deploying under path; procs starts the
// rsync and cp it runs (nil for none).
func New(path string, procs host.Procs) *Host { return &Host{path: path, procs: procs} }

func (l *Host) Name() string    { return "local" }
func (l *Host) Address() string { return "127.0.0.1" }
func (l *Host) Close() error    { return nil }

func (l *Host) releasesDir() string { return filepath.Join(l.path, "releases") }

func (l *Host) Open(ctx context.Context) (host.Info, error) {
	cur, err := l.current()
	if err != nil {
		return host.Info{}, err
	}
	sweepRemoving(l.releasesDir())
	rels, err := l.releases()
	if err != nil {
		return host.Info{}, err
	}
	return host.Info{Current: cur, Releases: rels}, nil
}

func (l *Host) current() (string, error) {
	current := filepath.Join(l.path, "current")
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
	return host.ReleaseFromTarget(target)
}

func (l *Host) Upload(ctx context.Context, src, rel, linkDest string, changed []string) (host.UploadStats, error) {
	if err := host.CheckUpload(rel, linkDest, changed); err != nil {
		return host.UploadStats{}, err
	}
	if err := os.MkdirAll(l.releasesDir(), 0o755); err != nil {
		return host.UploadStats{}, noSpace(fmt.Errorf("create releases directory: %w", err))
	}
	final := filepath.Join(l.releasesDir(), rel)
	if _, err := os.Lstat(final); err == nil {
		return host.UploadStats{}, fmt.Errorf("%s already exists", final)
	}
	partial := filepath.Join(l.releasesDir(), "."+rel+".partial")
	var out []byte
	from := ""
	if changed != nil && l.linkCopy(ctx, linkDest, partial) {
		args := append(rsync.ProportionalArgs(), strings.TrimSuffix(src, "/")+"/", partial+"/")
		o, err := rsync.Run(ctx, l.procs, args, changed)
		if err != nil {
			return host.UploadStats{}, err
		}
		out, from = o, linkDest
	} else {
		if err := adoptPartial(l.releasesDir(), partial); err != nil {
			return host.UploadStats{}, err
		}
		args := rsync.Args(linkDest)
		args = append(args, strings.TrimSuffix(src, "/")+"/", partial+"/")
		o, err := rsync.Run(ctx, l.procs, args, nil)
		if err != nil {
			return host.UploadStats{}, err
		}
		out = o
	}
	if err := os.Rename(partial, final); err != nil {
		return host.UploadStats{}, noSpace(fmt.Errorf("move upload into place: %w", err))
	}
	if err := durable.SyncDir(l.releasesDir()); err != nil {
		return host.UploadStats{}, err
	}
	st := rsync.ParseStats(out)
	st.From = from
	return st, nil
}

// linkCopy makes partial a hard-link copy of releases/base, the start of
// a proportional upload, and reports whether it did. It does not when an
// interrupted upload is there (which a full compare resumes) or base is
// not; a copy it could not finish is removed.
func (l *Host) linkCopy(ctx context.Context, base, partial string) bool {
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
	if err := host.RunProc(l.procs, cmd); err != nil {
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

func (l *Host) Switch(ctx context.Context, rel string, keep int) (host.SwitchResult, error) {
	var res host.SwitchResult
	if rel != "" {
		if err := host.CheckName(rel); err != nil {
			return res, err
		}
	}
	prev, err := l.current()
	if err != nil {
		return res, err
	}
	res.Previous = prev
	current := filepath.Join(l.path, "current")
	if rel == "" {
		if err := os.Remove(current); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return res, fmt.Errorf("remove current: %w", err)
		}
	} else {
		if fi, err := os.Stat(filepath.Join(l.releasesDir(), rel)); err != nil || !fi.IsDir() {
			return res, fmt.Errorf("releases/%s: %w", rel, host.ErrNotOnHost)
		}
		tmp := filepath.Join(l.path, "current.tmp-"+randomID())
		if err := os.Symlink("releases/"+rel, tmp); err != nil {
			return res, fmt.Errorf("create symlink: %w", err)
		}
		if err := os.Rename(tmp, current); err != nil {
			os.Remove(tmp)
			return res, fmt.Errorf("rename symlink over current: %w", err)
		}
	}
	if err := durable.SyncDir(l.path); err != nil {
		return res, err
	}
	rels, err := l.releases()
	if err != nil {
		return res, err
	}
	res.Removed = host.Prune(rels, keep, rel, prev, l.remove)
	res.Releases = slices.DeleteFunc(rels, func(r string) bool { return slices.Contains(res.Removed, r) })
	return res, nil
}

func (l *Host) Run(ctx context.Context, rel, command string, env []string, out io.Writer) error {
	dir := l.path
	if rel != "" {
		dir = filepath.Join(l.releasesDir(), rel)
	}
	return lifecycle.Exec(ctx, command, dir, env, nil, out)
}

// Attach is Run: lifecycle.Exec kills the command's whole process group when
// ctx ends.
func (l *Host) Attach(ctx context.Context, rel, command string, env []string, out io.Writer) error {
	err := l.Run(ctx, rel, command, env, out)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (l *Host) releases() ([]string, error) {
	entries, err := os.ReadDir(l.releasesDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list releases: %w", err)
	}
	var names []string
	for _, e := range entries {
		if _, ok := host.ParseRelease(e.Name()); ok && e.IsDir() {
			names = append(names, e.Name())
		}
	}
	host.SortReleases(names)
	return names, nil
}

func (l *Host) Remove(ctx context.Context, rel string) error {
	if err := host.CheckName(rel); err != nil {
		return err
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
func (l *Host) remove(rel string) error {
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

func randomID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (l *Host) WriteShared(ctx context.Context, name string, data []byte) error {
	return noSpace(durable.WriteFile(filepath.Join(l.path, "shared", name), data, 0o600))
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

// Probe inspects the deploy path, creating it if it is missing.
func (l *Host) Probe(ctx context.Context) (host.Probe, error) {
	var p host.Probe
	os.MkdirAll(l.path, 0o755)
	p.Writable = unix.Access(l.path, unix.W_OK) == nil
	p.FreeBytes = freeBytes(l.path)
	p.Rsync, _ = exec.LookPath("rsync")
	p.Current, _ = l.current() // not a Slipway release: none
	p.Releases, _ = l.releases()
	var err error
	if p.UsedBytes, err = diskUsage(ctx, l.releasesDir()); err != nil {
		return host.Probe{}, err
	}
	return p, nil
}

// diskUsage is what du -s says of dir, in bytes: the blocks its files
// take, each hard-linked file counted once. What cannot be read counts
// for nothing; only the end of ctx stops it.
func diskUsage(ctx context.Context, dir string) (int64, error) {
	var used int64
	seen := make(map[uint64]bool)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			used += fi.Size()
			return nil
		}
		if st.Nlink > 1 {
			if seen[uint64(st.Ino)] {
				return nil
			}
			seen[uint64(st.Ino)] = true
		}
		used += int64(st.Blocks) * 512
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("measure %s: %w", dir, err)
	}
	return used, nil
}

// noSpace marks err with host.ErrNoSpace when the disk is full.
func noSpace(err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return host.Mark(host.ErrNoSpace, err)
	}
	return err
}
