//go:build unix

package release

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestProportionalUploadsMatchGitArchive exports the commits of
// exportSteps one after the other, as the engine does, and uploads each
// to two hosts of every transport: one that runs the release before, and
// one that got only every third release, so that its release is not the
// one the export started from. Each upload must send only the changes,
// give a release that is exactly git archive of its commit, hard-link
// what did not change, and leave the release it started from untouched.
func TestProportionalUploadsMatchGitArchive(t *testing.T) {
	needRsync(t)
	bare, step := scriptRepo(t)
	commits := make([]string, len(exportSteps))
	for i, tc := range exportSteps {
		commits[i] = step(tc.script)
	}
	for _, tr := range hostTransports {
		t.Run(tr.name, func(t *testing.T) {
			ctx := context.Background()
			next, nextDir := tr.make(t, "every release's -dir")
			behind, behindDir := tr.make(t, "every third")
			s := exportStore{dir: filepath.Join(t.TempDir(), "exports")}
			manifests := map[string]*Manifest{}
			prevRel, behindRel := "", ""
			for i, tc := range exportSteps {
				rel := ReleaseName(i + 1)
				dir, m, _, err := s.export(ctx, bare, commits[i], tc.subdir, rel, prevRel, manifests[prevRel], int64(1_800_000_000+i), 0)
				if err != nil {
					t.Fatalf("%s: export: %v", tc.name, err)
				}
				if m.Dirs, err = treeDirs(dir); err != nil {
					t.Fatal(err)
				}
				m.Exact = true
				uploadChanges(t, tc.name, next, nextDir, dir, rel, prevRel, manifests[prevRel], m)
				compareWithArchive(t, tc.name, filepath.Join(nextDir, "releases", rel), bare, commits[i], tc.subdir)
				if i%3 == 0 {
					uploadChanges(t, tc.name+" (every third)", behind, behindDir, dir, rel, behindRel, manifests[behindRel], m)
					compareWithArchive(t, tc.name+" (every third)", filepath.Join(behindDir, "releases", rel), bare, commits[i], tc.subdir)
					behindRel = rel
				}
				manifests[rel], prevRel = m, rel
			}
		})
	}
}

// uploadChanges uploads src as rel to h, which runs base (described by
// bm), sending only what Changes lists, and checks that it did.
func uploadChanges(t *testing.T, name string, h Host, hostDir, src, rel, base string, bm, m *Manifest) {
	t.Helper()
	var changed []string
	var before map[string]string
	if base != "" {
		var ok bool
		if changed, ok = Changes(bm, m); !ok {
			t.Fatalf("%s: no proportional upload from %s", name, base)
		}
		before = snapshot(t, filepath.Join(hostDir, "releases", base))
	}
	st, err := h.Upload(context.Background(), src, rel, base, changed)
	if err != nil {
		t.Fatalf("%s: upload: %v", name, err)
	}
	if base == "" {
		return
	}
	if st.From != base {
		t.Errorf("%s: upload from %q, want from %s", name, st.From, base)
	}
	if files := countFiles(changed, m); st.Files > files {
		t.Errorf("%s: %d files sent, %d changed", name, st.Files, files)
	}
	if after := snapshot(t, filepath.Join(hostDir, "releases", base)); !mapsEqual(before, after) {
		t.Errorf("%s: the upload changed %s, the release it started from", name, base)
	}
	// What did not change is the same inode as in base.
	for p, e := range m.Files {
		if b, ok := bm.Files[p]; !ok || b != e || slices.Contains(changed, p) {
			continue
		}
		a, err1 := os.Lstat(filepath.Join(hostDir, "releases", base, p))
		n, err2 := os.Lstat(filepath.Join(hostDir, "releases", rel, p))
		if err1 != nil || err2 != nil || !os.SameFile(a, n) {
			t.Errorf("%s: unchanged %s is not a hard link to %s's (%v, %v)", name, p, base, err1, err2)
		}
	}
}

