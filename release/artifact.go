package release

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slipwayhq/slipway/internal/textclean"
)

// An artifact is a tree built elsewhere (by CI) and sent as a tar or
// tar.gz stream: `ssh … artifact APP ENV --commit C < dist.tar.gz`. Its
// release is tagged on a commit already on the server, and it takes the
// place of git archive in the export step. The stream is kept, exactly as
// received, in DATA/artifacts/APP/vN.tar for as long as some host keeps
// releases/vN, so that a rollback or a promotion ships the same bytes.
//
// Nothing in an archive is trusted: every entry is checked (ScanArtifact)
// before anything is written to the staging tree, and extraction writes
// through an os.Root at the staging directory.

// Artifact is an archive received for a release.
type Artifact struct {
	File   string // the archive, tar or tar.gz
	SHA256 string // hex digest of the bytes received
	Size   int64  // bytes received
	// Files and Bytes are what the archive holds: regular files (hard
	// links count as copies) and their total size.
	Files int
	Bytes int64
}

// ArchiveError refuses an archive: the entry at fault ("" for the archive
// as a whole) and the rule it breaks.
type ArchiveError struct {
	Entry string
	Rule  string
}

func (e *ArchiveError) Error() string {
	if e.Entry == "" {
		return "archive refused: " + e.Rule
	}
	return fmt.Sprintf("archive entry %q refused: %s", textclean.Line(e.Entry, 200), e.Rule)
}

// ErrArtifactGone means a release that came from an artifact cannot be
// shipped again: its archive is no longer kept.
var ErrArtifactGone = errors.New("the artifact of the release is no longer kept")

// ArtifactGoneError refuses to ship again a release whose artifact was
// removed with it from the hosts.
type ArtifactGoneError struct {
	App, Release string
	SHA256       string // the checksum its tag records
}

func (e *ArtifactGoneError) Error() string {
	return fmt.Sprintf("%s was shipped from an artifact (%s) that was removed with its release from the hosts", e.Release, shortSum(e.SHA256))
}

func (e *ArtifactGoneError) Is(target error) bool { return target == ErrArtifactGone }

// maxArchiveEntries bounds the entries of an archive: a small compressed
// stream of empty entries must not exhaust the staging directory's inodes.
const maxArchiveEntries = 1 << 20

// maxSymlinkFollows is how many symlinks resolving one symlink's target
// may go through, as for Linux (MAXSYMLINKS): beyond, a host could not
// follow it either.
const maxSymlinkFollows = 40

// maxPathLen bounds an entry's path and a symlink's target, as for Linux
// (PATH_MAX): the cost of checking an entry grows with its path, and a
// longer one could not be written anyway.
const maxPathLen = 4095

// Bounds on the work of checking one archive, far above what a real tree
// needs: the bytes of its entries' paths (which the check keeps in
// memory), and the bytes of the paths that resolving its symlinks looks
// up (a symlink deep in the tree costs the length of each prefix of its
// target).
const (
	maxNameBytes   = 256 << 20
	maxLookupBytes = 1 << 30
)

func (e *Engine) artifactDir(app string) string {
	return filepath.Join(e.DataDir, "artifacts", app)
}

// artifactFile is where the archive of release rel of app is kept.
func (e *Engine) artifactFile(app, rel string) string {
	return filepath.Join(e.artifactDir(app), rel+".tar")
}

// ReceiveArtifact reads an archive from r into the data directory,
// computing its checksum, and checks it with ScanArtifact. maxSize bounds
// the bytes read (max_push_size), limit what the files add up to
// (max_release_size); 0 means no bound. A refused archive is an
// *ArchiveError and leaves nothing behind. The caller hands the result to
// a deploy (Request.Artifact), which keeps it, and calls Discard when done,
// which removes it unless a release kept it.
func (e *Engine) ReceiveArtifact(app string, r io.Reader, maxSize, limit int64) (*Artifact, error) {
	dir := e.artifactDir(app)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("receive artifact: %w", err)
	}
	f, err := os.CreateTemp(dir, ".incoming-")
	if err != nil {
		return nil, fmt.Errorf("receive artifact: %w", err)
	}
	a := &Artifact{File: f.Name()}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(a.File)
		}
	}()
	sum := sha256.New()
	src := r
	if maxSize > 0 {
		src = io.LimitReader(r, maxSize+1)
	}
	n, err := io.Copy(io.MultiWriter(f, sum), src)
	if err != nil {
		return nil, fmt.Errorf("receive artifact: %w", err)
	}
	if maxSize > 0 && n > maxSize {
		return nil, &ArchiveError{Rule: "it is over max_push_size (" + exactBytes(maxSize) + ")"}
	}
	if n == 0 {
		return nil, &ArchiveError{Rule: "nothing was sent on standard input; send a tar or tar.gz stream, like tar -C dist -czf - ."}
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("receive artifact: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("receive artifact: %w", err)
	}
	a.Size, a.SHA256 = n, hex.EncodeToString(sum.Sum(nil))
	st, err := ScanArtifact(a.File, limit)
	if err != nil {
		return nil, err
	}
	a.Files, a.Bytes = st.Files, st.Bytes
	ok = true
	return a, nil
}

