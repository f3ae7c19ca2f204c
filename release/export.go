package release

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Manifest describes an exported tree: every file and symlink with the blob
// it came from and the mtime Slipway gave it.
//
// The mtime is what makes incremental uploads cheap and correct. git archive
// stamps every file with the commit time, so two releases would differ in
// every file and rsync's quick check (size and mtime) would resend them all.
// Instead a file keeps the mtime it had in the previous release as long as
// its blob and mode are unchanged, and a changed file gets a new mtime that
// differs from its old one. rsync --link-dest then hard-links exactly the
// unchanged files and sends exactly the changed ones.
type Manifest struct {
	Commit string                   `json:"commit"`
	Files  map[string]ManifestEntry `json:"files"`
}

// ManifestEntry is one exported path.
type ManifestEntry struct {
	Mode  string `json:"mode"` // git mode: 100644, 100755, 120000
	OID   string `json:"oid"`
	Size  int64  `json:"size"`
	MTime int64  `json:"mtime"` // Unix seconds
}

// ExportStats says what an export produced.
type ExportStats struct {
	Files   int
	Bytes   int64
	Skipped []string // submodules, which git archive does not include
}

// Export writes the tree of commit in the bare repository repo into dest,
// which must not exist yet, and returns its manifest. prev is the manifest
// of the release the hosts run now (nil for none); see Manifest for why.
//
// The tree is read with git archive, so export-ignore attributes apply.
// Every write goes through an os.Root at dest: a crafted tree cannot make
// the export write outside it, through symlinks or otherwise.
//
// stamp, when not 0, is the mtime of every new or changed file. Callers
// give each export of an app a stamp no other export had (see
// Engine.nextStamp), so that a file's size and mtime are never equal in
// two different contents: not against the previous release, and not
// against what an interrupted upload of another release left behind.
func Export(ctx context.Context, repo, commit, dest string, prev *Manifest, stamp int64) (*Manifest, ExportStats, error) {
	var st ExportStats
	blobs, skipped, err := lsTree(ctx, repo, commit)
	if err != nil {
		return nil, st, err
	}
	st.Skipped = skipped
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return nil, st, err
	}
	if err := os.Mkdir(dest, 0o755); err != nil {
		return nil, st, fmt.Errorf("create export directory: %w", err)
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return nil, st, err
	}
	defer root.Close()

	cmd := exec.CommandContext(ctx, "git", "-C", repo, "-c", "tar.umask=0022", "archive", "--format=tar", commit)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, st, err
	}
	if err := cmd.Start(); err != nil {
		return nil, st, fmt.Errorf("git archive: %w", err)
	}
	m := &Manifest{Commit: commit, Files: make(map[string]ManifestEntry)}
	extractErr := extract(tar.NewReader(bufio.NewReaderSize(stdout, 1<<16)), root, blobs, prev, stamp, m, &st)
	if extractErr != nil {
		// Drain so git archive is not stuck writing, then reap it.
		io.Copy(io.Discard, stdout)
	}
	waitErr := cmd.Wait()
	if extractErr != nil {
		return nil, st, extractErr
	}
	if waitErr != nil {
		return nil, st, fmt.Errorf("git archive: %w: %s", waitErr, lastLine(stderr.String()))
	}
	return m, st, nil
}

func extract(tr *tar.Reader, root *os.Root, blobs map[string]treeEntry, prev *Manifest, stamp int64, m *Manifest, st *ExportStats) error {
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name := strings.TrimSuffix(h.Name, "/")
		if name == "" || !fs.ValidPath(name) {
			return fmt.Errorf("archive entry %q: not a clean relative path", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.Mkdir(name, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("create %s: %w", name, err)
			}
			continue
		case tar.TypeSymlink:
			if err := root.Symlink(h.Linkname, name); err != nil {
				return fmt.Errorf("create symlink %s: %w", name, err)
			}
		case tar.TypeReg:
			f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fs.FileMode(h.Mode)&0o755)
			if err != nil {
				return fmt.Errorf("create %s: %w", name, err)
			}
			n, err := io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("write %s: %w", name, err)
			}
			st.Bytes += n
		default:
			return fmt.Errorf("archive entry %q has unsupported type %q", name, h.Typeflag)
		}
		st.Files++
		te := blobs[name]
		e := ManifestEntry{Mode: te.mode, OID: te.oid, Size: h.Size, MTime: h.ModTime.Unix()}
		if stamp != 0 {
			e.MTime = stamp
		}
		if p, ok := prev.entry(name); ok {
			if p.OID == e.OID && p.Mode == e.Mode {
				e.MTime = p.MTime
			} else if p.MTime == e.MTime {
				e.MTime++
			}
		}
		if h.Typeflag == tar.TypeReg {
			t := time.Unix(e.MTime, 0)
			if err := root.Chtimes(name, t, t); err != nil {
				return fmt.Errorf("set mtime of %s: %w", name, err)
			}
		}
		m.Files[name] = e
	}
}

func (m *Manifest) entry(name string) (ManifestEntry, bool) {
	if m == nil {
		return ManifestEntry{}, false
	}
	e, ok := m.Files[name]
	return e, ok
}

type treeEntry struct{ mode, oid string }

// lsTree maps every blob path in commit to its mode and object id, and
// lists the submodules, which an export cannot include.
func lsTree(ctx context.Context, repo, commit string) (map[string]treeEntry, []string, error) {
	out, err := exec.CommandContext(ctx, "git", "-C", repo, "ls-tree", "-r", "-z", "--full-tree", commit).Output()
	if err != nil {
		return nil, nil, fmt.Errorf("list tree of %s: %w", commit, gitErr(err))
	}
	blobs := make(map[string]treeEntry)
	var submodules []string
	for _, rec := range bytes.Split(out, []byte{0}) {
		if len(rec) == 0 {
			continue
		}
		meta, p, ok := strings.Cut(string(rec), "\t")
		f := strings.Fields(meta)
		if !ok || len(f) != 3 {
			return nil, nil, fmt.Errorf("list tree of %s: unexpected line %q", commit, rec)
		}
		if f[1] == "commit" {
			submodules = append(submodules, p)
			continue
		}
		blobs[path.Clean(p)] = treeEntry{mode: f[0], oid: f[2]}
	}
	return blobs, submodules, nil
}

// WriteManifest stores m as JSON at file, atomically.
func WriteManifest(file string, m *Manifest) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return writeFileAtomic(file, data, 0o644)
}

// ReadManifest loads a manifest written by WriteManifest; a missing file is
// (nil, nil): the next upload is simply a full one.
func ReadManifest(file string) (*Manifest, error) {
	var m Manifest
	if found, err := readJSON(file, KindManifest, &m); !found || err != nil {
		return nil, err
	}
	return &m, nil
}

// gitErr adds git's own message to an *exec.ExitError.
func gitErr(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, lastLine(string(ee.Stderr)))
	}
	return err
}
