package release

import (
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
)

// An upload costs what changed when the host runs a release whose tree
// Slipway knows exactly (Manifest.Exact): Changes lists the paths that
// differ, and the transport makes the new release a hard-link copy of
// that one (cp -al) in which rsync replaces only them
// (rsync.ProportionalArgs). The copy is made in releases/.vN.partial and
// renamed into place as in a full upload. Whenever the host does not hold
// that release, or holds an interrupted upload, the upload compares the
// whole tree instead.

// maxChanges bounds a proportional upload: beyond it most of the tree
// differs and comparing it all costs no more.
func maxChanges(files int) int { return max(1000, files/2) }

// treeDirs lists the directories under dir, slash-separated and sorted.
func treeDirs(dir string) ([]string, error) {
	dirs := []string{}
	err := filepath.WalkDir(dir, func(full string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.IsDir() && full != dir {
			dirs = append(dirs, filepath.ToSlash(full[len(dir)+1:]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list directories of the release: %w", err)
	}
	sort.Strings(dirs)
	return dirs, nil
}

// Changes lists what an upload of next must send to a host that holds the
// exact tree base: every path whose type, mode, content or mtime differs
// (directories by type only), and every path base has and next does not,
// but none beneath a path that is not a directory in next (deleting or
// replacing that path takes care of them); plus the directories above
// them, whose mtimes change. ok is false when base or next is not exact,
// or when so much differs that a full compare is as cheap.
func Changes(base, next *Manifest) ([]string, bool) {
	if base == nil || next == nil || !base.Exact || !next.Exact {
		return nil, false
	}
	const isDir = "dir"
	kind := func(m *Manifest, dirs map[string]bool, p string) (ManifestEntry, bool) {
		if e, ok := m.Files[p]; ok {
			return e, true
		}
		if dirs[p] {
			return ManifestEntry{Mode: isDir}, true
		}
		return ManifestEntry{}, false
	}
	baseDirs, nextDirs := make(map[string]bool, len(base.Dirs)), make(map[string]bool, len(next.Dirs))
	for _, d := range base.Dirs {
		baseDirs[d] = true
	}
	for _, d := range next.Dirs {
		nextDirs[d] = true
	}
	// under reports whether a proper ancestor of p is not a directory in
	// next: then p is gone with it.
	under := func(p string) bool {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if !nextDirs[d] {
				return true
			}
		}
		return false
	}
	set := map[string]bool{}
	differs := func(p string) {
		b, inBase := kind(base, baseDirs, p)
		n, inNext := kind(next, nextDirs, p)
		// A symlink's mtime is not compared: rsync would set it on the
		// inode the running release shares.
		same := inBase == inNext && b.Mode == n.Mode && (n.Mode == isDir || b.OID == n.OID &&
			(n.Mode == "120000" || b.Size == n.Size && b.MTime == n.MTime))
		if same || under(p) {
			return
		}
		set[p] = true
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			set[d] = true
		}
	}
	for p := range next.Files {
		differs(p)
	}
	for p := range base.Files {
		if _, ok := next.Files[p]; !ok {
			differs(p)
		}
	}
	for _, d := range next.Dirs {
		differs(d)
	}
	for _, d := range base.Dirs {
		if !nextDirs[d] {
			differs(d)
		}
	}
	if len(set) > maxChanges(len(next.Files)) {
		return nil, false
	}
	paths := make([]string, 0, len(set))
	for p := range set {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths, true
}
