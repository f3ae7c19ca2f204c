//go:build unix

package release

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/slipwayhq/slipway/release/host"
	"github.com/slipwayhq/slipway/release/host/hosttest"
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
				rel := host.ReleaseName(i + 1)
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
func uploadChanges(t *testing.T, name string, h host.Host, hostDir, src, rel, base string, bm, m *Manifest) {
	t.Helper()
	var changed []string
	var before map[string]string
	if base != "" {
		var ok bool
		if changed, ok = Changes(bm, m); !ok {
			t.Fatalf("%s: no proportional upload from %s", name, base)
		}
		before = hosttest.Snapshot(t, filepath.Join(hostDir, "releases", base))
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
	if after := hosttest.Snapshot(t, filepath.Join(hostDir, "releases", base)); !maps.Equal(before, after) {
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
	// A mode alone, bytes and mtime kept, is a change: the new release
	// needs its own inode.
	modeOnly := &Manifest{Exact: true, Dirs: base.Dirs, Files: maps.Clone(base.Files)}
	modeOnly.Files["file"] = ManifestEntry{Mode: "100755", OID: "f", Size: 1, MTime: 1}
	if got, ok := Changes(base, modeOnly); !ok || strings.Join(got, " ") != "file" {
		t.Errorf("Changes of a mode alone = %q, %v; want file", got, ok)
	}
	if _, ok := Changes(base, &Manifest{Files: next.Files, Dirs: next.Dirs}); ok {
		t.Error("Changes to a tree not known exactly, want none")
	}
	if _, ok := Changes(nil, next); ok {
		t.Error("Changes from no manifest, want none")
	}
}
