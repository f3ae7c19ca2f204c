package release

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/slipwayhq/slipway/internal/durable"
	"github.com/slipwayhq/slipway/internal/textclean"
	"github.com/slipwayhq/slipway/release/host"
)

// An export costs what changed, not what the tree holds. Slipway keeps the
// exported tree of the last release of each app and environment in
// data_dir/exports/APP/ENV/vN, with its manifest in vN.json. The next
// export takes that tree over (a rename), checks it against its manifest,
// removes the paths git diff-tree names between the two commits, and
// writes them anew, extracted with git archive COMMIT -- PATHS so that
// attributes apply exactly as in a full export. The result is the same
// tree, byte for byte, as git archive of the commit.
//
// Nothing else holds the kept tree's inodes: uploads copy it to the hosts
// (rsync --link-dest links within a host's releases, never to the source),
// and a build works on a copy. So it may be changed in place once it has
// been moved to the new export's partial directory; an export cut short
// leaves only that partial directory, which the next one removes before a
// full git archive.
//
// A full git archive is made instead when there is no kept tree, when it
// does not match its manifest (sizes, modes, mtimes, symlink targets, no
// extra files), when the subdir or any .gitattributes or the repository's
// info/attributes changed, or when most of the tree changed anyway.

// keptExport is what vN.json records about a kept tree.
type keptExport struct {
	Manifest
	Subdir string `json:"subdir"`
	// Attributes is the SHA-256 of the repository's info/attributes, ""
	// when there is none: it applies to every export as .gitattributes do.
	Attributes string   `json:"attributes"`
	Submodules []string `json:"submodules,omitempty"`
}

// exportStore holds the kept trees of one app and environment.
type exportStore struct {
	dir string
}

func (e *Engine) exports(app, env string) exportStore {
	return exportStore{dir: filepath.Join(e.DataDir, "exports", app, env)}
}

// export writes the tree of the release into the app's kept exports and
// returns the directory to build in and upload from. With a build
// command, that is a copy in staging, since a build may change files in
// place and the kept tree must stay what git archive made.
func (d *deploy) export(ctx context.Context, staging, base string, prev *Manifest, stamp int64) (string, *Manifest, ExportStats, error) {
	req := d.req
	s := d.e.exports(req.App.Name, req.Env.Name)
	dir, m, st, err := s.export(ctx, req.Repo, req.Commit, req.Env.Subdir, d.rel, base, prev, stamp, req.MaxReleaseSize)
	if err != nil {
		return "", nil, st, err
	}
	if st.From != "" {
		d.log.Info().Str("step", "export").Str("from", st.From).Int("changed", st.Changed).Msg("exported from a kept tree")
	} else if st.Full != "" {
		d.log.Info().Str("step", "export").Str("reason", st.Full).Msg("full export")
	}
	if req.Env.Hooks.Build == "" {
		return dir, m, st, nil
	}
	if err := copyTree(dir, staging); err != nil {
		return "", nil, st, fmt.Errorf("copy export for the build: %w", err)
	}
	return staging, m, st, nil
}

// summary is the push output of an export, after "export".
func (st ExportStats) summary(took time.Duration) string {
	if st.From != "" {
		return fmt.Sprintf("ok   %d changed of %s, %s  %s (from %s)", st.Changed, count(st.Files, "file"), humanBytes(st.Bytes), seconds(took), st.From)
	}
	line := fmt.Sprintf("ok   %s, %s  %s", count(st.Files, "file"), humanBytes(st.Bytes), seconds(took))
	if st.Full != "" {
		line += " (full: " + st.Full + ")"
	}
	return line
}