func countFiles(paths []string, m *Manifest) int {
	n := 0
	for _, p := range paths {
		if e, ok := m.Files[p]; ok && e.Mode != "120000" {
			n++
		}
	}
	return n
}

// snapshot is treeListing with the mtime of every file and symlink.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := treeListing(t, dir)
	for p, v := range out {
		if fi, err := os.Lstat(filepath.Join(dir, p)); err == nil && !fi.IsDir() {
			out[p] = fmt.Sprintf("%s mtime %d", v, fi.ModTime().UnixNano())
		}
	}
	return out
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestProportionalUploadFallsBack: a host that lacks the release to start
// from, or holds an interrupted upload, gets the whole tree compared, and
// the release is still exact.
func TestProportionalUploadFallsBack(t *testing.T) {
	needRsync(t)
	for _, tr := range hostTransports {
		t.Run(tr.name, func(t *testing.T) {
			ctx := context.Background()
			h, dir := tr.make(t, "app")
			v1, v2 := t.TempDir(), t.TempDir()
			writeTree(t, v1, map[string]string{"same.txt": "same", "changed.txt": "old", "dir/gone.txt": "x"})
			writeTree(t, v2, map[string]string{"same.txt": "same", "changed.txt": "new", "added.txt": "+"})
			// As Export gives them: what changed has another mtime.
			touch(t, v1, 1_800_000_000, "same.txt", "changed.txt", "dir/gone.txt")
			touch(t, v2, 1_800_000_000, "same.txt")
			touch(t, v2, 1_800_000_001, "changed.txt", "added.txt")
			m1, m2 := dirManifest(t, v1), dirManifest(t, v2)
			changed, ok := Changes(m1, m2)
			if !ok || strings.Join(changed, " ") != "added.txt changed.txt dir" {
				t.Fatalf("Changes = %q, %v; want added.txt changed.txt dir", changed, ok)
			}
			if _, err := h.Upload(ctx, v1, "v1", "", nil); err != nil {
				t.Fatal(err)
			}
			rels := filepath.Join(dir, "releases")

			// An interrupted proportional upload of v2: a link copy of v1,
			// partly updated.
			if out, err := exec.Command("cp", "-al", filepath.Join(rels, "v1"), filepath.Join(rels, ".v2.partial")).CombinedOutput(); err != nil {
				t.Fatalf("cp -al: %v %s", err, out)
			}
			writeTree(t, filepath.Join(rels, ".v2.partial"), map[string]string{"stale": "x"})
			before := snapshot(t, filepath.Join(rels, "v1"))
			st, err := h.Upload(ctx, v2, "v3", "v1", changed)
			if err != nil {
				t.Fatal(err)
			}
			if st.From != "" {
				t.Errorf("upload over an interrupted one said from %q, want a full compare", st.From)
			}
			if got, want := treeListing(t, filepath.Join(rels, "v3")), treeListing(t, v2); !mapsEqual(got, want) {
				t.Errorf("resumed upload gave %v, want %v", got, want)
			}
			if after := snapshot(t, filepath.Join(rels, "v1")); !mapsEqual(before, after) {
				t.Errorf("the resumed upload changed v1: %v, was %v", after, before)
			}
			if ents, _ := os.ReadDir(rels); len(ents) != 2 {
				t.Errorf("releases/ holds %d entries, want v1 v3", len(ents))
			}

			// The release to start from is not there.
			st, err = h.Upload(ctx, v2, "v4", "v2", changed)
			if err != nil {
				t.Fatal(err)
			}
			if st.From != "" {
				t.Errorf("upload from a release the host lacks said from %q, want a full compare", st.From)
			}
			if got, want := treeListing(t, filepath.Join(rels, "v4")), treeListing(t, v2); !mapsEqual(got, want) {
				t.Errorf("upload gave %v, want %v", got, want)
			}
		})
	}
}

func touch(t *testing.T, dir string, mtime int64, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.Chtimes(filepath.Join(dir, n), time.Unix(mtime, 0), time.Unix(mtime, 0)); err != nil {
			t.Fatal(err)
		}
	}
}