// removeIncomingArtifacts removes archives an earlier daemon was still
// receiving when it stopped: no release refers to them, and before
// serving nothing is being received.
func (e *Engine) removeIncomingArtifacts() {
	files, _ := filepath.Glob(filepath.Join(e.DataDir, "artifacts", "*", ".incoming-*"))
	for _, f := range files {
		if err := os.Remove(f); err != nil {
			e.Log.Warn().Err(err).Str("file", f).Msg("cannot remove an artifact left half received")
			continue
		}
		e.Log.Info().Str("file", f).Msg("removed an artifact left half received")
	}
}

// Discard removes an archive that no release kept. A kept one has moved.
func (a *Artifact) Discard() {
	if a != nil && strings.HasPrefix(filepath.Base(a.File), ".incoming-") {
		os.Remove(a.File)
	}
}

// short is the checksum as output shows it.
func (a *Artifact) short() string {
	if len(a.SHA256) > 4 {
		return a.SHA256[:4] + "…"
	}
	return a.SHA256
}

// tagLine is the line of a release tag's message that records an
// artifact, read back by parseArtifactLine.
func (a *Artifact) tagLine() string {
	return fmt.Sprintf("Artifact: sha256:%s %d bytes", a.SHA256, a.Size)
}

// parseArtifactLine reads an "Artifact:" tag line's value: the checksum,
// "sha256:HEX".
func parseArtifactLine(v string) string {
	sum, _, _ := strings.Cut(strings.TrimSpace(v), " ")
	return sum
}

// keepArtifact moves the archive of a new release to where it is kept.
func (e *Engine) keepArtifact(app, rel string, a *Artifact) error {
	kept := e.artifactFile(app, rel)
	if err := os.Rename(a.File, kept); err != nil {
		return fmt.Errorf("keep artifact of %s: %w", rel, err)
	}
	a.File = kept
	return nil
}

// keptArtifact returns the kept archive of release rel, whose tag
// records the checksum sum, or an error wrapping ErrArtifactGone.
func (e *Engine) keptArtifact(app, rel, sum string) (*Artifact, error) {
	file := e.artifactFile(app, rel)
	st, err := os.Stat(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &ArtifactGoneError{App: app, Release: rel, SHA256: sum}
	}
	if err != nil {
		return nil, fmt.Errorf("artifact of %s: %w", rel, err)
	}
	return &Artifact{File: file, SHA256: strings.TrimPrefix(sum, "sha256:"), Size: st.Size()}, nil
}

// removeArtifact forgets the archive of a release that no host keeps.
func (e *Engine) removeArtifact(app, rel string) {
	if err := os.Remove(e.artifactFile(app, rel)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		e.Log.Warn().Err(err).Str("app", app).Str("release", rel).Msg("cannot remove the artifact of a removed release")
	}
}

func shortSum(sum string) string {
	sum = strings.TrimPrefix(sum, "sha256:")
	if len(sum) > 12 {
		sum = sum[:12] + "…"
	}
	return "sha256 " + sum
}

// ScanStats is what an archive holds.
type ScanStats struct {
	Files int   // regular files, hard links counted as copies
	Bytes int64 // their sizes
}

// ScanArtifact reads the archive file (tar, or tar.gz by its magic bytes)
// and checks every entry, writing nothing. It refuses, as an
// *ArchiveError naming the entry: absolute paths, paths with `..` or
// not in clean form, entries below a symlink or a file, duplicates,
// symlinks whose target leaves the tree (resolved through the archive's
// other symlinks), hard links to anything but a regular file earlier in
// the archive, device files, fifos and other types, more than
// maxArchiveEntries entries, and files adding up to more than limit
// bytes (0: no limit).
func ScanArtifact(file string, limit int64) (ScanStats, error) {
	f, err := os.Open(file)
	if err != nil {
		return ScanStats{}, fmt.Errorf("read artifact: %w", err)
	}
	defer f.Close()
	return scanArchive(f, limit)
}

