package release

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/slipwayhq/slipway/internal/durable"
	"github.com/slipwayhq/slipway/internal/textclean"
)

// Manifest describes an exported tree: every file and symlink with the blob
// it came from and the mtime Slipway gave it.
//
// The mtime is what makes incremental uploads cheap and correct. git archive
// stamps every file with the commit time, so two releases would differ in
// every file and rsync's quick check (size and mtime) would resend them all.
// Instead a file keeps the mtime it had in the previous release as long as
// its exported content and mode are unchanged, and a changed file gets a
// new mtime that differs from its old one. rsync --link-dest then
// hard-links exactly the unchanged files and sends exactly the changed ones.
//
// A file is identified by what git archive wrote, not by its blob: with
// export-subst, ident or eol attributes the same blob exports to different
// bytes in two commits (a VERSION file holding $Format:%H$), and keeping
// its mtime would hard-link the previous release's stale copy.
type Manifest struct {
	Commit string                   `json:"commit"`
	Files  map[string]ManifestEntry `json:"files"`
	// Exact is set when the hosts received exactly this tree (no build
	// changed it), whose directories are Dirs: an upload of the next
	// release to a host running this one then sends only the difference
	// (see Changes).
	Exact bool     `json:"exact,omitempty"`
	Dirs  []string `json:"dirs,omitempty"`
}

// ManifestEntry is one exported path.
type ManifestEntry struct {
	Mode string `json:"mode"` // git mode: 100644, 100755, 120000
	// OID is the git object id of the exported content (for a symlink, its
	// target): the blob id, unless attributes changed the bytes on export.
	OID   string `json:"oid"`
	Size  int64  `json:"size"`
	MTime int64  `json:"mtime"` // Unix seconds
	// Altered is set when the exported bytes are not the blob's (OID is
	// not the blob id): attributes such as export-subst rewrote them, and
	// an export from an earlier tree writes the path again rather than
	// trust the copy it has.
	Altered bool `json:"altered,omitempty"`
}

// TooLargeError refuses a tree that would export to more than the limit
// (max_release_size).
type TooLargeError struct {
	Commit string
	Size   int64 // bytes: the tree's blobs, or what the export had written
	Files  int
	Limit  int64
	// Written is false when the tree itself is over the limit, found
	// before anything was written. It is true when the export outgrew
	// its tree (export-subst placeholders expand) and was stopped; what it
	// wrote is removed.
	Written bool
	Subdir  string // the directory exported, "" for the whole tree
}

func (e *TooLargeError) Error() string {
	if e.Written {
		return fmt.Sprintf("the export of %s grew past max_release_size (%s) as attributes such as export-subst expanded its files",
			short(e.Commit), exactBytes(e.Limit))
	}
	what := "the tree of " + short(e.Commit)
	if e.Subdir != "" {
		what = textclean.Line(e.Subdir, 100) + " in " + short(e.Commit)
	}
	return fmt.Sprintf("%s is %s in %s, over max_release_size (%s)",
		what, humanBytes(e.Size), count(e.Files, "file"), exactBytes(e.Limit))
}

// ExportStats says what an export produced.
type ExportStats struct {
	Files   int
	Bytes   int64
	Skipped []string // submodules, which git archive does not include

	// From is the release whose kept export the tree was made from, ""
	// for a full git archive; Changed counts the paths written or
	// removed on top of it. Full says why a kept export could not be
	// used, "" when there was none.
	From    string
	Changed int
	Full    string
}