// export makes the tree of commit (its subdir) as release rel and returns
// its directory. prefer names the release to start from when it is kept
// (the one the hosts run, whose manifest is prev); otherwise the newest
// kept tree is used. Only rel is kept afterwards.
func (s exportStore) export(ctx context.Context, repo, commit, subdir, rel, prefer string, prev *Manifest, stamp, limit int64) (string, *Manifest, ExportStats, error) {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return "", nil, ExportStats{}, fmt.Errorf("create exports directory: %w", err)
	}
	kept := s.clean()
	attrs, err := infoAttributes(repo)
	if err != nil {
		return "", nil, ExportStats{}, err
	}
	partial := filepath.Join(s.dir, "."+rel+".partial")
	if err := os.RemoveAll(partial); err != nil {
		return "", nil, ExportStats{}, fmt.Errorf("remove unfinished export: %w", err)
	}

	var m *Manifest
	var st ExportStats
	from, k, why := s.pick(kept, prefer)
	if k != nil {
		if why = k.usable(subdir, attrs); why != "" {
			why = from + "'s export is of another " + why
		}
	}
	if k != nil && why == "" {
		m, st, why, err = exportFrom(ctx, repo, commit, subdir, partial, filepath.Join(s.dir, from), k, prev, stamp, limit)
		var dmg damagedExport
		if errors.As(err, &dmg) {
			why, err = dmg.Error(), nil
		}
		if err != nil {
			os.RemoveAll(partial)
			return "", nil, st, err
		}
		if why != "" {
			if err := os.RemoveAll(partial); err != nil {
				return "", nil, st, fmt.Errorf("remove unusable export: %w", err)
			}
			why = from + " " + why
		} else {
			st.From = from
		}
	}
	if why != "" || k == nil {
		m, st, err = ExportDir(ctx, repo, commit, subdir, partial, prev, stamp, limit)
		if err != nil {
			os.RemoveAll(partial)
			return "", nil, st, err
		}
		st.Full = why
	}

	final := filepath.Join(s.dir, rel)
	os.Remove(final + ".json")
	if err := os.RemoveAll(final); err != nil {
		return "", nil, st, fmt.Errorf("replace kept export %s: %w", rel, err)
	}
	if err := os.Rename(partial, final); err != nil {
		return "", nil, st, fmt.Errorf("keep export: %w", err)
	}
	sort.Strings(st.Skipped)
	ke := keptExport{Manifest: *m, Subdir: subdir, Attributes: attrs, Submodules: st.Skipped}
	data, err := json.Marshal(&ke)
	if err != nil {
		return "", nil, st, err
	}
	if err := durable.WriteFile(final+".json", data, 0o644); err != nil {
		return "", nil, st, fmt.Errorf("keep export: %w", err)
	}
	entries, _ := os.ReadDir(s.dir)
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".json")
		if name != rel {
			os.RemoveAll(filepath.Join(s.dir, e.Name()))
		}
	}
	return final, m, st, nil
}

// clean removes what an interrupted export left and returns the kept
// trees: release names with both a directory and a manifest.
func (s exportStore) clean() map[string]bool {
	entries, _ := os.ReadDir(s.dir)
	dirs, manifests := map[string]bool{}, map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if _, ok := host.ParseRelease(name); ok && e.IsDir() {
			dirs[name] = true
		} else if r, ok := strings.CutSuffix(name, ".json"); ok && e.Type().IsRegular() {
			if _, ok := host.ParseRelease(r); ok {
				manifests[r] = true
				continue
			}
		}
		if !dirs[name] {
			os.RemoveAll(filepath.Join(s.dir, name))
		}
	}
	kept := map[string]bool{}
	for name := range dirs {
		if manifests[name] {
			kept[name] = true
		} else {
			os.RemoveAll(filepath.Join(s.dir, name))
		}
	}
	for name := range manifests {
		if !dirs[name] {
			os.Remove(filepath.Join(s.dir, name+".json"))
		}
	}
	return kept
}

// pick chooses the kept tree to start from and reads its manifest; when
// there is none it returns why ("" when nothing was ever kept).
func (s exportStore) pick(kept map[string]bool, prefer string) (string, *keptExport, string) {
	from := ""
	if kept[prefer] {
		from = prefer
	} else {
		best := 0
		for name := range kept {
			if n, _ := host.ParseRelease(name); n > best {
				best, from = n, name
			}
		}
	}
	if from == "" {
		return "", nil, ""
	}
	data, err := os.ReadFile(filepath.Join(s.dir, from+".json"))
	var k keptExport
	if err == nil {
		err = json.Unmarshal(data, &k)
	}
	if err != nil || k.Commit == "" || k.Files == nil {
		return from, nil, "the manifest of " + from + "'s export is unreadable"
	}
	return from, &k, ""
}

// usable says why k cannot be the base of an export of subdir, "" if it can.
func (k *keptExport) usable(subdir, attrs string) string {
	switch {
	case k.Subdir != subdir:
		return "subdir"
	case k.Attributes != attrs:
		return "info/attributes"
	}
	return ""
}