// scanArchive is ScanArtifact of a stream.
func scanArchive(r io.Reader, limit int64) (ScanStats, error) {
	s := newScanner(limit)
	err := walkArchive(r, nil, func(h *tar.Header, name string, _ io.Reader) error {
		return s.entry(h, name)
	})
	if err == nil {
		err = s.finish()
	}
	if err != nil {
		return ScanStats{}, err
	}
	return ScanStats{Files: s.files, Bytes: s.bytes}, nil
}

// walkArchive calls fn for every entry of the tar or tar.gz stream r with
// its name in clean form ("" for the root directory), after the checks
// that need no other entry. sum, when not nil, gets every byte of r.
func walkArchive(r io.Reader, sum hash.Hash, fn func(h *tar.Header, name string, body io.Reader) error) error {
	if sum != nil {
		r = io.TeeReader(r, sum)
	}
	br := bufio.NewReaderSize(r, 1<<16)
	var src io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return &ArchiveError{Rule: "it starts like gzip but is not: " + err.Error()}
		}
		defer zr.Close()
		src = zr
	}
	tr := tar.NewReader(src)
	n := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return &ArchiveError{Rule: "it is not a tar or tar.gz archive, or it is empty"}
			}
			break
		}
		if err != nil {
			return &ArchiveError{Rule: "it is not a valid tar or tar.gz archive: " + err.Error()}
		}
		n++
		if n > maxArchiveEntries {
			return &ArchiveError{Entry: h.Name, Rule: "the archive has more than " + strconv.Itoa(maxArchiveEntries) + " entries"}
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name, err := entryName(h.Name)
		if err != nil {
			return err
		}
		if err := fn(h, name, tr); err != nil {
			return err
		}
	}
	if sum != nil {
		// The checksum covers every byte sent, trailing padding included.
		if _, err := io.Copy(io.Discard, br); err != nil {
			return fmt.Errorf("read artifact: %w", err)
		}
	}
	return nil
}

// entryName puts an archive path in clean relative form: "./dist/a/" is
// "dist/a", "." and "./" are "" (the root).
func entryName(raw string) (string, error) {
	if strings.HasPrefix(raw, "/") {
		return "", &ArchiveError{Entry: raw, Rule: "absolute path; entries must be relative to the release (tar -C dist -czf - .)"}
	}
	if len(raw) > maxPathLen {
		return "", &ArchiveError{Entry: raw, Rule: "a path longer than " + strconv.Itoa(maxPathLen) + " bytes"}
	}
	name := strings.TrimSuffix(raw, "/")
	for name == "." || strings.HasPrefix(name, "./") {
		name = strings.TrimPrefix(strings.TrimPrefix(name, "."), "/")
	}
	if name == "" {
		return "", nil
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", &ArchiveError{Entry: raw, Rule: "a path with .. leaves the release"}
		}
	}
	if !fs.ValidPath(name) || strings.ContainsRune(name, 0) {
		return "", &ArchiveError{Entry: raw, Rule: "not a clean relative path"}
	}
	return name, nil
}

// scanner checks the entries of one archive against each other.
type scanner struct {
	limit    int64
	kinds    map[string]byte   // path → tar type; implicit parents are TypeDir
	symlinks map[string]string // path → target
	sizes    map[string]int64  // regular files
	files    int
	bytes    int64
	names    int64 // bytes of the entries' paths
	lookups  int64 // bytes of the paths resolve looked up
	// maxLookups bounds lookups: maxLookupBytes, lower in tests.
	maxLookups int64
}

func newScanner(limit int64) *scanner {
	return &scanner{limit: limit, kinds: map[string]byte{}, symlinks: map[string]string{}, sizes: map[string]int64{}, maxLookups: maxLookupBytes}
}

func (s *scanner) entry(h *tar.Header, name string) error {
	if name == "" {
		if h.Typeflag != tar.TypeDir {
			return &ArchiveError{Entry: h.Name, Rule: "the root of the archive must be a directory"}
		}
		return nil
	}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink:
	case tar.TypeChar, tar.TypeBlock:
		return &ArchiveError{Entry: h.Name, Rule: "device files are not allowed in a release"}
	case tar.TypeFifo:
		return &ArchiveError{Entry: h.Name, Rule: "fifos are not allowed in a release"}
	default:
		return &ArchiveError{Entry: h.Name, Rule: fmt.Sprintf("entries of type %q are not allowed; a release holds files, directories and symlinks", h.Typeflag)}
	}
	// Every parent must be a directory: nothing is written through a
	// symlink or below a file. A parent known as a directory was checked
	// with its own parents already.