// Export writes the tree of commit in the bare repository repo into dest,
// which must not exist yet, and returns its manifest. prev is the manifest
// of the release the hosts run now (nil for none); see Manifest for why.
//
// The tree is read with git archive, so export-ignore attributes apply.
// Every write goes through an os.Root at dest: a crafted tree cannot make
// the export write outside it, through symlinks or otherwise.
//
// limit, when not 0, bounds the export in bytes (see TooLargeError). The
// sizes of the tree's blobs, each counted once per path that names it, are
// added up before anything is written: a small pack can name one large
// blob many times. The bytes written are counted too, since export-subst
// can make a file larger than its blob.
//
// stamp, when not 0, is the mtime of every new or changed file. Callers
// give each export of an app a stamp no other export had (see
// Engine.nextStamp), so that a file's size and mtime are never equal in
// two different contents: not against the previous release, and not
// against what an interrupted upload of another release left behind.
func Export(ctx context.Context, repo, commit, dest string, prev *Manifest, stamp, limit int64) (*Manifest, ExportStats, error) {
	return ExportDir(ctx, repo, commit, "", dest, prev, stamp, limit)
}

// ExportDir is Export of the directory subdir of commit's tree (the whole
// tree for ""): its contents become the root of dest, and the manifest's
// paths are relative to it. The caller has checked that subdir is a
// directory of commit (see SubdirTree).
//
// It runs git archive COMMIT -- SUBDIR and strips the prefix rather than
// archiving the tree COMMIT:SUBDIR: given a tree, git archive knows no
// commit, so export-subst placeholders stay unexpanded, and it reads
// attributes from the subdirectory alone. Given the commit, the whole
// tree's .gitattributes apply as they would to a full export.
func ExportDir(ctx context.Context, repo, commit, subdir, dest string, prev *Manifest, stamp, limit int64) (*Manifest, ExportStats, error) {
	var st ExportStats
	treeish := commit
	if subdir != "" {
		treeish = commit + ":" + subdir
	}
	blobs, skipped, err := lsTree(ctx, repo, treeish)
	if err != nil {
		return nil, st, err
	}
	st.Skipped = skipped
	if limit > 0 {
		if err := checkTreeSize(ctx, repo, commit, subdir, blobs, limit); err != nil {
			return nil, st, err
		}
	}
	root, err := createExportRoot(dest)
	if err != nil {
		return nil, st, err
	}
	defer root.Close()

	m := &Manifest{Commit: commit, Files: make(map[string]ManifestEntry)}
	x := &extractor{root: root, subdir: subdir, blobs: blobs, prev: prev, stamp: stamp, limit: limit, m: m, st: &st}
	var paths []string
	if subdir != "" {
		paths = []string{subdir}
	}
	if err := x.archive(ctx, repo, commit, paths); err != nil {
		var tooLarge *TooLargeError
		if errors.As(err, &tooLarge) {
			tooLarge.Commit, tooLarge.Subdir = commit, subdir
			root.Close()
			if err := os.RemoveAll(dest); err != nil {
				return nil, st, fmt.Errorf("remove oversized export: %w", err)
			}
		}
		return nil, st, err
	}
	return m, st, nil
}

// archive extracts git archive of commit, limited to paths (full paths in
// the commit's tree; all of it when there are none), through x.
func (x *extractor) archive(ctx context.Context, repo, commit string, paths []string) error {
	args := []string{"--literal-pathspecs", "-C", repo, "-c", "tar.umask=0022", "archive", "--format=tar", commit}
	if len(paths) > 0 {
		args = append(append(args, "--"), paths...)
	}
	cmd := exec.CommandContext(ctx, "git", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("git archive: %w", err)
	}
	extractErr := x.run(tar.NewReader(bufio.NewReaderSize(stdout, 1<<16)))
	var tooLarge *TooLargeError
	if errors.As(extractErr, &tooLarge) {
		// Stop git archive rather than read the rest of an expanding tree.
		cmd.Process.Kill()
	}
	if extractErr != nil {
		// Drain so git archive is not stuck writing, then reap it.
		io.Copy(io.Discard, stdout)
	}
	waitErr := cmd.Wait()
	if extractErr != nil {
		return extractErr
	}
	if waitErr != nil {
		return fmt.Errorf("git archive: %w: %s", waitErr, textclean.LastLine(stderr.String()))
	}
	return nil
}