// dirManifest describes dir as an exact manifest, the content standing
// for its object id.
func dirManifest(t *testing.T, dir string) *Manifest {
	t.Helper()
	m := &Manifest{Files: map[string]ManifestEntry{}, Exact: true}
	var err error
	if m.Dirs, err = treeDirs(dir); err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		fi, _ := de.Info()
		data, _ := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		m.Files[filepath.ToSlash(rel)] = ManifestEntry{Mode: "100644", OID: string(data), Size: fi.Size(), MTime: fi.ModTime().Unix()}
		return nil
	})
	return m
}

func TestChanges(t *testing.T) {
	f := func(oid string) ManifestEntry { return ManifestEntry{Mode: "100644", OID: oid, Size: 1, MTime: 1} }
	base := &Manifest{Exact: true, Dirs: []string{"a", "a/b", "d", "keep"}, Files: map[string]ManifestEntry{
		"a/b/x": f("x"), "d/y": f("y"), "keep/k": f("k"), "file": f("f"), "link": {Mode: "120000", OID: "t", MTime: 1},
	}}
	next := &Manifest{Exact: true, Dirs: []string{"d", "file", "keep"}, Files: map[string]ManifestEntry{
		"a": f("a"), "d/y": f("y2"), "keep/k": f("k"), "file/z": f("z"), "link": {Mode: "120000", OID: "t", MTime: 2},
	}}
	got, ok := Changes(base, next)
	// a, a directory, becomes a file (its contents go with it); d/y
	// changes; file becomes a directory; the symlink's mtime is ignored.
	if want := "a d d/y file file/z"; !ok || strings.Join(got, " ") != want {
		t.Errorf("Changes = %q, %v; want %s", got, ok, want)
	}
	if _, ok := Changes(base, &Manifest{Files: next.Files, Dirs: next.Dirs}); ok {
		t.Error("Changes to a tree not known exactly, want none")
	}
	if _, ok := Changes(nil, next); ok {
		t.Error("Changes from no manifest, want none")
	}
}

// TestProportionalUploadNeverWritesThroughLinks: a file whose mode alone
// changed, its bytes and mtime kept, is a new inode in the new release;
// the one the running release holds keeps its mode.
func TestProportionalUploadNeverWritesThroughLinks(t *testing.T) {
	needRsync(t)
	for _, tr := range hostTransports {
		t.Run(tr.name, func(t *testing.T) {
			h, dir := tr.make(t, "app")
			v1, v2 := t.TempDir(), t.TempDir()
			writeTree(t, v1, map[string]string{"run": "#!/bin/sh\n"})
			writeTree(t, v2, map[string]string{"run": "#!/bin/sh\n"})
			if err := os.Chmod(filepath.Join(v2, "run"), 0o755); err != nil {
				t.Fatal(err)
			}
			touch(t, v1, 1_800_000_000, "run")
			touch(t, v2, 1_800_000_000, "run")
			m1, m2 := dirManifest(t, v1), dirManifest(t, v2)
			e := m2.Files["run"]
			e.Mode = "100755"
			m2.Files["run"] = e
			changed, ok := Changes(m1, m2)
			if !ok || strings.Join(changed, " ") != "run" {
				t.Fatalf("Changes = %q, %v; want run", changed, ok)
			}
			ctx := context.Background()
			if _, err := h.Upload(ctx, v1, "v1", "", nil); err != nil {
				t.Fatal(err)
			}
			if st, err := h.Upload(ctx, v2, "v2", "v1", changed); err != nil || st.From != "v1" {
				t.Fatalf("Upload = %+v, %v; want from v1", st, err)
			}
			for rel, want := range map[string]fs.FileMode{"v1": 0o644, "v2": 0o755} {
				if fi, err := os.Stat(filepath.Join(dir, "releases", rel, "run")); err != nil || fi.Mode().Perm() != want {
					t.Errorf("%s/run: %v, %v; want mode %v", rel, fi.Mode(), err, want)
				}
			}
		})
	}
}