parents:
	for d := path.Dir(name); d != "."; d = path.Dir(d) {
		switch k, ok := s.kinds[d]; {
		case !ok:
			s.kinds[d] = tar.TypeDir
		case k == tar.TypeDir:
			break parents
		case k == tar.TypeSymlink:
			return &ArchiveError{Entry: h.Name, Rule: "its path goes through the symlink " + d}
		case k != tar.TypeDir:
			return &ArchiveError{Entry: h.Name, Rule: "its parent " + d + " is a file"}
		}
	}
	if k, ok := s.kinds[name]; ok && !(k == tar.TypeDir && h.Typeflag == tar.TypeDir) {
		return &ArchiveError{Entry: h.Name, Rule: "the archive has this path twice"}
	}
	s.kinds[name] = h.Typeflag
	if s.names += int64(len(name)); s.names > maxNameBytes {
		return &ArchiveError{Entry: h.Name, Rule: "the archive's paths add up to more than " + exactBytes(maxNameBytes)}
	}
	// Parents an archive leaves implicit are directories to create too.
	if len(s.kinds) > maxArchiveEntries {
		return &ArchiveError{Entry: h.Name, Rule: "the archive has more than " + strconv.Itoa(maxArchiveEntries) + " paths, its implicit directories included"}
	}
	switch h.Typeflag {
	case tar.TypeSymlink:
		if h.Linkname == "" {
			return &ArchiveError{Entry: h.Name, Rule: "a symlink with an empty target"}
		}
		if len(h.Linkname) > maxPathLen {
			return &ArchiveError{Entry: h.Name, Rule: "a symlink target longer than " + strconv.Itoa(maxPathLen) + " bytes"}
		}
		if strings.HasPrefix(h.Linkname, "/") {
			return &ArchiveError{Entry: h.Name, Rule: "a symlink to the absolute path " + textclean.Line(h.Linkname, 100) + " points out of the release"}
		}
		s.symlinks[name] = h.Linkname
	case tar.TypeLink:
		target, err := entryName(h.Linkname)
		if err != nil || target == "" || s.kinds[target] != tar.TypeReg {
			return &ArchiveError{Entry: h.Name, Rule: "a hard link must point to a regular file earlier in the archive, not to " + textclean.Line(h.Linkname, 100)}
		}
		s.sizes[name] = s.sizes[target]
		return s.add(h, s.sizes[target])
	case tar.TypeReg:
		s.sizes[name] = h.Size
		return s.add(h, h.Size)
	}
	return nil
}

func (s *scanner) add(h *tar.Header, size int64) error {
	s.files++
	s.bytes += size
	if s.limit > 0 && s.bytes > s.limit {
		return &ArchiveError{Entry: h.Name, Rule: fmt.Sprintf("the archive's files add up to more than max_release_size (%s) here", exactBytes(s.limit))}
	}
	return nil
}

// finish checks every symlink once all are known: a target is resolved
// through the archive's other symlinks, and must never go above the root.
func (s *scanner) finish() error {
	for name, target := range s.symlinks {
		var dir []string
		if d := path.Dir(name); d != "." {
			dir = strings.Split(d, "/")
		}
		follows := 0
		_, ok := s.resolve(dir, target, &follows)
		if s.lookups > s.maxLookups {
			return &ArchiveError{Entry: name, Rule: "the archive's symlinks are too many and too deep to check"}
		}
		if !ok {
			return &ArchiveError{Entry: name, Rule: "the symlink to " + textclean.Line(target, 100) + " points out of the release (or into a loop of symlinks)"}
		}
	}
	return nil
}

// resolve follows target from the directory dir (path components, none
// for the root) as the kernel would, through the archive's symlinks, and
// returns where it leads; ok is false if it goes above the root at any
// point, or through more than maxSymlinkFollows symlinks in all (counted
// in *follows, as the kernel counts them for one lookup: a bound on the
// depth alone lets a few symlinks that each name the next many times
// take forever).
func (s *scanner) resolve(dir []string, target string, follows *int) (_ []string, ok bool) {
	if strings.HasPrefix(target, "/") {
		return nil, false
	}
	stack := slices.Clone(dir)
	for _, c := range strings.Split(target, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) == 0 {
				return nil, false
			}
			stack = stack[:len(stack)-1]
			continue
		}
		stack = append(stack, c)
		key := strings.Join(stack, "/")
		if s.lookups += int64(len(key)); s.lookups > s.maxLookups {
			return nil, false
		}
		if t, isLink := s.symlinks[key]; isLink {
			if *follows++; *follows > maxSymlinkFollows {
				return nil, false
			}
			if stack, ok = s.resolve(stack[:len(stack)-1], t, follows); !ok {
				return nil, false
			}
		}
	}
	return stack, true
}