// extractor writes a git archive stream under root and builds its manifest.
type extractor struct {
	root   *os.Root
	subdir string // the archive's paths start with subdir/, stripped; "" for none
	blobs  map[string]treeEntry
	prev   *Manifest
	stamp  int64
	limit  int64 // 0: none
	m      *Manifest
	st     *ExportStats
}

func (x *extractor) run(tr *tar.Reader) error {
	root, st := x.root, x.st
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
		if x.subdir != "" {
			if h.Typeflag == tar.TypeDir && strings.HasPrefix(x.subdir+"/", name+"/") {
				continue // subdir itself and its parents
			}
			rel, ok := strings.CutPrefix(name, x.subdir+"/")
			if !ok {
				return fmt.Errorf("archive entry %q is outside %s", h.Name, x.subdir)
			}
			name = rel
		}
		te := x.blobs[name]
		var oid string
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
			id := newObjectHash(x.m.Commit, int64(len(h.Linkname)))
			io.WriteString(id, h.Linkname)
			oid = hex.EncodeToString(id.Sum(nil))
		case tar.TypeReg:
			if x.limit > 0 && st.Bytes+h.Size > x.limit {
				return &TooLargeError{Size: st.Bytes + h.Size, Files: st.Files + 1, Limit: x.limit, Written: true}
			}
			f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fs.FileMode(h.Mode)&0o755)
			if err != nil {
				return fmt.Errorf("create %s: %w", name, err)
			}
			id := newObjectHash(x.m.Commit, h.Size)
			n, err := io.Copy(io.MultiWriter(f, id), tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("write %s: %w", name, err)
			}
			st.Bytes += n
			oid = hex.EncodeToString(id.Sum(nil))
		default:
			return fmt.Errorf("archive entry %q has unsupported type %q", name, h.Typeflag)
		}
		st.Files++
		e := ManifestEntry{Mode: te.mode, OID: oid, Size: h.Size, MTime: h.ModTime.Unix(), Altered: oid != te.oid}
		if x.stamp != 0 {
			e.MTime = x.stamp
		}
		if p, ok := x.prev.entry(name); ok {
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
		x.m.Files[name] = e
	}
}

// newObjectHash starts the git object id of a blob of size bytes, in the
// hash of the repository (SHA-256 when its ids, such as anyID, are that
// long), so that a file git archive leaves as it is gets its blob id.
func newObjectHash(anyID string, size int64) hash.Hash {
	h := sha1.New()
	if len(anyID) == 64 {
		h = sha256.New()
	}
	fmt.Fprintf(h, "blob %d\x00", size)
	return h
}

// exactBytes writes a limit the way an operator would: "2 GiB", "64 MB",
// or bytes when no unit divides it.
func exactBytes(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"GB", 1e9}, {"MiB", 1 << 20}, {"MB", 1e6}, {"KiB", 1 << 10}, {"kB", 1e3}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d %s", n/u.size, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

func (m *Manifest) entry(name string) (ManifestEntry, bool) {
	if m == nil {
		return ManifestEntry{}, false
	}
	e, ok := m.Files[name]
	return e, ok
}

type treeEntry struct {
	mode, oid string
	size      int64
}

// lsTree maps every blob path in commit to its mode, object id and size,
// and lists the submodules, which an export cannot include.
func lsTree(ctx context.Context, repo, commit string) (map[string]treeEntry, []string, error) {
	out, err := exec.CommandContext(ctx, "git", "-C", repo, "ls-tree", "-r", "-l", "-z", "--full-tree", commit).Output()
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
		if !ok || len(f) != 4 {
			return nil, nil, fmt.Errorf("list tree of %s: unexpected line %q", commit, rec)
		}
		if f[1] == "commit" {
			submodules = append(submodules, p)
			continue
		}
		size, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("list tree of %s: unexpected size in %q", commit, rec)
		}
		blobs[path.Clean(p)] = treeEntry{mode: f[0], oid: f[2], size: size}
	}
	return blobs, submodules, nil
}