// infoAttributes returns the SHA-256 of repo's info/attributes, "" without one.
func infoAttributes(repo string) (string, error) {
	data, err := os.ReadFile(filepath.Join(repo, "info", "attributes"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read info/attributes: %w", err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// treeChange is one path of git diff-tree -r between two commits.
type treeChange struct {
	oldMode, newMode, newOID string
	status                   byte // A, D, M, T
}

// diffTree lists what changed between two commits, as paths relative to
// subdir (others are left out).
func diffTree(ctx context.Context, repo, from, to, subdir string) (map[string]treeChange, bool, error) {
	out, err := exec.CommandContext(ctx, "git", "-C", repo, "diff-tree", "-r", "-z", "--no-renames", "--no-commit-id", from, to).Output()
	if err != nil {
		return nil, false, fmt.Errorf("compare %s with %s: %w", short(from), short(to), gitErr(err))
	}
	changes := map[string]treeChange{}
	attrs := false
	recs := bytes.Split(out, []byte{0})
	for i := 0; i+1 < len(recs); i += 2 {
		f := strings.Fields(string(recs[i]))
		p := string(recs[i+1])
		if len(f) != 5 || !strings.HasPrefix(f[0], ":") || f[4] == "" {
			return nil, false, fmt.Errorf("compare %s with %s: unexpected line %q", short(from), short(to), recs[i])
		}
		if path.Base(p) == ".gitattributes" {
			attrs = true
		}
		if subdir != "" {
			var ok bool
			if p, ok = strings.CutPrefix(p, subdir+"/"); !ok {
				continue
			}
		}
		if !fs.ValidPath(p) {
			return nil, false, fmt.Errorf("compare %s with %s: path %q is not clean", short(from), short(to), p)
		}
		changes[p] = treeChange{oldMode: strings.TrimPrefix(f[0], ":"), newMode: f[1], newOID: f[3], status: f[4][0]}
	}
	return changes, attrs, nil
}

// maxPathArgs bounds the bytes of the paths an incremental export passes
// to git archive; Linux allows 2 MiB for all arguments and environment.
const maxPathArgs = 256 << 10

// exportFrom builds the tree of commit in dest from the kept tree baseDir
// (described by base) and the paths that changed since base.Commit. It
// returns why it could not (the caller then makes a full export, having
// removed dest) or an error.
func exportFrom(ctx context.Context, repo, commit, subdir, dest, baseDir string, base *keptExport, prev *Manifest, stamp, limit int64) (*Manifest, ExportStats, string, error) {
	var st ExportStats
	changes, attrs, err := diffTree(ctx, repo, base.Commit, commit, subdir)
	if err != nil {
		return nil, st, "cannot be compared: " + textclean.Line(err.Error(), 200), nil
	}
	if attrs {
		return nil, st, "has other .gitattributes", nil // they decide what each file exports to
	}
	if len(changes) > 1000 && len(changes) > len(base.Files)/2 {
		return nil, st, "differs in most files", nil
	}
	for p, c := range changes {
		// pruneDirs asks git about such directories one per line.
		if (c.status == 'D' || c.status == 'T') && strings.Contains(path.Dir(p), "\n") {
			return nil, st, "lost a directory whose name holds a newline", nil
		}
	}

	// Paths not to take from the base: changed ones, and those whose bytes
	// attributes rewrote (export-subst expands differently in each commit).
	skip := map[string]bool{}
	var write []string
	blobs := map[string]treeEntry{}
	submodules := map[string]bool{}
	for _, s := range base.Submodules {
		submodules[s] = true
	}
	for p, c := range changes {
		if c.oldMode == "160000" && c.newMode == "160000" {
			continue // another commit of a submodule: still an empty directory
		}
		skip[p] = true
		delete(submodules, p)
		if c.status == 'D' {
			continue
		}
		if c.newMode == "160000" {
			submodules[p] = true
		} else {
			blobs[p] = treeEntry{mode: c.newMode, oid: c.newOID}
		}
		write = append(write, p)
	}
	for p, e := range base.Files {
		if e.Altered && !skip[p] {
			skip[p] = true
			blobs[p] = treeEntry{mode: e.Mode} // no blob id: the bytes are re-read
			write = append(write, p)
		}
	}
	// The paths are arguments of git archive: stay far below ARG_MAX.
	argBytes := 0
	for _, p := range write {
		argBytes += len(subdir) + len(p) + 2
	}
	if argBytes > maxPathArgs {
		return nil, st, "differs in too many files", nil
	}
	if limit > 0 {
		var size int64
		for p, e := range base.Files {
			if !skip[p] {
				size += e.Size
			}
		}
		more, err := blobSizes(ctx, repo, changes)
		if err != nil {
			return nil, st, "", err
		}
		if size+more > limit {
			return nil, st, "would be over max_release_size", nil
		}
	}

	m := &Manifest{Commit: commit, Files: make(map[string]ManifestEntry, len(base.Files))}
	if err := adoptTree(baseDir, dest, base, prev, stamp, skip, m); err != nil {
		return nil, st, "", err
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return nil, st, "", err
	}
	defer root.Close()
	if err := pruneDirs(ctx, repo, commit, subdir, root, changes); err != nil {
		return nil, st, "", err
	}
	for _, e := range m.Files {
		st.Bytes += e.Size
	}
	if len(write) > 0 {
		sort.Strings(write)
		paths := write
		if subdir != "" {
			paths = make([]string, len(write))
			for i, p := range write {
				paths[i] = subdir + "/" + p
			}
		}
		x := &extractor{root: root, subdir: subdir, blobs: blobs, prev: prev, stamp: stamp, limit: limit, m: m, st: &st}
		if err := x.archive(ctx, repo, commit, paths); err != nil {
			var tooLarge *TooLargeError
			if errors.As(err, &tooLarge) {
				return nil, st, "would be over max_release_size", nil
			}
			return nil, st, "", err
		}
	}
	// A path changed when its exported bytes or mode did: an
	// export-subst file without placeholders, written again, did not.
	for p := range skip {
		b, was := base.Files[p]
		n, is := m.Files[p]
		if was != is || was && (b.OID != n.OID || b.Mode != n.Mode) {
			st.Changed++
		}
	}
	st.Files = len(m.Files)
	for s := range submodules {
		st.Skipped = append(st.Skipped, s)
	}
	return m, st, "", nil
}

// blobSizes adds up the sizes of the blobs changes add or modify.
func blobSizes(ctx context.Context, repo string, changes map[string]treeChange) (int64, error) {
	var in bytes.Buffer
	for _, c := range changes {
		if c.status != 'D' && c.newMode != "160000" {
			in.WriteString(c.newOID + "\n")
		}
	}
	if in.Len() == 0 {
		return 0, nil
	}
	cmd := exec.CommandContext(ctx, "git", "-C", repo, "cat-file", "--batch-check=%(objectsize)")
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("size changed files: %w", gitErr(err))
	}
	var total int64
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		n, err := strconv.ParseInt(strings.TrimSpace(sc.Text()), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("size changed files: unexpected line %q", sc.Text())
		}
		total += n
	}
	return total, nil
}

// adoptTree makes the kept tree baseDir the new export at dest: it moves
// it there, then checks every entry against base, removes the paths in
// skip, and gives each file the mtime it must have now. It returns a
// damagedExport when the tree does not match its manifest; the caller
// then removes dest. Either way the kept tree is gone from baseDir: an
// interrupted export leaves a partial directory, never a kept tree that
// differs from its manifest.
func adoptTree(baseDir, dest string, base *keptExport, prev *Manifest, stamp int64, skip map[string]bool, m *Manifest) error {
	if err := os.Rename(baseDir, dest); err != nil {
		return fmt.Errorf("take kept export: %w", err)
	}
	seen := 0
	damaged := ""
	var remove []string
	err := filepath.WalkDir(dest, func(full string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if full == dest {
			return nil
		}
		rel := filepath.ToSlash(full[len(dest)+1:])
		e, inManifest := base.Files[rel]
		if inManifest {
			seen++
		}
		if skip[rel] {
			// A directory that is a file now had everything in it
			// deleted, so skipped and counted too.
			remove = append(remove, full)
			return nil
		}
		fi, err := de.Info()
		if err != nil {
			return err
		}
		switch {
		case de.IsDir():
			if inManifest {
				damaged = rel + " is a directory"
				return fs.SkipAll
			}
			return nil
		case !inManifest:
			damaged = rel + " is not in its manifest"
			return fs.SkipAll
		case fi.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(full)
			if err != nil {
				return err
			}
			id := newObjectHash(base.Commit, int64(len(link)))
			io.WriteString(id, link)
			if e.Mode != "120000" || hex.EncodeToString(id.Sum(nil)) != e.OID {
				damaged = rel + " is not the symlink it was"
				return fs.SkipAll
			}
		case fi.Mode().IsRegular():
			perm := fs.FileMode(0o644)
			if e.Mode == "100755" {
				perm = 0o755
			}
			if fi.Mode().Perm() != perm || fi.Size() != e.Size || fi.ModTime().Unix() != e.MTime {
				damaged = rel + " changed since it was exported"
				return fs.SkipAll
			}
			// The kept mtime was given to these bytes at this path, so
			// it tells them apart from any other content there (see
			// Manifest), unless the release the hosts run has the same
			// bytes under another mtime, which rsync must see as equal.
			mtime := e.MTime
			if p, ok := prev.entry(rel); ok {
				if p.OID == e.OID && p.Mode == e.Mode {
					mtime = p.MTime
				} else if p.MTime == mtime {
					mtime = stamp
					if stamp == 0 || stamp == p.MTime {
						mtime = p.MTime + 1
					}
				}
			}
			if mtime != e.MTime {
				t := time.Unix(mtime, 0)
				if err := os.Chtimes(full, t, t); err != nil {
					return err
				}
				e.MTime = mtime
			}
		default:
			damaged = rel + " is not a file"
			return fs.SkipAll
		}
		m.Files[rel] = e
		return nil
	})
	if err != nil {
		return fmt.Errorf("read kept export: %w", err)
	}
	if damaged == "" && seen != len(base.Files) {
		damaged = fmt.Sprintf("has %d of its %d files", seen, len(base.Files))
	}
	if damaged != "" {
		return damagedExport(textclean.Line(damaged, 200))
	}
	// Last first: a directory is listed before what it holds.
	for i := len(remove) - 1; i >= 0; i-- {
		if err := os.Remove(remove[i]); err != nil {
			return damagedExport(textclean.Line(fmt.Sprintf("cannot remove %s: %v", remove[i][len(dest)+1:], err), 200))
		}
	}
	return nil
}

// damagedExport is a kept export that does not match its manifest. It is
// removed, and a full export made instead.
type damagedExport string

func (d damagedExport) Error() string { return "export is damaged: " + string(d) }

// pruneDirs removes the directories that deletions left empty and that
// commit no longer has (git archive writes a directory of the tree even
// when export-ignore leaves it empty).
func pruneDirs(ctx context.Context, repo, commit, subdir string, root *os.Root, changes map[string]treeChange) error {
	cand := map[string]bool{}
	for p, c := range changes {
		if c.status == 'D' || c.status == 'T' {
			for d := path.Dir(p); d != "."; d = path.Dir(d) {
				cand[d] = true
			}
		}
	}
	if len(cand) == 0 {
		return nil
	}
	dirs := make([]string, 0, len(cand))
	for d := range cand {
		dirs = append(dirs, d)
	}
	// Deepest first: a parent empties once its children are removed.
	sort.Slice(dirs, func(i, j int) bool {
		if a, b := strings.Count(dirs[i], "/"), strings.Count(dirs[j], "/"); a != b {
			return a > b
		}
		return dirs[i] < dirs[j]
	})
	prefix := ""
	if subdir != "" {
		prefix = subdir + "/"
	}
	var in bytes.Buffer
	for _, d := range dirs {
		in.WriteString(commit + ":" + prefix + d + "\n")
	}
	cmd := exec.CommandContext(ctx, "git", "-C", repo, "cat-file", "--batch-check=%(objecttype)")
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("look up directories of %s: %w", short(commit), gitErr(err))
	}
	types := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(types) != len(dirs) {
		return fmt.Errorf("look up directories of %s: %d answers for %d directories", short(commit), len(types), len(dirs))
	}
	for i, d := range dirs {
		if types[i] == "tree" {
			continue
		}
		if !emptyDir(root, d) {
			continue // not there, or holds what the commit has there now
		}
		if err := root.Remove(d); err != nil {
			return fmt.Errorf("remove directory %s: %w", textclean.Line(d, 100), err)
		}
	}
	return nil
}

// emptyDir reports whether name is a directory with nothing in it.
func emptyDir(root *os.Root, name string) bool {
	f, err := root.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.IsDir() {
		return false
	}
	names, err := f.Readdirnames(1)
	return len(names) == 0 && errors.Is(err, io.EOF)
}

// copyFile writes a new file at dst with src's bytes, perm and mtime.
func copyFile(src, dst string, perm fs.FileMode, mtime int64) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Chmod(dst, perm); err != nil {
		return err
	}
	t := time.Unix(mtime, 0)
	return os.Chtimes(dst, t, t)
}

// copyTree copies the tree src into dst, which must not exist: files with
// their modes and mtimes, symlinks as they are. Nothing in dst shares an
// inode with src.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(full string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, full)
		target := filepath.Join(dst, rel)
		fi, err := de.Info()
		if err != nil {
			return err
		}
		switch {
		case de.IsDir():
			if full == src {
				if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
					return err
				}
			}
			return os.Mkdir(target, 0o755)
		case fi.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(full)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case fi.Mode().IsRegular():
			return copyFile(full, target, fi.Mode().Perm(), fi.ModTime().Unix())
		}
		return fmt.Errorf("%s is not a file, directory or symlink", rel)
	})
}