// ExtractArtifact writes the tree of the archive a into dest, which must
// not exist yet, and returns its manifest (see Manifest; prev and stamp
// as for ExportDir). The archive is scanned first (ScanArtifact, with
// limit), so a refused one writes nothing; its checksum must still be
// a.SHA256. Every write goes through an os.Root at dest.
func ExtractArtifact(ctx context.Context, a *Artifact, dest string, prev *Manifest, stamp, limit int64) (*Manifest, ExportStats, error) {
	var st ExportStats
	if _, err := ScanArtifact(a.File, limit); err != nil {
		return nil, st, err
	}
	f, err := os.Open(a.File)
	if err != nil {
		return nil, st, fmt.Errorf("read artifact: %w", err)
	}
	defer f.Close()
	root, err := createExportRoot(dest)
	if err != nil {
		return nil, st, err
	}
	defer root.Close()
	m := &Manifest{Files: make(map[string]ManifestEntry)}
	s := newScanner(limit)
	sum := sha256.New()
	var mtimes []string // regular files, whose mtime is set once all are written
	err = walkArchive(f, sum, func(h *tar.Header, name string, body io.Reader) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		// The same checks again, entry by entry, as it is written.
		if err := s.entry(h, name); err != nil {
			return err
		}
		if name == "" {
			return nil
		}
		if d := path.Dir(name); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("create %s: %w", d, err)
			}
		}
		var e ManifestEntry
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.Mkdir(name, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("create %s: %w", name, err)
			}
			return nil
		case tar.TypeSymlink:
			if err := root.Symlink(h.Linkname, name); err != nil {
				return fmt.Errorf("create symlink %s: %w", name, err)
			}
			id := newObjectHash("", int64(len(h.Linkname)))
			io.WriteString(id, h.Linkname)
			e = ManifestEntry{Mode: "120000", OID: hex.EncodeToString(id.Sum(nil)), Size: int64(len(h.Linkname))}
			st.Files++ // as a git export counts them
		case tar.TypeReg, tar.TypeLink:
			mode, gitMode := fs.FileMode(0o644), "100644"
			src := body
			size := h.Size
			if h.Typeflag == tar.TypeLink {
				// A hard link becomes a copy: every path of a release is
				// its own file, as in a git export.
				target, _ := entryName(h.Linkname)
				tf, err := root.Open(target)
				if err != nil {
					return fmt.Errorf("read %s: %w", target, err)
				}
				defer tf.Close()
				src, size = tf, m.Files[target].Size
				if m.Files[target].Mode == "100755" {
					mode, gitMode = 0o755, "100755"
				}
			} else if h.Mode&0o111 != 0 {
				mode, gitMode = 0o755, "100755"
			}
			out, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
			if err != nil {
				return fmt.Errorf("create %s: %w", name, err)
			}
			id := newObjectHash("", size)
			n, err := io.Copy(io.MultiWriter(out, id), io.LimitReader(src, size))
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err == nil && n != size {
				err = io.ErrUnexpectedEOF
			}
			if err != nil {
				return fmt.Errorf("write %s: %w", name, err)
			}
			if err := root.Chmod(name, mode); err != nil {
				return fmt.Errorf("set mode of %s: %w", name, err)
			}
			st.Files++
			st.Bytes += n
			e = ManifestEntry{Mode: gitMode, OID: hex.EncodeToString(id.Sum(nil)), Size: n}
			mtimes = append(mtimes, name)
		}
		e.MTime = stamp
		if stamp == 0 {
			e.MTime = h.ModTime.Unix()
		}
		if p, ok := prev.entry(name); ok {
			if p.OID == e.OID && p.Mode == e.Mode {
				e.MTime = p.MTime
			} else if p.MTime == e.MTime {
				e.MTime++
			}
		}
		m.Files[name] = e
		return nil
	})
	if err == nil {
		err = s.finish()
	}
	if err == nil && hex.EncodeToString(sum.Sum(nil)) != a.SHA256 {
		err = fmt.Errorf("the artifact %s changed since it was received: its checksum is now sha256 %s", a.File, hex.EncodeToString(sum.Sum(nil)))
	}
	for _, name := range mtimes {
		if err != nil {
			break
		}
		t := time.Unix(m.Files[name].MTime, 0)
		if cerr := root.Chtimes(name, t, t); cerr != nil {
			err = fmt.Errorf("set mtime of %s: %w", name, cerr)
		}
	}
	if err != nil {
		root.Close()
		os.RemoveAll(dest)
		return nil, st, err
	}
	return m, st, nil
}