// checkTreeSize refuses a tree whose blobs, counted once per path, add up
// to more than limit. Paths that export-ignore leaves out are not counted;
// finding them costs a scratch index, so it is done only for a tree that
// would be refused otherwise.
func checkTreeSize(ctx context.Context, repo, commit, subdir string, blobs map[string]treeEntry, limit int64) error {
	total := func(skip func(string) bool) (size int64, files int) {
		for p, te := range blobs {
			if !skip(p) {
				size += te.size
				files++
			}
		}
		return size, files
	}
	size, files := total(func(string) bool { return false })
	if size <= limit {
		return nil
	}
	ignored, err := exportIgnored(ctx, repo, commit, subdir, blobs)
	if err != nil {
		return err
	}
	if len(ignored) > 0 {
		size, files = total(func(p string) bool {
			for ; p != "."; p = path.Dir(p) {
				if ignored[p] {
					return true
				}
			}
			return false
		})
	}
	if size > limit {
		return &TooLargeError{Commit: commit, Size: size, Files: files, Limit: limit, Subdir: subdir}
	}
	return nil
}

// exportIgnored returns the files and directories of commit that have the
// export-ignore attribute, as git archive reads it: from the tree's own
// .gitattributes and the repository's info/attributes. The tree is read
// into a scratch index outside the repository, removed on return. The
// paths of blobs, and those returned, are relative to subdir.
func exportIgnored(ctx context.Context, repo, commit, subdir string, blobs map[string]treeEntry) (map[string]bool, error) {
	prefix := ""
	if subdir != "" {
		prefix = subdir + "/"
	}
	scratch, err := os.MkdirTemp("", "slipway-attr-")
	if err != nil {
		return nil, fmt.Errorf("read attributes of %s: %w", short(commit), err)
	}
	defer os.RemoveAll(scratch)
	env := append(os.Environ(), "GIT_INDEX_FILE="+filepath.Join(scratch, "index"))
	readTree := exec.CommandContext(ctx, "git", "-C", repo, "read-tree", commit)
	readTree.Env = env
	if out, err := readTree.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("read attributes of %s: read-tree: %w: %s", short(commit), err, textclean.LastLine(string(out)))
	}
	var in bytes.Buffer
	dirs := map[string]bool{}
	for p := range blobs {
		in.WriteString(prefix + p)
		in.WriteByte(0)
		for d := path.Dir(p); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			in.WriteString(prefix + d)
			in.WriteByte(0)
		}
	}
	checkAttr := exec.CommandContext(ctx, "git", "-C", repo, "check-attr", "--cached", "-z", "--stdin", "export-ignore")
	checkAttr.Env = env
	checkAttr.Stdin = &in
	out, err := checkAttr.Output()
	if err != nil {
		return nil, fmt.Errorf("read attributes of %s: check-attr: %w", short(commit), gitErr(err))
	}
	// NUL-separated triples: path, attribute, value.
	f := strings.Split(string(out), "\x00")
	ignored := map[string]bool{}
	for i := 0; i+2 < len(f); i += 3 {
		if p, ok := strings.CutPrefix(f[i], prefix); ok && f[i+2] == "set" {
			ignored[p] = true
		}
	}
	return ignored, nil
}

// WriteManifest stores m as JSON at file, atomically.
func WriteManifest(file string, m *Manifest) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return durable.WriteFile(file, data, 0o644)
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
		return fmt.Errorf("%w: %s", err, textclean.LastLine(string(ee.Stderr)))
	}
	return err
}

// createExportRoot creates the directory dest, which must not exist yet,
// and opens it as the root that every file of an export is written
// through, so that no name in a tree or an archive can reach outside it.
func createExportRoot(dest string) (*os.Root, error) {
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return nil, err
	}
	if err := os.Mkdir(dest, 0o755); err != nil {
		return nil, fmt.Errorf("create export directory: %w", err)
	}
	return os.OpenRoot(dest)
}
